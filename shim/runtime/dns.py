"""Runtime adapter: the embedded DNS server of containers on user-defined networks (127.0.0.11).

As dockerd's libnetwork resolver: each such container gets `nameserver 127.0.0.11`; a UDP
socket bound to 127.0.0.11:53 *inside the container's namespace* answers the names,
aliases and IDs of containers on the same networks, and forwards every other name to the
upstream servers (the host's resolvers or HostConfig.Dns). The socket is created on the
namespace thread (it keeps that namespace) and served by shimd's own event loop: no
process and no iptables rule per container, and nothing to clean up but one fd.
dockerd binds a random port and DNATs 53 to it inside the namespace; we are root and bind
53 directly, which saves the rules. Forwarded queries leave from the host's namespace.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from shim.engine.netports import LookupA, LookupPtr

log = logging.getLogger("shim.dns")

QTYPE_A, QTYPE_PTR, QTYPE_AAAA = 1, 12, 28
RCODE_NXDOMAIN, RCODE_SERVFAIL = 3, 2
TTL = 600
EMBEDDED = "127.0.0.11"


def parse_question(data: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, qname, qtype, end offset of the question) of a query, None if malformed."""
    if len(data) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while True:
        if i >= len(data):
            return None
        n = data[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(data):
            return None
        labels.append(data[i : i + n].decode("ascii", errors="replace"))
        i += n
    if i + 4 > len(data):
        return None
    qtype, _qclass = struct.unpack("!HH", data[i : i + 4])
    return qid, flags, ".".join(labels), qtype, i + 4


def build_response(query: bytes, qend: int, rcode: int, answers: list[tuple[int, bytes]]) -> bytes:
    """Header + the original question + answers [(type, rdata)] with a pointer to the qname."""
    qid, flags = struct.unpack("!HH", query[:4])
    rflags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode  # QR, opcode+RD copied, RA
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0)
    body = b"".join(struct.pack("!HHHIH", 0xC00C, t, 1, TTL, len(rd)) + rd for t, rd in answers)
    return head + query[12:qend] + body


def encode_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p) + b"\0"


def ptr_ip(qname: str) -> str | None:
    """4.3.2.1.in-addr.arpa → 1.2.3.4"""
    if not qname.lower().endswith(".in-addr.arpa"):
        return None
    parts = qname.split(".")[:-2]
    if len(parts) != 4:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(parts))))
    except ValueError:
        return None


def answer(query: bytes, lookup_a: LookupA, lookup_ptr: LookupPtr) -> bytes | None:
    """Our answer to `query`, or None to forward it upstream."""
    q = parse_question(query)
    if q is None:
        return None
    _qid, _flags, qname, qtype, qend = q
    name = qname.lower().rstrip(".")
    if qtype == QTYPE_PTR:
        ip = ptr_ip(name)
        found = lookup_ptr(ip) if ip else None
        if found is None:
            return None
        if found == "":
            return build_response(query, qend, RCODE_NXDOMAIN, [])
        return build_response(query, qend, 0, [(QTYPE_PTR, encode_name(found))])
    ips = lookup_a(name)
    if ips is None:
        return None
    if qtype == QTYPE_A:
        recs = [(QTYPE_A, ipaddress.IPv4Address(ip).packed) for ip in ips]
        return build_response(query, qend, 0 if recs else RCODE_NXDOMAIN, recs)
    # Our names have no other records (AAAA without IPv6): an empty NOERROR, as libnetwork.
    return build_response(query, qend, 0 if ips else RCODE_NXDOMAIN, [])


class _Forward(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self.fut = fut

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


async def forward(query: bytes, upstreams: list[str], timeout: float = 2.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    for server in upstreams:
        fut: asyncio.Future[bytes] = loop.create_future()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_Forward, fut), remote_addr=(server, 53)
            )
        except OSError:
            continue
        try:
            transport.sendto(query)
            return await asyncio.wait_for(fut, timeout)
        except (TimeoutError, OSError):
            continue
        finally:
            transport.close()
    return None


class _Server(asyncio.DatagramProtocol):
    def __init__(self, lookup_a: LookupA, lookup_ptr: LookupPtr, upstreams: Callable[[], list[str]]) -> None:
        self.lookup_a, self.lookup_ptr, self.upstreams = lookup_a, lookup_ptr, upstreams
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            resp = answer(data, self.lookup_a, self.lookup_ptr)
        except Exception:  # a bad packet must never kill the server
            log.exception("dns: answering a query")
            return
        if resp is not None:
            if self.transport is not None:
                self.transport.sendto(resp, addr)
            return
        task = asyncio.get_running_loop().create_task(self._forward(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _forward(self, data: bytes, addr: Any) -> None:
        resp = await forward(data, self.upstreams())
        if resp is None:
            q = parse_question(data)
            if q is None:
                return
            resp = build_response(data, q[4], RCODE_SERVFAIL, [])
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(resp, addr)


class EmbeddedDns:
    """One server per container namespace; `socket_in_netns` comes from the netlink adapter."""

    def __init__(self, socket_in_netns: Callable[..., Any]) -> None:
        self._socket_in_netns = socket_in_netns
        self._servers: dict[str, tuple[asyncio.DatagramTransport, _Server]] = {}

    async def serve(
        self, cid: str, netns: str, lookup_a: LookupA, lookup_ptr: LookupPtr, upstreams: Callable[[], list[str]]
    ) -> None:
        if cid in self._servers:
            return
        sock = await self._socket_in_netns(netns, socket.AF_INET, socket.SOCK_DGRAM, (EMBEDDED, 53))
        loop = asyncio.get_running_loop()
        try:
            transport, proto = await loop.create_datagram_endpoint(
                lambda: _Server(lookup_a, lookup_ptr, upstreams), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        self._servers[cid] = (transport, proto)

    async def stop(self, cid: str) -> None:
        entry = self._servers.pop(cid, None)
        if entry is not None:
            transport, proto = entry
            transport.close()
            for t in list(proto.tasks):
                t.cancel()

    def serving(self) -> list[str]:
        return list(self._servers)

    async def close(self) -> None:
        for cid in list(self._servers):
            await self.stop(cid)
