"""Translate layer: network objects and containers' NetworkSettings in dockerd's shapes.

Shapes follow dockerd 20.10's recorded answers (api-traffic.md 3.9): a network object with
Name, Id, Created, Scope, Driver, EnableIPv6, IPAM, Internal, Attachable, Ingress, ConfigFrom,
ConfigOnly, Containers (empty in lists, as dockerd's list), Options, Labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from shim.engine.netmodel import ContainerNet, Endpoint, EndpointView, Network
from shim.errors import InvalidParameter
from shim.filters import NETWORK_LIST, NETWORK_PRUNE, FilterInput, Filters
from shim.times import rfc3339_nano
from shim.translate.versions import Version


def create_in(body: dict[str, Any]) -> dict[str, Any]:
    """POST /networks/create body → NetworkService.create keyword arguments."""
    return {
        "name": body.get("Name"),
        "driver": body.get("Driver") or "bridge",
        "ipam": body.get("IPAM") or {},
        "internal": bool(body.get("Internal")),
        "attachable": bool(body.get("Attachable")),
        "ingress": bool(body.get("Ingress")),
        "enable_ipv6": bool(body.get("EnableIPv6")),
        "labels": body.get("Labels") or {},
        "options": body.get("Options") or {},
    }


def network_out(n: Network, containers: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339_nano(n.created),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {
            "Driver": n.ipam_driver,
            "Options": n.ipam_options,
            "Config": [dict(c) for c in n.ipam_config] if n.driver == "bridge" else [],
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": n.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers or {},
        "Options": dict(n.options),
        "Labels": dict(n.labels),
    }


def network_containers(pairs: list[tuple[ContainerNet, Endpoint]]) -> dict[str, dict[str, Any]]:
    return {
        cn.cid: {
            "Name": cn.name,
            "EndpointID": ep.endpoint_id,
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ip}/{ep.prefix}" if ep.ip else "",
            "IPv6Address": "",
        }
        for cn, ep in pairs
    }


def list_filter(filters: FilterInput, used: Callable[[Network], bool]) -> Callable[[Network], bool]:
    """GET /networks filters: name (substring), id (prefix), driver, label, type, scope, dangling."""
    f = Filters.of(filters)
    f.validate(NETWORK_LIST)
    for t in f.get("type"):
        if t not in ("custom", "builtin"):
            raise InvalidParameter(f"invalid filter: 'type'='{t}'")
    dangling = f.bool("dangling")

    def keep(n: Network) -> bool:
        if not (f.substring("name", n.name) and f.fuzzy("id", n.id) and f.exact("driver", n.driver)):
            return False
        if not f.labels(n.labels):
            return False
        if not f.exact("type", "builtin" if n.predefined else "custom") or not f.exact("scope", "local"):
            return False
        return dangling is None or (not n.predefined and not used(n)) == dangling

    return keep


def prune_filter(filters: FilterInput, now_ns: int) -> Callable[[Network], bool]:
    """POST /networks/prune filters: until (dockerd's timestamp grammar, relative to now_ns), label, label!."""
    f = Filters.of(filters)
    f.validate(NETWORK_PRUNE)
    until = f.until(now_ns)

    def keep(n: Network) -> bool:
        if until is not None and n.created >= until:
            return False
        return f.labels(n.labels) and f.not_labels(n.labels)

    return keep


# ------------------------------------------------------------------ containers' NetworkSettings


def empty_endpoint(network_id: str = "") -> dict[str, Any]:
    """An EndpointSettings with nothing configured yet (before start, host/none modes)."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }


def default_networks(mode: str) -> dict[str, Any]:
    """Networks as dockerd shows them for a NetworkMode before networking fills them in."""
    name = "bridge" if mode in ("", "default") else mode
    if name.startswith("container:"):
        return {}
    return {name: empty_endpoint()}


def _has_dns_names(ep: Endpoint, net: Network) -> bool:
    # dockerd: only live endpoints on user-defined networks have DNS names
    return bool(ep.endpoint_id) and not net.predefined


def _dns_names(out: dict[str, Any], cn: ContainerNet, ep: Endpoint, net: Network) -> None:
    # v1.44: DNSNames, every non fully qualified name the container has on the network.
    out["DNSNames"] = [cn.name, cn.cid[:12], *ep.aliases] if _has_dns_names(ep, net) else None


EndpointFn = Callable[[dict[str, Any], ContainerNet, Endpoint, Network], None]

# (from, before, fn): fn applies to versions in [from, before); from api-docs/CHANGELOG.md.
# Aliases as given at create/connect (1.45+); the short ID and hostname that older versions add are
# the container inspect table's (translate/containers.py _inspect_pre_145).
_ENDPOINT_CHANGES: list[tuple[Version | None, Version | None, EndpointFn]] = [
    (Version(1, 44), None, _dns_names),
]


@functools.cache
def _endpoint_changes(version: Version) -> tuple[EndpointFn, ...]:
    """The changes for one version, picked once (a list renders every container's endpoints)."""
    return tuple(
        fn for lo, hi, fn in _ENDPOINT_CHANGES if (lo is None or version >= lo) and (hi is None or version < hi)
    )


def _endpoint_out(cn: ContainerNet, ep: Endpoint, net: Network, version: Version) -> dict[str, Any]:
    out = {
        "IPAMConfig": ep.ipam_config or None,
        "Links": ep.links or None,
        "Aliases": list(ep.aliases) or None,
        "NetworkID": net.id,
        "EndpointID": ep.endpoint_id,
        "Gateway": ep.gateway,
        "IPAddress": ep.ip,
        "IPPrefixLen": ep.prefix,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": ep.mac,
        "DriverOpts": ep.driver_opts or None,
    }
    for fn in _endpoint_changes(version):
        fn(out, cn, ep, net)
    return out


def networks_out(view: EndpointView, version: Version) -> dict[str, Any]:
    """NetworkSettings.Networks: one EndpointSettings per network, by name, in attach order."""
    out: dict[str, Any] = {}
    cn = view.net
    for name, net, ep in view.shown():
        if cn is None or net is None or ep is None:
            out[name] = empty_endpoint(net.id if net is not None else "")
        else:
            out[name] = _endpoint_out(cn, ep, net, version)
    return out


def ports_out(view: EndpointView | None) -> dict[str, Any]:
    """NetworkSettings.Ports: exposed ports (null when not published) and live host bindings."""
    cn = view.net if view is not None else None
    if view is None or cn is None or not cn.live:
        return {}
    out: dict[str, Any] = dict.fromkeys(view.exposed)
    for key in view.port_bindings:
        out.setdefault(key if "/" in key else key + "/tcp", None)
    for p in cn.ports:
        key = f"{p.container_port}/{p.proto}"
        if out.get(key) is None:
            out[key] = []
        out[key].append({"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)})
    return out


def network_settings(view: EndpointView | None, version: Version, mode: str = "default") -> dict[str, Any]:
    """A container's NetworkSettings for inspect at the client's API version.

    `view` is None when the container has no networking service (unit tests): what dockerd
    shows for `mode` before networking fills it in."""
    cn = view.net if view is not None else None
    top = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": ""}
    if view is not None and cn is not None:
        # the deprecated top-level fields are the default bridge's endpoint
        for nid in cn.order:
            net, ep = view.networks.get(nid), cn.endpoints.get(nid)
            if net is not None and ep is not None and net.is_default_bridge:
                top = {
                    "EndpointID": ep.endpoint_id,
                    "Gateway": ep.gateway,
                    "IPAddress": ep.ip,
                    "IPPrefixLen": ep.prefix,
                    "MacAddress": ep.mac,
                }
    live = cn is not None and cn.live
    return {
        "Bridge": "",
        "SandboxID": cn.sandbox_id if live and cn else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_out(view),
        "SandboxKey": cn.netns if live and cn and cn.netns != "host" else "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": top["EndpointID"],
        "Gateway": top["Gateway"],
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": top["IPAddress"],
        "IPPrefixLen": top["IPPrefixLen"],
        "IPv6Gateway": "",
        "MacAddress": top["MacAddress"],
        "Networks": networks_out(view, version) if view is not None else default_networks(mode),
    }


# ------------------------------------------------------------------ per-version network shapes


def _subnet_status(n: Network, cfg: dict[str, Any], in_use: int) -> tuple[str, dict[str, int]] | None:
    import ipaddress

    try:
        subnet = ipaddress.ip_network(cfg.get("Subnet", ""), strict=False)
    except ValueError:
        return None
    if subnet.version != 4:
        return None
    reserved = 2 if subnet.prefixlen < 31 else 0  # network and broadcast addresses
    gateway = 1 if cfg.get("Gateway") else 0
    used = reserved + gateway + in_use
    pool: ipaddress.IPv4Network | ipaddress.IPv6Network = subnet
    if cfg.get("IPRange"):
        try:
            pool = ipaddress.ip_network(cfg["IPRange"], strict=False)
        except ValueError:
            pool = subnet
    dynamic = max(pool.num_addresses - (reserved if pool == subnet else 0) - gateway - in_use, 0)
    return str(subnet), {"IPsInUse": used, "DynamicIPsAvailable": dynamic}


def network_versioned(
    out: dict[str, Any], n: Network, version: Version, *, endpoints: int | None = None
) -> dict[str, Any]:
    """Fields by version: EnableIPv4 from 1.48; on inspect (endpoints given) the IPAM `Status` from
    1.52 (moby GetNetworks WithStatus): per subnet the addresses in use (network, broadcast, gateway,
    endpoints) and those left for dynamic allocation."""
    if version.ge("1.48"):
        body = {}
        for key, value in out.items():
            if key == "EnableIPv6":
                body["EnableIPv4"] = True
            body[key] = value
        out = body
    if endpoints is None and version.ge("1.52"):
        # The list's items are network.Summary from the API of Docker 29 (1.52): no Containers
        # (yaml 1.56 NetworkSummary; an unversioned change in moby, placed at 1.52 here).
        out.pop("Containers", None)
    if endpoints is not None and version.ge("1.52"):
        subnets = dict(filter(None, (_subnet_status(n, c, endpoints) for c in out["IPAM"]["Config"] or [])))
        out["Status"] = {"IPAM": {"Subnets": subnets} if subnets else {}}
    return out


def connect_endpoint_in(epc: dict[str, Any] | None, version: Version) -> dict[str, Any] | None:
    """POST /networks/{id}/connect EndpointConfig: its MacAddress counts from 1.54 (moby ignored it
    before, CHANGELOG v1.54) and GwPriority from 1.48."""
    if epc is None:
        return None
    out = dict(epc)
    if version.lt("1.54"):
        out.pop("MacAddress", None)
    if version.lt("1.48"):
        out.pop("GwPriority", None)
    return out
