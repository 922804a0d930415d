"""Engine layer: what the network service keeps (networks, endpoints) and the ports it needs.

Persisted through the Store: kind `networks` (one per network) and kind `endpoints`
(one per container, keyed by container id: its networks, addresses, ports, namespace).
IP leases are the endpoints' addresses: there is no separate lease table to drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol


@dataclasses.dataclass(slots=True)
class Network:
    id: str
    name: str
    driver: str  # bridge | host | null
    created: int  # ns
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    bridge: str = ""
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    enable_ipv6: bool = False
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    ipam_driver: str = "default"
    ipam_options: dict[str, str] | None = None
    ipam_config: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # as inspect shows it
    predefined: bool = False
    mtu: int = 1500

    @property
    def prefix(self) -> int:
        return int(self.subnet.split("/")[1]) if self.subnet else 0

    @property
    def is_default_bridge(self) -> bool:
        return self.predefined and self.driver == "bridge"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Network:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclasses.dataclass(slots=True)
class Endpoint:
    """A container on one network (configured at create/connect, live once attached)."""

    network_id: str
    endpoint_id: str = ""
    ip: str = ""
    prefix: int = 0
    gateway: str = ""
    mac: str = ""
    desired_mac: str = ""  # EndpointSettings.MacAddress as asked at create/connect (dockerd DesiredMacAddress)
    aliases: list[str] = dataclasses.field(default_factory=list)
    ipam_config: dict[str, Any] | None = None  # {"IPv4Address": …} as given
    links: list[str] | None = None
    driver_opts: dict[str, str] | None = None
    veth: str = ""  # host end, while live
    ifname: str = ""


@dataclasses.dataclass(slots=True)
class PortMapping:
    proto: str
    container_port: int
    host_ip: str
    host_port: int
    network_id: str


@dataclasses.dataclass(slots=True)
class ContainerNet:
    """Kind `endpoints`, keyed by container id."""

    cid: str
    name: str
    mode: str  # bridge | host | none | container:<id> | a network id
    endpoints: dict[str, Endpoint] = dataclasses.field(default_factory=dict)  # network id -> endpoint
    order: list[str] = dataclasses.field(default_factory=list)  # network ids, attach order
    live: bool = False
    netns: str = ""  # a path, "host", or "" when not attached
    owns_netns: bool = False
    sandbox_id: str = ""
    ports: list[PortMapping] = dataclasses.field(default_factory=list)
    hostname: str = ""
    upstream_dns: list[str] = dataclasses.field(default_factory=list)  # HostConfig.Dns, for the embedded DNS
    files: dict[str, str] = dataclasses.field(default_factory=dict)  # hosts/hostname/resolv_conf -> path

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerNet:
        d = dict(d)
        eps = {k: Endpoint(**v) for k, v in (d.pop("endpoints", None) or {}).items()}
        ports = [PortMapping(**p) for p in d.pop("ports", None) or []]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(endpoints=eps, ports=ports, **{k: v for k, v in d.items() if k in names})


@dataclasses.dataclass(slots=True)
class EndpointView:
    """What inspect shows of a container's networking (shaped by translate.networks)."""

    net: ContainerNet | None
    networks: dict[str, Network]  # network id -> network, for the endpoints above
    mode: str
    exposed: list[str]  # "80/tcp", from Config.ExposedPorts
    port_bindings: dict[str, Any]  # HostConfig.PortBindings


@dataclasses.dataclass(slots=True)
class Attachment:
    """What the container engine gets back from NetworkService.attach."""

    netns_path: str | None  # RunRequest.netns_path
    mounts: list[Any]  # engine.ports.MountSpec for /etc/hosts, /etc/hostname, /etc/resolv.conf
    env: list[str]  # legacy link variables, to add to the container's environment
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""


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


# ------------------------------------------------------------------ ports (adapters)


class NetlinkPort(Protocol):
    async def ensure_bridge(self, name: str, gateway: str, prefix: int, mtu: int = 1500, owner: str = "") -> None: ...
    async def delete_link(self, name: str) -> None: ...
    async def our_links(self) -> list[tuple[str, str, str]]: ...
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
    async def sysctl(self, path: str, value: str) -> None: ...


class FirewallPort(Protocol):
    async def apply(self, state: Any) -> None: ...
    async def remove_all(self) -> None: ...


class DnsPort(Protocol):
    async def serve(
        self,
        cid: str,
        netns: str,
        lookup_a: Callable[[str], Any],
        lookup_ptr: Callable[[str], Any],
        upstreams: Callable[[], list[str]],
    ) -> None: ...
    async def stop(self, cid: str) -> None: ...
    async def close(self) -> None: ...


class PortReserverPort(Protocol):
    def reserve(self, proto: str, host_ip: str, port: int) -> int: ...
    def release(self, proto: str, host_ip: str, port: int) -> None: ...
    def close(self) -> None: ...


class FilesPort(Protocol):
    """Small files: the container's hosts files and the host's resolv.conf (blocking, via to_thread)."""

    def read_host_resolv_conf(self) -> str: ...
    def write(self, path: str, content: str) -> None: ...
    def remove_tree(self, path: str) -> None: ...
