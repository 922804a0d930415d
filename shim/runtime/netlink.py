"""Runtime adapter: Linux bridges, veth pairs and network namespaces through netlink (runtime/rtnl.py).

A container's network namespace is a file `<exec-root>/netns/<id>`: an nsfs bind mount,
as `ip netns add` makes under /run/netns, so it outlives every process in it (and shimd)
and can be joined by runc (`RunRequest.netns_path`) and by us. `setns` switches only the
calling thread, so all work inside a namespace runs on dedicated threads that always
return to the host namespace; netlink sockets keep the namespace they were opened in.

Every link we create carries an ifalias `shim:<tag>:<owner>` (tag = the daemon's default
bridge name), so reconciliation can find ours among the host's links without guessing
from names. All public methods are async and never block the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import errno
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from shim.errors import SystemFailure

# rtnetlink on a plain socket, pyroute2's IPRoute calls for the few used here (its import
# costs 4.5 MiB of the idle daemon's RSS, issue 17): shim/runtime/rtnl.py.
from shim.runtime.rtnl import IPRoute, NetlinkError

log = logging.getLogger("shim.netlink")

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
NETNS_THREADS = 3

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def write_sysctl(path: str, value: str) -> None:
    """`path` like net/ipv4/ip_forward. Written only when different (sysctl writes are not free)."""
    full = "/proc/sys/" + path
    try:
        with open(full) as f:
            if f.read().strip() == value:
                return
    except OSError:
        pass
    with open(full, "w") as f:
        f.write(value)


class _NsThread:
    """The threads that enter namespaces; each starts and always ends in the host's. Several, so
    the namespace work of parallel starts (unshare, the peer's configuration: mostly kernel time,
    the GIL released) overlaps instead of queueing behind one thread (issue 17)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=NETNS_THREADS, thread_name_prefix="shim-netns", initializer=self._init
        )

    def _init(self) -> None:
        # made by the pool from the event loop's thread, so born in the host's namespace
        self._local.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def _go_home(self) -> None:
        try:
            _setns(self._local.home)
        except OSError:  # pragma: no cover - the thread would be poisoned: stop the daemon loudly
            log.critical("cannot return the netns thread to the host namespace")
            os.abort()

    def enter(self, path: str, fn: Callable[[], T]) -> T:
        """On a namespace thread (inside run()'s function): `fn` inside `path`, then home again."""
        return self._in(path, fn)

    def _in(self, path: str, fn: Callable[[], T]) -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
            try:
                return fn()
            finally:
                self._go_home()
        finally:
            os.close(fd)

    async def run_in(self, path: str, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._in, path, fn)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run on the namespace thread without entering one (creation uses unshare)."""

        def wrapped() -> T:
            try:
                return fn()
            finally:
                self._go_home()

        return await asyncio.get_running_loop().run_in_executor(self._pool, wrapped)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


@contextlib.contextmanager
def _ipr() -> Iterator[IPRoute]:
    ip = IPRoute()
    try:
        yield ip
    finally:
        ip.close()


def _index(name: str) -> int | None:
    """The link's index in the calling thread's namespace: one ioctl. pyroute2's link_lookup dumps
    and parses every link in Python (ms with the GIL held once a few dozen veths exist)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name)


