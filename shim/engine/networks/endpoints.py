"""Engine layer, networks: endpoints, configured and wired.

Configuration: a container's endpoints as its create request asked (NetworkMode, NetworkingConfig),
kept in NetState.cn. Wiring: a veth pair per endpoint through the netlink adapter (address from
IPAM, dockerd's MAC), and the undoing of everything live at stop, failure and removal.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from shim.engine.model import Container
from shim.engine.netmodel import ContainerNet, Endpoint, Network
from shim.engine.netports import FirewallPort, NetlinkPort, PortReserverPort
from shim.engine.networks import ipam
from shim.engine.networks.dnsrecords import DnsRecords
from shim.engine.networks.publish import firewall_state
from shim.engine.networks.state import NetState
from shim.errors import InvalidParameter, ShimError

log = logging.getLogger("shim.networks")


# ------------------------------------------------------------------ configuration


def resolve_mode(state: NetState, c: Container) -> str:
    """NetworkMode as the service keeps it: bridge | host | none | container:<ref> | a network ID."""
    mode = c.host_config.get("NetworkMode") or "default"
    if mode in ("default", "bridge"):
        return "bridge"
    if mode in ("host", "none") or mode.startswith("container:"):
        return mode
    return state.get(mode).id


def configured(state: NetState, c: Container) -> ContainerNet:
    """A container's endpoints as its create request asked (before any connect/disconnect)."""
    mode = resolve_mode(state, c)
    cn = ContainerNet(cid=c.id, name=c.name, mode=mode)
    if mode == "host" or mode == "none" or mode.startswith("container:"):
        return cn
    main = state.default_bridge() if mode == "bridge" else state.nets[mode]
    cfgs = (c.networking_config or {}).get("EndpointsConfig") or {}
    for key, epc in cfgs.items():
        # a network that does not exist is refused (at create, through validate: see docs/API-VERSIONS.md)
        net = main if key in ("default", "bridge") and mode == "bridge" else state.get(key)
        add_config(cn, net, epc or {})
    if main.id not in cn.endpoints:
        add_config(cn, main, {})
    cn.order.remove(main.id)
    cn.order.insert(0, main.id)
    return cn


def add_config(cn: ContainerNet, net: Network, epc: dict[str, Any]) -> None:
    """One EndpointSettings of a create or connect request."""
    cn.endpoints[net.id] = Endpoint(
        network_id=net.id,
        aliases=list(epc.get("Aliases") or []),
        ipam_config=epc.get("IPAMConfig") or None,
        links=epc.get("Links") or None,
        driver_opts=epc.get("DriverOpts") or None,
        desired_mac=(epc.get("MacAddress") or "").lower(),
    )
    if net.id not in cn.order:
        cn.order.append(net.id)


def record(state: NetState, c: Container) -> ContainerNet:
    """The container's kept record, made from its configuration when new."""
    cn = state.cn.get(c.id)
    if cn is None or (not cn.live and cn.mode != resolve_mode(state, c)):
        # new, or NetworkMode replaced by a pre-1.24 start body: start over from the config
        cn = state.cn[c.id] = configured(state, c)
    cn.name = c.name
    return cn


def wired_before_create(c: Container) -> bool:
    """runc's create writes the net.* sysctls inside the namespace, and one that names an interface
    (net.ipv4.conf.eth0.rp_filter) needs it there already, as dockerd has it (its endpoints join
    before the task is created): such a start is wired whole before the runtime's create."""
    return any(k.startswith("net.") for k in c.host_config.get("Sysctls") or {})


def clear_live(cn: ContainerNet) -> None:
    for ep in cn.endpoints.values():
        clear_endpoint(ep)
    cn.live, cn.netns, cn.owns_netns, cn.sandbox_id, cn.ports = False, "", False, "", []


def clear_endpoint(ep: Endpoint) -> None:
    ep.endpoint_id, ep.ip, ep.prefix, ep.gateway, ep.mac, ep.veth, ep.ifname = "", "", 0, "", "", "", ""


