"""Engine layer: the ports of networking, the adapters engine/networks/ drives (a section of the
engine's ports, kept beside engine/ports.py so that neither grows past 600 lines).

Implemented by shim/runtime/netlink.py, iptables.py, dns.py, netfiles.py and portreserve.py, built in
shim/app.py; the unit tests' fakes are in tests/unit/test_network_api.py. Also what the firewall
adapter is given to render (FirewallState), and the embedded DNS server's lookup callbacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol


@dataclasses.dataclass(slots=True, frozen=True)
class BridgeRules:
    bridge: str
    subnet: str
    internal: bool = False
    masquerade: bool = True
    icc: bool = True


@dataclasses.dataclass(slots=True, frozen=True)
class PortRule:
    proto: str  # tcp | udp
    host_ip: str  # "" or 0.0.0.0 → every local address
    host_port: int
    container_ip: str
    container_port: int
    bridge: str


@dataclasses.dataclass(slots=True)
class FirewallState:
    """Everything the firewall must do, rendered whole by the adapter on every change."""

    bridges: list[BridgeRules] = dataclasses.field(default_factory=list)
    ports: list[PortRule] = dataclasses.field(default_factory=list)


# name (lowercase, no trailing dot) → IPv4 addresses, [] for "ours but nothing", None to forward
LookupA = Callable[[str], "list[str] | None"]
# IPv4 address → name, "" for "ours but unknown", None to forward
LookupPtr = Callable[[str], "str | None"]


class NetlinkPort(Protocol):
    """Bridges, veth pairs and pinned network namespaces (blocking work is the adapter's own)."""

    async def ensure_bridge(self, name: str, gateway: str, prefix: int, mtu: int = 1500, owner: str = "") -> None: ...

    async def delete_link(self, name: str) -> None: ...

    async def our_links(self) -> list[tuple[str, str, str]]:
        """(ifname, kind, owner) of every link this daemon instance made."""

    async def routed_subnets(self) -> list[str]: ...

    async def create_netns(self, cid: str) -> str: ...

    async def delete_netns(self, path: str) -> None: ...

    async def list_netns(self) -> list[str]: ...

    def netns_path(self, cid: str) -> str: ...

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
    ) -> None: ...

    async def remove_endpoint(self, host_if: str) -> None: ...

    async def link_stats(self, ifname: str) -> dict[str, int]: ...

    async def link_exists(self, name: str) -> bool: ...

    async def enslave(self, ifname: str, bridge: str) -> None:
        """Put a veth of ours (back) on a bridge (one deleted under it and made again)."""

    async def pinned(self, path: str) -> bool:
        """Whether the namespace pin at `path` is still mounted."""

    async def pinned_paths(self, paths: list[str]) -> set[str]:
        """Those of `paths` whose namespace pin is still mounted, checked together."""

    async def pin_netns(self, path: str, pid: int, cid: str) -> None:
        """Pin again, at `path`, the namespace of container `cid`'s process `pid`."""

    async def sysctl(self, path: str, value: str) -> None: ...

    def close(self) -> None: ...


class FirewallPort(Protocol):
    async def apply(self, state: Callable[[], FirewallState]) -> None:
        """Make the rules exactly `state()`, evaluated under the adapter's lock (the latest state wins)."""

    async def remove_all(self) -> None: ...


class DnsServerPort(Protocol):
    """The embedded DNS server on 127.0.0.11 inside each container's namespace."""

    async def serve(
        self, cid: str, netns: str, lookup_a: LookupA, lookup_ptr: LookupPtr, upstreams: Callable[[], list[str]]
    ) -> None: ...

    async def stop(self, cid: str) -> None: ...

    async def close(self) -> None: ...


class PortReserverPort(Protocol):
    """Host ports held by a bound socket, so another program gets dockerd's "port is already allocated"."""

    def reserve(self, proto: str, host_ip: str, port: int) -> int: ...

    def release(self, proto: str, host_ip: str, port: int) -> None: ...

    def close(self) -> None: ...


class NetFilesPort(Protocol):
    """Small files: the container's hosts files and the host's own (blocking: called via to_thread)."""

    def read_host_resolv_conf(self) -> str: ...

    def read_host_file(self, path: str) -> str:
        """The file's text, "" when it can't be read."""

    def write(self, path: str, content: str) -> None: ...
