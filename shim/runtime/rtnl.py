"""Runtime adapter helper: rtnetlink (NETLINK_ROUTE) over a plain socket, for runtime/netlink.py.

The subset of pyroute2's IPRoute calls netlink.py makes (links, addresses, routes: add, set,
delete, dump), with the same call shapes, message accessors (`msg["index"]`,
`msg.get_attr("IFLA_IFNAME")`) and NetlinkError. Why not pyroute2's IPRoute: importing it loads
~100 modules (its request filters, every link kind's plugin, an asyncio netlink core and the
`unittest.mock` its mock engine imports): 4.5 MiB of the idle daemon's RSS (issue 17). These few
messages, packed with struct as rtnetlink(7) lays them out, cost a few KiB.

Blocking: every call is one request and its answer (an ack, or a dump to NLMSG_DONE) on the
calling thread's socket; the socket works in the namespace it was opened in.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from typing import Any

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26

IFF_UP = 0x1
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_NLA = struct.Struct("=HH")  # rtattr: len, type
_ERR = struct.Struct("=i")  # nlmsgerr.error (negative errno), then the request's header
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER

# The attributes read back, by message kind: type -> (name, decoder). Others are skipped.
_STR, _IP, _U32, _NEST = "str", "ip", "u32", "nest"
_LINK_ATTRS = {
    3: ("IFLA_IFNAME", _STR),
    10: ("IFLA_MASTER", _U32),
    18: ("IFLA_LINKINFO", _NEST),
    20: ("IFLA_IFALIAS", _STR),
}
_LINKINFO_ATTRS = {1: ("IFLA_INFO_KIND", _STR)}
_ADDR_ATTRS = {1: ("IFA_ADDRESS", _IP), 2: ("IFA_LOCAL", _IP), 3: ("IFA_LABEL", _STR)}
_ROUTE_ATTRS = {1: ("RTA_DST", _IP), 4: ("RTA_OIF", _U32), 5: ("RTA_GATEWAY", _IP), 15: ("RTA_TABLE", _U32)}

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA, IFLA_BRPORT_MODE = 4, 5, 4
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15


class NetlinkError(Exception):
    """The kernel's answer to a request it refused; `code` is the errno (pyroute2's shape:
    str() is `(code, 'message')`)."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(code, msg or os.strerror(code))
        self.code = code


class Msg:
    """A decoded message: its fixed header's fields by name, its attributes by rtnetlink name."""

    def __init__(self, fields: dict[str, int], attrs: dict[str, Any]) -> None:
        self._fields = fields
        self._attrs = attrs

    def __getitem__(self, key: str) -> int:
        return self._fields[key]

    def get_attr(self, name: str) -> Any:
        return self._attrs.get(name)


def _nla(kind: int, payload: bytes) -> bytes:
    n = _NLA.size + len(payload)
    return _NLA.pack(n, kind) + payload + b"\0" * (-n % 4)