class Netlink:
    """Bridges, veths and namespaces; `tag` marks the links of this daemon instance."""

    def __init__(self, exec_root: str, tag: str) -> None:
        self.netns_dir = os.path.join(exec_root, "netns")
        self.tag = tag
        self._ns = _NsThread()

    def alias(self, owner: str) -> str:
        return f"shim:{self.tag}:{owner}"

    def netns_path(self, cid: str) -> str:
        return os.path.join(self.netns_dir, cid)

    def close(self) -> None:
        self._ns.close()

    # ------------------------------------------------------------ sysctls

    async def sysctl(self, path: str, value: str) -> None:
        await asyncio.to_thread(write_sysctl, path, value)

    # ------------------------------------------------------------ bridges

    def _ensure_bridge(self, name: str, gateway: str, prefix: int, mtu: int, owner: str) -> None:
        with _ipr() as ip:
            idx = _index(name)
            ours = idx is None
            if idx is None:
                try:
                    ip.link("add", ifname=name, kind="bridge")
                except NetlinkError as e:
                    if e.code != errno.EEXIST:
                        raise
                idx = _index(name)
                if idx is None:
                    raise SystemFailure(f"bridge {name} vanished while being created")
            else:  # made by us before (our mark), or by someone else: then it stays theirs, never removed
                ours = any(
                    (_attr(link, "IFLA_IFALIAS") or "").startswith(f"shim:{self.tag}:") for link in ip.get_links(idx)
                )
            ip.link("set", index=idx, mtu=mtu, **({"ifalias": self.alias(owner)} if ours else {}))
            have = {(_attr(a, "IFA_ADDRESS"), a["prefixlen"]) for a in ip.get_addr(index=idx, family=socket.AF_INET)}
            if (gateway, prefix) not in have:
                try:
                    ip.addr("add", index=idx, address=gateway, prefixlen=prefix)
                except NetlinkError as e:
                    if e.code != errno.EEXIST:
                        raise
            ip.link("set", index=idx, state="up")
        # Published ports answer on 127.0.0.1: DNAT to the container needs loopback-sourced
        # packets routed out of the bridge (dockerd does the same without its userland proxy).
        write_sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")

    async def ensure_bridge(self, name: str, gateway: str, prefix: int, mtu: int = 1500, owner: str = "") -> None:
        try:
            await asyncio.to_thread(self._ensure_bridge, name, gateway, prefix, mtu, owner or name)
        except NetlinkError as e:
            raise SystemFailure(f"failed to create bridge {name}: {e}") from e

    def _delete_link(self, name: str) -> None:
        idx = _index(name)
        if idx is None:
            return
        with _ipr() as ip:
            try:
                ip.link("del", index=idx)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise

    async def delete_link(self, name: str) -> None:
        await asyncio.to_thread(self._delete_link, name)

    def _our_links(self) -> list[tuple[str, str, str]]:
        prefix = f"shim:{self.tag}:"
        out = []
        with _ipr() as ip:
            for link in ip.get_links():
                alias = _attr(link, "IFLA_IFALIAS") or ""
                if alias.startswith(prefix):
                    kind = ""
                    info = _attr(link, "IFLA_LINKINFO")
                    if info is not None:
                        kind = info.get_attr("IFLA_INFO_KIND") or ""
                    out.append((_attr(link, "IFLA_IFNAME"), kind, alias[len(prefix) :]))
        return out

    async def our_links(self) -> list[tuple[str, str, str]]:
        """(ifname, kind, owner) of every host link this daemon instance created."""
        return await asyncio.to_thread(self._our_links)

    def _routed_subnets(self) -> list[str]:
        out = []
        with _ipr() as ip:
            for r in ip.get_routes(family=socket.AF_INET):
                dst = _attr(r, "RTA_DST")
                if dst and r["dst_len"] > 0:
                    out.append(f"{dst}/{r['dst_len']}")
            out.extend(f"{_attr(a, 'IFA_ADDRESS')}/{a['prefixlen']}" for a in ip.get_addr(family=socket.AF_INET))
        return out

    async def routed_subnets(self) -> list[str]:
        """Subnets the host already routes or owns addresses in (a pool subnet must avoid them)."""
        return await asyncio.to_thread(self._routed_subnets)

    async def link_exists(self, name: str) -> bool:
        return await asyncio.to_thread(lambda: _index(name) is not None)

    def _enslave(self, ifname: str, bridge: str) -> None:
        idx, br = _index(ifname), _index(bridge)
        if idx is None or br is None:
            return
        with _ipr() as ip:
            ip.link("set", index=idx, master=br, state="up")
            with contextlib.suppress(NetlinkError):
                ip.link("set", index=idx, hairpin=True)

    async def enslave(self, ifname: str, bridge: str) -> None:
        """Put a veth of ours (back) on a bridge (one that was deleted under it and made again)."""
        try:
            await asyncio.to_thread(self._enslave, ifname, bridge)
        except NetlinkError as e:
            raise SystemFailure(f"failed to attach {ifname} to {bridge}: {e}") from e

    # ------------------------------------------------------------ namespaces

    def _create_netns(self, path: str) -> None:
        os.makedirs(self.netns_dir, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        os.close(fd)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare")
            _check(_libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None), "mount netns")
            with _ipr() as ip:  # opened inside the new namespace
                ip.link("set", index=_index("lo"), state="up")
        except BaseException:
            _libc.umount2(path.encode(), MNT_DETACH)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    async def create_netns(self, cid: str) -> str:
        """A new namespace with loopback up, pinned at `<exec-root>/netns/<cid>`."""
        path = self.netns_path(cid)
        try:
            await self._ns.run(lambda: self._create_netns(path))
        except OSError as e:
            raise SystemFailure(f"failed to create network namespace {path}: {e}") from e
        return path

    @staticmethod
    def _delete_netns(path: str) -> None:
        if _libc.umount2(path.encode(), MNT_DETACH) != 0:
            e = ctypes.get_errno()
            if e not in (errno.EINVAL, errno.ENOENT):
                raise OSError(e, f"umount {path}: {os.strerror(e)}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    async def delete_netns(self, path: str) -> None:
        await asyncio.to_thread(self._delete_netns, path)

    @staticmethod
    def _pinned(path: str) -> bool:
        """Whether `path` is a namespace mounted on its file (an unmounted file sits on the parent's fs)."""
        try:
            return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
        except OSError:
            return False

    def _pin(self, path: str, pid: int, cid: str) -> None:
        # only the namespace of that container's own process: a PID reused by a host process (the
        # host's namespace) or by another container's must never be pinned as this one's
        ns = f"/proc/{pid}/ns/net"
        with open(f"/proc/{pid}/cgroup") as f:
            if cid not in f.read():
                raise OSError(errno.ESRCH, f"process {pid} is not in container {cid}")
        if os.stat(ns).st_ino == os.stat("/proc/self/ns/net").st_ino:
            raise OSError(errno.EINVAL, f"process {pid} is in the host's network namespace")
        os.makedirs(self.netns_dir, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
        _check(_libc.mount(ns.encode(), path.encode(), b"none", MS_BIND, None), "mount netns")

    async def pinned(self, path: str) -> bool:
        return await asyncio.to_thread(self._pinned, path)

    async def pinned_paths(self, paths: list[str]) -> set[str]:
        """One thread hop for all (a daemon start checks every live container's pin)."""
        return await asyncio.to_thread(lambda: {p for p in paths if self._pinned(p)})

    async def pin_netns(self, path: str, pid: int, cid: str) -> None:
        """Pin again, at `path`, the namespace container `cid`'s process `pid` lives in (its pin was
        removed under us)."""
        try:
            await asyncio.to_thread(self._pin, path, pid, cid)
        except OSError as e:
            raise SystemFailure(f"failed to pin the network namespace of {pid} at {path}: {e}") from e

    def _list_netns(self) -> list[str]:
        try:
            return sorted(os.listdir(self.netns_dir))
        except FileNotFoundError:
            return []

    async def list_netns(self) -> list[str]:
        """Container IDs with a namespace file under our exec root."""
        return await asyncio.to_thread(self._list_netns)

    async def run_in_netns(self, path: str, fn: Callable[[], T]) -> T:
        """Run blocking `fn` on the namespace thread while it is inside `path`."""
        return await self._ns.run_in(path, fn)

    async def socket_in_netns(self, path: str, family: int, type_: int, bind: tuple[str, int]) -> socket.socket:
        """A socket created (and bound) inside the namespace: it keeps that namespace forever."""

        def make() -> socket.socket:
            s = socket.socket(family, type_)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(bind)
                s.setblocking(False)
            except BaseException:
                s.close()
                raise
            return s

        return await self._ns.run_in(path, make)

    # ------------------------------------------------------------ endpoints

    def _add_endpoint(self, netns: str, bridge: str, host_if: str, ifname: str, mac: str, mtu: int, owner: str) -> None:
        """The veth pair, its peer born in `netns` with its name and MAC, down (_configure_peer
        addresses it and brings it up). Named at birth, not renamed from a temporary name: one
        netlink request less per start (issue 17); a name taken in `netns` fails here, as the
        rename did."""
        with _ipr() as ip:
            br = _index(bridge)
            if br is None:
                raise SystemFailure(f"bridge {bridge} not found")
            nsfd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # The peer is born inside the namespace: moving it there afterwards costs ~15 ms
                # (the kernel waits for an RCU grace period), creating it there ~1 ms.
                ip.link(
                    "add",
                    ifname=host_if,
                    kind="veth",
                    mtu=mtu,
                    master=br,
                    peer={"ifname": ifname, "address": mac, "net_ns_fd": nsfd, "mtu": mtu},
                )
            finally:
                os.close(nsfd)
            try:
                hidx = _index(host_if)
                # hairpin: a container reaching its own published port comes back through its port.
                # Set in the same message as the alias and the state, not through sysfs: one open,
                # write and close less per start, and no wait on the sysfs path (issue 17).
                ip.link("set", index=hidx, ifalias=self.alias(owner), state="up", hairpin=True)
            except BaseException:
                with contextlib.suppress(NetlinkError):
                    ip.link("del", ifname=host_if)
                raise

    @staticmethod
    def _configure_peer(ifname: str, address: str, prefix: int, gateway: str | None) -> None:
        with _ipr() as ip:
            idx = _index(ifname)
            if idx is None:
                raise SystemFailure(f"interface {ifname} missing in the container's namespace")
            ip.addr("add", index=idx, address=address, prefixlen=prefix)
            ip.link("set", index=idx, state="up")
            if gateway:
                ip.route("add", dst="0.0.0.0/0", gateway=gateway, oif=idx)

    async def add_endpoint(
        self,
        *,
        netns: str,
        bridge: str,
        host_if: str,
        ifname: str,
        address: str,
        prefix: int,
        gateway: str | None,
        mac: str,
        mtu: int = 1500,
        owner: str = "",
    ) -> None:
        """A veth pair: `host_if` on `bridge`, its peer as `ifname` inside `netns` with address/MAC/route.

        `gateway` None: no default route (Internal networks, or not the first network)."""

        def both() -> None:
            # One hop (issue 17): the pair is made from the host's namespace (a namespace thread
            # starts and ends there), then the same thread enters `netns` for the peer.
            self._add_endpoint(netns, bridge, host_if, ifname, mac, mtu, owner or host_if)
            self._ns.enter(netns, lambda: self._configure_peer(ifname, address, prefix, gateway))

        try:
            await self._ns.run(both)
        except (NetlinkError, OSError) as e:
            await self.delete_link(host_if)
            raise SystemFailure(f"failed to set up {ifname} in {netns}: {e}") from e

    async def remove_endpoint(self, host_if: str) -> None:
        """Deleting the host end deletes the pair, wherever the peer lives."""
        await self.delete_link(host_if)

    @staticmethod
    def _link_stats(ifname: str) -> dict[str, int]:
        base = f"/sys/class/net/{ifname}/statistics/"
        out = {}
        for k in (
            "rx_bytes",
            "rx_packets",
            "rx_errors",
            "rx_dropped",
            "tx_bytes",
            "tx_packets",
            "tx_errors",
            "tx_dropped",
        ):
            try:
                with open(base + k) as f:
                    out[k] = int(f.read())
            except (OSError, ValueError):
                out[k] = 0
        return out

    async def link_stats(self, ifname: str) -> dict[str, int]:
        """Counters of a host link (sysfs), as the kernel sees them from the host side."""
        return await asyncio.to_thread(self._link_stats, ifname)

    async def netns_interfaces(self, netns: str) -> dict[str, list[str]]:
        """{ifname: [cidr, …]} inside a namespace (tests and diagnostics)."""

        def read() -> dict[str, list[str]]:
            with _ipr() as ip:
                out: dict[str, list[str]] = {}
                for link in ip.get_links():
                    out[_attr(link, "IFLA_IFNAME")] = []
                for a in ip.get_addr(family=socket.AF_INET):
                    name = next((_attr(li, "IFLA_IFNAME") for li in ip.get_links(a["index"])), "")
                    out.setdefault(name, []).append(f"{_attr(a, 'IFA_ADDRESS')}/{a['prefixlen']}")
                return out

        return await self._ns.run_in(netns, read)