def _hex(n: int) -> str:
    return secrets.token_hex(n // 2 + 1)[:n]


# ------------------------------------------------------------------ wiring


class Wiring:
    """The host side of endpoints: veths, host ports, firewall; called under the service's lock."""

    def __init__(
        self,
        state: NetState,
        netlink: NetlinkPort,
        firewall: FirewallPort,
        ports: PortReserverPort,
        records: DnsRecords,
    ) -> None:
        self._state = state
        self._nl = netlink
        self._fw = firewall
        self._ports = ports
        self._records = records
        self._background: set[asyncio.Task[None]] = set()

    async def repin(self, cn: ContainerNet) -> bool:
        """A namespace pin of ours that vanished (unmounted by an administrator or another tool)
        while its container still runs is made again from the container's process; False when the
        namespace itself is gone."""
        if not cn.netns or cn.netns == "host" or await self._nl.pinned(cn.netns):
            return True
        try:
            pid = self._state.container(cn.cid).state.pid
        except ShimError:
            pid = 0
        if not pid:
            return False
        try:
            await self._nl.pin_netns(cn.netns, pid, cn.cid)
        except ShimError:  # its process is gone too
            return False
        log.warning("network namespace of %s had vanished from %s: pinned again", cn.cid, cn.netns)
        return True

    async def ensure_bridge_of(self, net: Network) -> None:
        """A bridge of ours that vanished (removed by an administrator or another daemon) is made
        again at its next use, with the veths of its running containers back on it: never a 500
        `bridge … not found`."""
        if await self._nl.link_exists(net.bridge):
            return
        log.warning("bridge %s of network %s vanished: making it again", net.bridge, net.name)
        await self._nl.ensure_bridge(net.bridge, net.gateway, net.prefix, net.mtu, owner=net.id)
        for _, ep in self._state.endpoints_on(net):
            if ep.veth:
                await self._nl.enslave(ep.veth, net.bridge)

    async def apply_firewall(self) -> None:
        # The state is built by the adapter under its lock: the latest state always wins.
        await self._fw.apply(lambda: firewall_state(self._state))

    async def plug(self, c: Container, cn: ContainerNet, net: Network, *, default_route: bool) -> None:
        """A veth into the container's namespace on `net`, with an address from IPAM."""
        self.reserve(c, cn, net)
        await self.wire(c, cn, net, default_route=default_route)

    def reserve(self, c: Container, cn: ContainerNet, net: Network) -> None:
        """What the shared tables decide for the endpoint on `net`: address, MAC, IDs, names.
        Synchronous, so two reservations never interleave (call under the service's lock): the
        endpoint counts as used (IPAM, `network rm`) from here on, before any link exists."""
        if net.driver != "bridge":
            raise InvalidParameter(f"container cannot be connected to network {net.name}")
        ep = cn.endpoints[net.id]
        ep.ip = ipam.allocate(net, ipam.used_ips(self._state, net), ipam.static_ip(net, ep))
        ep.prefix, ep.gateway = net.prefix, net.gateway
        ep.mac = ep.desired_mac or ipam.mac_for(ep.ip)  # a MAC asked for at create/connect is the one it gets
        ep.endpoint_id = secrets.token_hex(32)
        ep.veth = "veth" + _hex(7)
        ep.ifname = f"eth{sum(1 for e in cn.endpoints.values() if e.ifname)}"

    async def wire(self, c: Container, cn: ContainerNet, net: Network, *, default_route: bool) -> None:
        """The reserved endpoint's veth pair, its peer configured in the container's namespace.
        Touches only this container's endpoint and the kernel: needs no service-wide lock."""
        ep = cn.endpoints[net.id]
        gw = net.gateway if default_route and not net.internal else None

        async def add() -> None:
            await self._nl.add_endpoint(
                netns=cn.netns,
                bridge=net.bridge,
                host_if=ep.veth,
                ifname=ep.ifname,
                address=ep.ip,
                prefix=ep.prefix,
                gateway=gw,
                mac=ep.mac,
                mtu=net.mtu,
                owner=c.id,
            )

        try:
            try:
                await add()
            except ShimError:
                # The bridge is looked at only when the pair could not be made (a thread hop less
                # per start, issue 17): one that vanished is made again, and the pair retried once.
                if await self._nl.link_exists(net.bridge):
                    raise
                await self.ensure_bridge_of(net)
                await add()
        except BaseException:
            clear_endpoint(ep)
            raise

    async def unplug(self, cn: ContainerNet, *, background: bool = False, save: bool = True) -> None:
        """Undo everything live of the container (idempotent); its record is saved (`save=False`:
        the caller deletes it next, a removal; a crash in between leaves a record whose netns is
        gone, which the restore takes as not live)."""
        await self._records.stop(cn.cid)
        for p in cn.ports:
            self._ports.release(p.proto, p.host_ip, p.host_port)
        veths = [(ep.network_id, ep.ip, ep.veth) for ep in cn.endpoints.values() if ep.veth]
        if cn.owns_netns and cn.netns and cn.netns != "host":
            try:
                await self._nl.delete_netns(cn.netns)
            except Exception:
                log.exception("removing netns %s", cn.netns)
        had_ports = bool(cn.ports)
        clear_live(cn)
        if background:
            # Deleting a veth waits ~20-30 ms for the kernel (RCU) and an nft commit 10-40 ms; a stop
            # need not wait for either. The addresses stay out of IPAM until their links are really
            # gone (no two bridge ports with one MAC); a stale DNAT rule meanwhile leads nowhere.
            for nid, ip, _ in veths:
                self._state.quarantine.setdefault(nid, set()).add(ip)
            if veths or had_ports:
                task = asyncio.get_running_loop().create_task(self._release_links(veths, had_ports))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        else:
            await self._remove_veths(veths)
            await self.apply_firewall()
        if save:
            await self._state.save_cn(cn)

    async def unplug_one(self, cn: ContainerNet, net: Network) -> bool:
        """Take one network's endpoint away (disconnect), its record saved; True if it was live."""
        ep = cn.endpoints[net.id]
        was_live = bool(ep.endpoint_id)
        for p in [p for p in cn.ports if p.network_id == net.id]:
            self._ports.release(p.proto, p.host_ip, p.host_port)
            cn.ports.remove(p)
        del cn.endpoints[net.id]
        cn.order.remove(net.id)
        # the record first, then the link (docs/RELIABILITY.md): a crash in between leaves a
        # veth no record names, which the next start removes, never a lease without its link
        await self._state.save_cn(cn)
        if ep.veth:
            await self._nl.remove_endpoint(ep.veth)
        return was_live

    async def _release_links(self, veths: list[tuple[str, str, str]], firewall: bool) -> None:
        if firewall:
            try:
                await self.apply_firewall()
            except Exception:
                log.exception("firewall update after a stop")
        await self._remove_veths(veths)

    async def _remove_veths(self, veths: list[tuple[str, str, str]]) -> None:
        for nid, ip, veth in veths:
            try:
                await self._nl.remove_endpoint(veth)
            except Exception:
                log.exception("removing %s", veth)
            finally:
                self._state.quarantine.get(nid, set()).discard(ip)

    async def settle(self) -> None:
        """Let the links and rules still being removed in the background go (daemon shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
