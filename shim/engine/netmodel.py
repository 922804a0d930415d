"""Engine layer: what the network service keeps (networks, endpoints) and the facts it gives out.

Persisted through the Store: kind `networks` (one per network) and kind `endpoints`
(one per container, keyed by container id: its networks, addresses, ports, namespace).
IP leases are the endpoints' addresses: there is no separate lease table to drift.
The adapters' Protocols (netlink, firewall, DNS, files, port reservations) are in engine/ports.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from shim.engine.ports import MountSpec


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
        """`dataclasses.asdict(self)`, key for key and in the same order, without asdict's deep copy
        of every list and dict (its recursion was ~0.1-0.2 ms of the event loop per save, two or
        three saves per start; issue 17). The lists and dicts are shared, not copied: the result is
        for encoding at once (NetState.save_cn: Store.aput encodes before it awaits)."""
        d = {name: getattr(self, name) for name in _CN_FIELDS}
        d["endpoints"] = {k: {n: getattr(e, n) for n in _EP_FIELDS} for k, e in self.endpoints.items()}
        d["ports"] = [{n: getattr(p, n) for n in _PM_FIELDS} for p in self.ports]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerNet:
        d = dict(d)
        eps = {k: Endpoint(**v) for k, v in (d.pop("endpoints", None) or {}).items()}
        ports = [PortMapping(**p) for p in d.pop("ports", None) or []]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(endpoints=eps, ports=ports, **{k: v for k, v in d.items() if k in names})


_CN_FIELDS = tuple(f.name for f in dataclasses.fields(ContainerNet))
_EP_FIELDS = tuple(f.name for f in dataclasses.fields(Endpoint))
_PM_FIELDS = tuple(f.name for f in dataclasses.fields(PortMapping))


@dataclasses.dataclass(slots=True)
class EndpointView:
    """A container's network facts for inspect and list (rendered per API version by translate.networks)."""

    net: ContainerNet | None
    networks: dict[str, Network]  # network id -> network, for the endpoints above
    mode: str
    exposed: list[str]  # "80/tcp", from Config.ExposedPorts
    port_bindings: dict[str, Any]  # HostConfig.PortBindings

    def shown(self) -> list[tuple[str, Network | None, Endpoint | None]]:
        """(name, network, endpoint) of each entry of NetworkSettings.Networks, in attach order.

        host/none show their predefined network and no endpoint; container:<id> shows none."""
        if self.mode in ("host", "none"):
            net = next((n for n in self.networks.values() if n.name == self.mode), None)
            return [(self.mode, net, None)]
        out: list[tuple[str, Network | None, Endpoint | None]] = []
        cn = self.net
        if cn is None:
            return out
        for nid in cn.order:
            net, ep = self.networks.get(nid), cn.endpoints.get(nid)
            if net is not None and ep is not None:
                out.append((net.name, net, ep))
        return out


@dataclasses.dataclass(slots=True)
class Attachment:
    """What the container engine gets back from NetworkService.attach."""

    netns_path: str | None  # RunRequest.netns_path
    mounts: list[MountSpec]  # /etc/hosts, /etc/hostname, /etc/resolv.conf
    env: list[str]  # legacy link variables, to add to the container's environment
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    # attach(early=True): the rest of the wiring (veths, addresses, routes, DNS, firewall, record),
    # still going on; the start joins it before the container's process runs (None: all done)
    wired: asyncio.Future[None] | None = None
