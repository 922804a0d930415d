"""Engine layer, networks: IPAM (libnetwork's default IPAM driver), pure functions.

Subnet pools, a user's IPAM config checked and recorded, and address allocation. There is no
lease table: the addresses in use are the live endpoints' (plus those whose veth is still being
deleted, see NetState.quarantine), so nothing can drift from what is really configured.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from shim.engine.netmodel import Endpoint, Network
from shim.engine.networks.state import NetState
from shim.errors import Forbidden, InvalidParameter


def default_pools() -> list[ipaddress.IPv4Network]:
    """dockerd's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    pools = [ipaddress.IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)]
    pools += list(ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20))
    return pools


def overlaps(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except ValueError:
        return False


def pick_subnet(taken: list[str]) -> ipaddress.IPv4Network:
    """The first default pool that overlaps nothing taken (other networks, the host's routes)."""
    for pool in default_pools():
        if not any(overlaps(str(pool), t) for t in taken):
            return pool
    raise Forbidden(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )


def set_user_subnet(net: Network, cfg: dict[str, Any], others: Iterable[Network]) -> None:
    """IPAM.Config[0] of a create request: Subnet, Gateway, IPRange checked with dockerd's wording."""
    raw = cfg["Subnet"]
    try:
        subnet = ipaddress.IPv4Network(raw, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid CIDR address: {raw}") from None
    for other in others:
        if other.subnet and overlaps(other.subnet, str(subnet)):
            raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
    gw = cfg.get("Gateway") or ""
    if gw:
        try:
            ok = ipaddress.IPv4Address(gw) in subnet
        except ValueError:
            ok = False
        if not ok:
            raise InvalidParameter(f"no matching subnet for gateway {gw}")
    ip_range = cfg.get("IPRange") or ""
    if ip_range:
        try:
            ok = ipaddress.IPv4Network(ip_range, strict=False).subnet_of(subnet)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise InvalidParameter(f"no matching subnet for range {ip_range}")
    net.subnet = str(subnet)
    net.gateway = gw or str(next(subnet.hosts()))
    net.ip_range = ip_range
    shown: dict[str, Any] = {"Subnet": raw}
    if ip_range:
        shown["IPRange"] = ip_range
    if gw:  # dockerd shows the IPAM config as given: no Gateway unless one was asked for
        shown["Gateway"] = gw
    if cfg.get("AuxiliaryAddresses"):
        shown["AuxiliaryAddresses"] = cfg["AuxiliaryAddresses"]
    net.ipam_config = [shown]


def used_ips(state: NetState, net: Network) -> set[str]:
    used = {ep.ip for _, ep in state.endpoints_on(net) if ep.ip}
    used |= state.quarantine.get(net.id, set())
    used.add(net.gateway)
    return used


def allocate(net: Network, used: set[str], requested: str) -> str:
    """`requested` (a static IPv4Address) if free, else the first free address of IPRange or the subnet."""
    subnet = ipaddress.IPv4Network(net.subnet)
    if requested:
        try:
            addr = ipaddress.IPv4Address(requested)
        except ValueError:
            raise InvalidParameter(f"invalid IPv4 address: {requested}") from None
        if addr not in subnet:
            raise InvalidParameter(
                f"no available IPv4 addresses on this network's address pools: {net.name} ({net.id})"
            )
        if requested in used:
            raise Forbidden("Address already in use")
        return requested
    rng = ipaddress.IPv4Network(net.ip_range) if net.ip_range else subnet
    # the range's own first/last addresses are usable: only the subnet's network/broadcast are not
    edges = {subnet.network_address, subnet.broadcast_address}
    for addr in rng if net.ip_range else subnet.hosts():
        if addr not in edges and str(addr) not in used:
            return str(addr)
    raise Forbidden(_no_addresses(net))


def _no_addresses(net: Network) -> str:
    return f"no available IPv4 addresses on this network's address pools: {net.name} ({net.id})"


def static_ip(net: Network, ep: Endpoint) -> str:
    """The endpoint's IPAMConfig.IPv4Address, refused where dockerd refuses it."""
    want: str = (ep.ipam_config or {}).get("IPv4Address") or ""
    if want and (net.predefined or not any(c.get("Subnet") for c in net.ipam_config if not net.predefined)):
        raise InvalidParameter(
            "user specified IP address is supported on user defined networks only"
            if net.predefined
            else "user specified IP address is supported only when connecting to networks with user configured subnets"
        )
    return want


def mac_for(ip: str) -> str:
    """dockerd's genMAC: 02:42 followed by the four bytes of the IPv4 address."""
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)
