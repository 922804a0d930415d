"""Engine layer, networks: published ports and the firewall state they and the networks make.

Port specs are checked with dockerd's wording (at create and start, verifyContainerSettings);
host ports are held by the port-reserver adapter so another program gets "port is already
allocated"; the firewall adapter is given the whole state (bridges and DNAT rules) each time.
"""

from __future__ import annotations

from typing import Any

from shim.engine.model import Container
from shim.engine.netmodel import ContainerNet, Endpoint, PortMapping
from shim.engine.netports import BridgeRules, FirewallState, PortReserverPort, PortRule
from shim.engine.networks.state import NetState
from shim.engine.validation.ports import check_bindings, parse_host_port, parse_port_key
from shim.errors import ShimError, SystemFailure


def validate_port_bindings(host_config: dict[str, Any]) -> None:
    """verifyContainerSettings' check of PortBindings (call at create and start): the one port
    parser of engine/validation/ports.py."""
    check_bindings(host_config.get("PortBindings"))


def publish(state: NetState, ports: PortReserverPort, c: Container, cn: ContainerNet) -> None:
    """PortBindings and (PublishAllPorts) ExposedPorts on the first bridge network, into cn.ports."""
    hc = c.host_config
    nid = next((n for n in cn.order if n in state.nets and state.nets[n].driver == "bridge"), None)
    if nid is None:
        return
    net = state.nets[nid]
    ep = cn.endpoints[nid]
    bindings: dict[str, list[dict[str, Any]]] = {k: list(v or []) for k, v in (hc.get("PortBindings") or {}).items()}
    if hc.get("PublishAllPorts"):
        for key in c.config.get("ExposedPorts") or {}:
            if not bindings.get(key):
                bindings[key] = [{"HostIp": "", "HostPort": ""}]
    for key, blist in sorted(bindings.items()):
        first, last, proto = parse_port_key(key)
        if proto == "sctp":
            continue
        for b in blist or [{"HostIp": "", "HostPort": ""}]:
            b = b or {}
            host_ip = b.get("HostIp") or ""
            hlo, hhi = parse_host_port(str(b.get("HostPort") or ""))
            for i, cport in enumerate(range(first, last + 1)):
                # a host range as long as the container range maps one to one; else any free one in it
                lo, hi = (hlo + i, hlo + i) if hlo and hhi - hlo == last - first else (hlo, hhi)
                hp = _reserve(ports, c, ep, proto, host_ip, lo, hi)
                cn.ports.append(
                    PortMapping(proto=proto, container_port=cport, host_ip=host_ip, host_port=hp, network_id=net.id)
                )


def _reserve(ports: PortReserverPort, c: Container, ep: Endpoint, proto: str, host_ip: str, lo: int, hi: int) -> int:
    """One host port in [lo, hi] (0: any), with dockerd's error when taken."""
    candidates = range(lo, hi + 1) if lo else [0]
    err: ShimError | None = None
    for port in candidates:
        try:
            return ports.reserve(proto, host_ip, port)
        except ShimError as e:
            err = e
    raise SystemFailure(
        f"driver failed programming external connectivity on endpoint {c.name} ({ep.endpoint_id}): {err}"
    )


def firewall_state(state: NetState) -> FirewallState:
    """The bridges' rules (isolation, masquerade, ICC) and a DNAT rule per live published port."""
    out = FirewallState()
    for n in state.networks():
        if n.driver == "bridge" and n.bridge:
            out.bridges.append(
                BridgeRules(
                    bridge=n.bridge,
                    subnet=n.subnet,
                    internal=n.internal,
                    masquerade=n.options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false",
                    icc=n.options.get("com.docker.network.bridge.enable_icc", "true") != "false",
                )
            )
    for cn in state.cn.values():
        if not cn.live:
            continue
        for p in cn.ports:
            ep = cn.endpoints.get(p.network_id)
            net = state.nets.get(p.network_id)
            if ep is None or net is None or not ep.ip:
                continue
            out.ports.append(
                PortRule(
                    proto=p.proto,
                    host_ip=p.host_ip,
                    host_port=p.host_port,
                    container_ip=ep.ip,
                    container_port=p.container_port,
                    bridge=net.bridge,
                )
            )
    return out