def _asciiz(text: str) -> bytes:
    return text.encode() + b"\0"


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _decode_attrs(data: bytes | memoryview, table: dict[int, tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pos = 0
    while pos + _NLA.size <= len(data):
        n, kind = _NLA.unpack_from(data, pos)
        if n < _NLA.size:
            break
        spec = table.get(kind & NLA_TYPE_MASK)
        if spec is not None and spec[0] not in out:
            payload = bytes(data[pos + _NLA.size : pos + n])
            name, how = spec
            if how == _STR:
                out[name] = payload.split(b"\0", 1)[0].decode(errors="replace")
            elif how == _IP:
                out[name] = socket.inet_ntop(socket.AF_INET6 if len(payload) == 16 else socket.AF_INET, payload)
            elif how == _U32:
                out[name] = struct.unpack_from("=I", payload)[0]
            else:
                out[name] = Msg({}, _decode_attrs(payload, _LINKINFO_ATTRS))
        pos += (n + 3) & ~3
    return out


def _decode(kind: int, body: memoryview) -> Msg:
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        family, type_, index, flags, change = _IFINFO.unpack_from(body)
        fields = {"family": family, "ifi_type": type_, "index": index, "flags": flags, "change": change}
        return Msg(fields, _decode_attrs(body[_IFINFO.size :], _LINK_ATTRS))
    if kind == RTM_NEWADDR:
        family, prefixlen, flags, scope, index = _IFADDR.unpack_from(body)
        fields = {"family": family, "prefixlen": prefixlen, "flags": flags, "scope": scope, "index": index}
        return Msg(fields, _decode_attrs(body[_IFADDR.size :], _ADDR_ATTRS))
    if kind == RTM_NEWROUTE:
        family, dst_len, src_len, tos, table, proto, scope, type_, flags = _RTMSG.unpack_from(body)
        fields = {"family": family, "dst_len": dst_len, "src_len": src_len, "tos": tos, "table": table}
        fields.update(proto=proto, scope=scope, type=type_, flags=flags)
        return Msg(fields, _decode_attrs(body[_RTMSG.size :], _ROUTE_ATTRS))
    return Msg({}, {})


# IPRoute.link's keywords written as IFLA attributes, in this order: keyword, attribute, encoder.
_LINK_SET: tuple[tuple[str, int, Callable[[Any], bytes]], ...] = (
    ("ifname", IFLA_IFNAME, _asciiz),
    ("address", IFLA_ADDRESS, _mac),
    ("mtu", IFLA_MTU, _u32),
    ("master", IFLA_MASTER, _u32),
    ("ifalias", IFLA_IFALIAS, _asciiz),
    ("net_ns_fd", IFLA_NET_NS_FD, _u32),
)


class IPRoute:
    """One NETLINK_ROUTE socket; pyroute2.IPRoute's link/addr/route/get_* for the uses of netlink.py."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        try:
            self._sock.bind((0, 0))
        except BaseException:
            self._sock.close()
            raise
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> IPRoute:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ the exchange

    def _request(self, kind: int, flags: int, body: bytes) -> list[Msg]:
        """Send one request; the messages of its answer (a dump's, or none for an ack)."""
        self._seq += 1
        seq = self._seq
        self._sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
        out: list[Msg] = []
        while True:
            data = self._sock.recv(65536)  # a dump's part is at most 32 KiB (netlink_dump)
            view = memoryview(data)
            pos = 0
            while pos + _HDR.size <= len(data):
                n, mtype, mflags, mseq, _pid = _HDR.unpack_from(data, pos)
                if n < _HDR.size:
                    break
                body_view = view[pos + _HDR.size : pos + n]
                pos += (n + 3) & ~3
                if mseq != seq:
                    continue  # an answer to an earlier request abandoned by an exception
                if mtype == NLMSG_ERROR:
                    code = -_ERR.unpack_from(body_view)[0]
                    if code:
                        raise NetlinkError(code)
                    return out  # the ack
                if mtype == NLMSG_DONE:
                    return out
                out.append(_decode(mtype, body_view))
                if not mflags & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return out  # the single answer to a get

    def _dump(self, kind: int, body: bytes) -> list[Msg]:
        return self._request(kind, NLM_F_DUMP, body)

    # ------------------------------------------------------------ links

    def link(self, command: str, *, index: int | None = 0, **kw: Any) -> list[Msg]:
        """add / set / del / get, with the keywords netlink.py uses: ifname, kind, mtu, master,
        ifalias, address (MAC), state ("up"), net_ns_fd, peer (a veth peer's ifname, net_ns_fd, mtu),
        hairpin (set only, a bridge port's: `ip link set X type bridge_slave hairpin on`).
        `index` None (a name that did not resolve) is no link: the kernel answers ENODEV."""
        index = index or 0
        if command == "get":
            return self._request(RTM_GETLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))
        if command == "del":
            attrs = _nla(IFLA_IFNAME, _asciiz(kw["ifname"])) if "ifname" in kw else b""
            return self._request(RTM_DELLINK, NLM_F_ACK, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + attrs)
        flags = NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if command == "add" else 0)
        if command not in ("add", "set"):
            raise ValueError(f"unknown link command {command}")
        return self._request(RTM_NEWLINK, flags, self._link_body(index, kw))

    @staticmethod
    def _link_body(index: int, kw: dict[str, Any]) -> bytes:
        up = kw.get("state") == "up"
        if kw.get("state") not in (None, "up"):
            raise ValueError(f"unsupported link state {kw['state']}")
        head = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)
        attrs = b"".join(_nla(kind, encode(kw[key])) for key, kind, encode in _LINK_SET if key in kw)
        info = b""
        if "kind" in kw:
            info = _nla(IFLA_INFO_KIND, _asciiz(kw["kind"]))
            if "peer" in kw:
                peer = IPRoute._link_body(0, dict(kw["peer"]))
                info += _nla(IFLA_INFO_DATA, _nla(VETH_INFO_PEER, peer))
        if "hairpin" in kw:
            # the bridge's slave_changelink (br_port_slave_changelink), applied before the rest of
            # the message (rtnl_changelink): the same change as writing brport/hairpin_mode in
            # sysfs, whose store takes rtnl with trylock and restarts the syscall while it is held
            mode = _nla(IFLA_BRPORT_MODE, b"\x01" if kw["hairpin"] else b"\x00")
            info += _nla(IFLA_INFO_SLAVE_KIND, _asciiz("bridge")) + _nla(IFLA_INFO_SLAVE_DATA, mode)
        if info:
            attrs += _nla(IFLA_LINKINFO, info)
        return head + attrs

    def get_links(self, *indexes: int) -> list[Msg]:
        if not indexes:
            return self._dump(RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        return [m for i in indexes for m in self.link("get", index=i)]

    # ------------------------------------------------------------ addresses

    def addr(self, command: str, *, index: int, address: str, prefixlen: int) -> list[Msg]:
        """add an IPv4 address (IFA_LOCAL and IFA_ADDRESS both the address, as `ip addr add` does)."""
        if command != "add":
            raise ValueError(f"unsupported addr command {command}")
        raw = socket.inet_pton(socket.AF_INET, address)
        body = _IFADDR.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        body += _nla(IFA_LOCAL, raw) + _nla(IFA_ADDRESS, raw)
        return self._request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def get_addr(self, family: int = socket.AF_UNSPEC, index: int | None = None) -> list[Msg]:
        msgs = self._dump(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0))
        return [m for m in msgs if index is None or m["index"] == index]

    # ------------------------------------------------------------ routes

    def route(self, command: str, *, dst: str, gateway: str, oif: int) -> list[Msg]:
        """add a unicast route in the main table (`dst` an IPv4 CIDR), as pyroute2 adds one."""
        if command != "add":
            raise ValueError(f"unsupported route command {command}")
        net, _, plen = dst.partition("/")
        body = _RTMSG.pack(
            socket.AF_INET, int(plen or 32), 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0
        )
        body += _nla(RTA_TABLE, _u32(RT_TABLE_MAIN)) + _nla(RTA_DST, socket.inet_pton(socket.AF_INET, net))
        body += _nla(RTA_GATEWAY, socket.inet_pton(socket.AF_INET, gateway)) + _nla(RTA_OIF, _u32(oif))
        return self._request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)

    def get_routes(self, family: int = socket.AF_INET) -> list[Msg]:
        """Every route of every table (the kernel ignores a dump's table without strict checking)."""
        return self._dump(RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0))
