"""Engine layer, networks: the network service's verbs, dockerd's daemon/network.go + libnetwork's bridge driver.

Networks: the predefined `bridge` (the daemon's own bridge, `--bridge`/`--bip`), `host` and
`none`, plus user-defined bridge networks. Endpoints: per container (store kind `endpoints`),
configured at create/connect and made live by `attach` at start (namespace, veth, address,
published ports, embedded DNS, hosts files), undone by `detach` at stop/failure/removal.
The shared tables change under one lock (IPAM and the firewall are rendered from the whole
state); a start's kernel work and files are done outside it, under the container's own lock.

The rooms: state.py (the tables, lookups), ipam.py (pools, subnets, addresses), endpoints.py
(configuration and veth wiring), publish.py (port specs, host ports, firewall state),
dnsrecords.py (what 127.0.0.11 answers), files.py (hosts/resolv.conf, legacy links),
attach.py (a start's attach: reserved under the shared lock, wired beside runc's create).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from shim.config import Settings
from shim.engine import validation
from shim.engine.events import Events
from shim.engine.model import Container
from shim.engine.netmodel import Attachment, ContainerNet, Endpoint, EndpointView, Network
from shim.engine.netports import DnsServerPort, FirewallPort, NetFilesPort, NetlinkPort, PortReserverPort
from shim.engine.networks import endpoints as eps
from shim.engine.networks import ipam as ipam_
from shim.engine.networks.attach import Attacher
from shim.engine.networks.dnsrecords import DnsRecords
from shim.engine.networks.endpoints import Wiring
from shim.engine.networks.files import ContainerFiles
from shim.engine.networks.locks import KeyedLocks
from shim.engine.networks.state import ENDPOINTS, NETWORKS, NetState
from shim.engine.store import Store
from shim.errors import Conflict, Forbidden, InvalidParameter, NotFound, ShimError

log = logging.getLogger("shim.networks")

PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE = "shim0"


class NetworkService:
    def __init__(
        self,
        *,
        store: Store,
        events: Events,
        settings: Settings,
        netlink: NetlinkPort,
        firewall: FirewallPort,
        dns: DnsServerPort,
        ports: PortReserverPort,
        files: NetFilesPort,
        data_root: str = "",
    ) -> None:
        self._store, self._events, self._settings = store, events, settings
        self._nl, self._fw, self._dns, self._ports, self._files = netlink, firewall, dns, ports, files
        self.data_root = data_root or settings.data_root
        self.bridge_name = settings.bridge or DEFAULT_BRIDGE
        self.state = NetState(store)
        self.records = DnsRecords(self.state, dns)
        self.files = ContainerFiles(self.state, files, self.records)
        self.wiring = Wiring(self.state, netlink, firewall, ports, self.records)
        # The shared tables (IPAM, host ports, networks) change under one lock; operations on one
        # container (attach, detach, connect, disconnect) are also serialised by its own lock,
        # taken first, so an attach can wire outside the shared one (docs/NETWORKING.md).
        self._lock = asyncio.Lock()
        self._each = KeyedLocks()
        self._restored = False
        self._attacher = Attacher(
            state=self.state,
            wiring=self.wiring,
            files=self.files,
            records=self.records,
            netlink=netlink,
            ports=ports,
            data_root=self.data_root,
            shared=self._lock,
            each=self._each,
            connected=self._connected,
        )

    def bind_containers(self, get: Callable[[str], Container]) -> None:
        """The container engine's lookup by ref (NotFound if none): for container:<ref> and links."""
        self.state.bind_containers(get)

    # ------------------------------------------------------------ lookup

    def networks(self) -> list[Network]:
        return self.state.networks()

    def get(self, ref: str) -> Network:
        return self.state.get(ref)

    def default_bridge(self) -> Network:
        return self.state.default_bridge()

    def host_gateway(self) -> str:
        return self.state.default_bridge().gateway

    def endpoints_on(self, net: Network) -> list[tuple[ContainerNet, Endpoint]]:
        return self.state.endpoints_on(net)

    def lookup_a(self, cid: str, name: str) -> list[str] | None:
        return self.records.lookup_a(cid, name)

    def lookup_ptr(self, cid: str, ip: str) -> str | None:
        return self.records.lookup_ptr(cid, ip)

    def configured(self, c: Container) -> ContainerNet:
        """The endpoints a create request asks for; NotFound for a network (NetworkMode or
        EndpointsConfig) that does not exist, as dockerd at create."""
        return eps.configured(self.state, c)

    def view(self, c: Container) -> EndpointView:
        """The container's network facts, for inspect's and list's NetworkSettings (translate.networks)."""
        nets = self.state.nets
        try:
            cn = self.state.cn.get(c.id) or eps.configured(self.state, c)
        except NotFound:  # its network was removed since: inspect still works, start will fail
            cn = ContainerNet(cid=c.id, name=c.name, mode=c.host_config.get("NetworkMode") or "")
        shown = {nid: nets[nid] for nid in cn.endpoints if nid in nets}
        if cn.mode in ("host", "none"):
            shown.update({n.id: n for n in nets.values() if n.predefined and n.name == cn.mode})
        return EndpointView(
            net=cn,
            networks=shown,
            mode=cn.mode,
            exposed=sorted((c.config.get("ExposedPorts") or {}).keys()),
            port_bindings=c.host_config.get("PortBindings") or {},
        )

    def owners(self) -> dict[str, bool]:
        """Containers with an endpoints record (a lease), and whether their attachment is live: the
        container service releases those whose container does not run (a start or a stop cut by a
        crash) and forgets those of containers that no longer exist."""
        return {cid: cn.live for cid, cn in self.state.cn.items()}

    def paths(self, c: Container) -> dict[str, str]:
        """hosts_path / hostname_path / resolv_conf_path for inspect (dockerd shows them once started)."""
        cn = self.state.cn.get(c.id)
        files = cn.files if cn is not None else {}
        return {
            "hosts_path": files.get("hosts", ""),
            "hostname_path": files.get("hostname", ""),
            "resolv_conf_path": files.get("resolv_conf", ""),
        }

    # ------------------------------------------------------------ restore / close

    async def restore(self) -> None:
        if not self._restored:  # every attach asks: no trip through the shared lock once done
            await self._restore_once()

    async def _restore_once(self) -> None:
        async with self._lock:
            if self._restored:
                return
            await self._restore()
            self._restored = True

    async def _restore(self) -> None:
        st = self.state
        for oid, d in (await asyncio.to_thread(self._store.load_all, NETWORKS)).items():
            st.nets[oid] = Network.from_dict(d)
        await self._predefined()
        records: dict[str, ContainerNet] = {}
        for oid, d in (await asyncio.to_thread(self._store.load_all, ENDPOINTS)).items():
            try:
                records[oid] = ContainerNet.from_dict(d)
            except (TypeError, KeyError, ValueError, AttributeError) as e:  # never fatal to a start
                log.error("endpoints of %s: unreadable record, skipped: %s", oid, e)
        # every live pin checked in one thread hop (a hop each was ~50 ms of CPU at 500, issue 17)
        pinned = await self._nl.pinned_paths([cn.netns for cn in records.values() if cn.live and cn.owns_netns])
        for oid, cn in records.items():
            if cn.live and cn.owns_netns and cn.netns not in pinned and not await self.wiring.repin(cn):
                cn.live = False  # the namespace is gone (host reboot): nothing of it is live any more
            st.cn[oid] = cn
        await self._nl.sysctl("net/ipv4/ip_forward", "1")
        await self.files.host_resolv()
        for n in st.nets.values():
            if n.driver == "bridge":
                await self._nl.ensure_bridge(n.bridge, n.gateway, n.prefix, n.mtu, owner=n.id)
        await self._reconcile()
        for cn in st.cn.values():
            if not cn.live:
                continue
            for p in cn.ports:
                try:
                    self._ports.reserve(p.proto, p.host_ip, p.host_port)
                except ShimError as e:
                    log.warning("restore: port %s of %s: %s", p.host_port, cn.cid, e)
            await self.records.serve(cn)
        await self.wiring.apply_firewall()

    async def _reconcile(self) -> None:
        """Remove what is ours on the host but belongs to no network or live container."""
        st = self.state
        live = {cid for cid, cn in st.cn.items() if cn.live}
        veths = {ep.veth for cn in st.cn.values() if cn.live for ep in cn.endpoints.values() if ep.veth}
        bridges = {n.bridge for n in st.nets.values() if n.driver == "bridge"}
        for ifname, kind, _owner in await self._nl.our_links():
            if (kind == "bridge" and ifname not in bridges) or (kind == "veth" and ifname not in veths):
                await self._nl.delete_link(ifname)
        for cid in await self._nl.list_netns():
            if cid not in live:
                await self._nl.delete_netns(self._nl.netns_path(cid))
        for cn in st.cn.values():
            if not cn.live and any(ep.endpoint_id for ep in cn.endpoints.values()):
                eps.clear_live(cn)
                try:
                    await st.save_cn(cn)
                except ShimError as e:  # a full disk: the record is cleared again at the next start
                    log.error("restore: saving the endpoints of %s: %s", cn.cid, e)

    async def close(self) -> None:
        await self.wiring.settle()
        await self.records.close()
        self._ports.close()
        if not any(cn.live for cn in self.state.cn.values()):
            # Nothing runs: leave no bridge or rule behind (restore recreates them).
            async with self._lock:
                # only bridges this daemon made (marked as ours): one an administrator made and
                # named with --bridge or com.docker.network.bridge.name stays
                ours = {name for name, kind, _ in await self._nl.our_links() if kind == "bridge"}
                for n in self.state.nets.values():
                    if n.driver == "bridge" and n.bridge in ours:
                        await self._nl.delete_link(n.bridge)
                await self._fw.remove_all()
        self._nl.close()

    async def _predefined(self) -> None:
        have = {n.name: n for n in self.state.nets.values() if n.predefined}
        before = {name: n.to_dict() for name, n in have.items()}
        now = time.time_ns()
        for name, driver in (("none", "null"), ("host", "host"), ("bridge", "bridge")):
            if name not in have:
                net = Network(
                    id=secrets.token_hex(32), name=name, driver=driver, created=now, predefined=True, ipam_options=None
                )
                self.state.nets[net.id] = net
                have[name] = net
        br = have["bridge"]
        changed = br.bridge != self.bridge_name
        bip = self._settings.bip or ""
        if bip:
            iface = ipaddress.IPv4Interface(bip)
            subnet, gateway = str(iface.network), str(iface.ip)
            changed |= (subnet, gateway) != (br.subnet, br.gateway)
        elif not br.subnet or changed:
            subnet = str(await self._pick_subnet(exclude=br.id))
            gateway = str(next(ipaddress.IPv4Network(subnet).hosts()))
            changed = True
        else:
            subnet, gateway = br.subnet, br.gateway
        if changed and br.subnet and br.bridge:
            await self._nl.delete_link(br.bridge)  # the daemon's flags changed since last time
        br.bridge, br.subnet, br.gateway = self.bridge_name, subnet, gateway
        br.ipam_config = [{"Subnet": subnet, "Gateway": gateway}]
        br.options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": self.bridge_name,
            "com.docker.network.driver.mtu": "1500",
        }
        for name, n in have.items():
            if before.get(name) != n.to_dict():  # unchanged: no write (a full disk must not stop a start)
                await self.state.save_net(n)

    async def _pick_subnet(self, exclude: str = "") -> ipaddress.IPv4Network:
        taken = [n.subnet for n in self.state.nets.values() if n.subnet and n.id != exclude]
        taken += await self._nl.routed_subnets()
        return ipam_.pick_subnet(taken)

    def _event(self, action: str, n: Network, **attrs: str) -> None:
        self._events.publish("network", action, n.id, {**attrs, "name": n.name, "type": n.driver})

    # ------------------------------------------------------------ network CRUD

    async def create(
        self,
        *,
        name: str | None,
        driver: str = "bridge",
        ipam: dict[str, Any] | None = None,
        internal: bool = False,
        attachable: bool = False,
        ingress: bool = False,
        enable_ipv6: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> tuple[Network, str]:
        await self.restore()
        driver = driver or "bridge"
        if not name:
            raise InvalidParameter("network name is required" if name is None else 'invalid name: ""')
        validation.network_create(name, options, labels)  # the one name rule (engine/validation/names.py)
        if name in PREDEFINED or driver in ("host", "null"):
            raise Forbidden(
                f"{name} is a pre-defined network and cannot be created"
                if name in PREDEFINED
                else f'only one instance of "{driver}" network is allowed'
            )
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        ipam = ipam or {}
        configs = [c for c in (ipam.get("Config") or []) if c]
        nets = self.state.nets
        async with self._lock:
            if any(n.name == name for n in nets.values()):
                raise Conflict(f"network with name {name} already exists")
            net_id = secrets.token_hex(32)
            net = Network(
                id=net_id,
                name=name,
                driver="bridge",
                created=time.time_ns(),
                internal=bool(internal),
                attachable=bool(attachable),
                ingress=bool(ingress),
                enable_ipv6=bool(enable_ipv6),
                labels=dict(labels or {}),
                options=dict(options or {}),
                ipam_driver=ipam.get("Driver") or "default",
                ipam_options=ipam.get("Options") if ipam.get("Options") is not None else {},
            )
            v4 = [c for c in configs if ":" not in (c.get("Subnet") or "")]
            if v4 and v4[0].get("Subnet"):
                ipam_.set_user_subnet(net, v4[0], nets.values())
            else:
                subnet = await self._pick_subnet()
                net.subnet, net.gateway = str(subnet), str(next(subnet.hosts()))
                net.ipam_config = [{"Subnet": net.subnet, "Gateway": net.gateway}]
            net.bridge = net.options.get("com.docker.network.bridge.name") or f"br-{net_id[:12]}"
            if any(n.bridge == net.bridge for n in nets.values()):
                raise Conflict(f"bridge {net.bridge} already in use")
            mtu = net.options.get("com.docker.network.driver.mtu")
            if mtu:
                try:
                    net.mtu = int(mtu)
                except ValueError:
                    raise InvalidParameter(f"invalid MTU value: {mtu}") from None
            await self._nl.ensure_bridge(net.bridge, net.gateway, net.prefix, net.mtu, owner=net.id)
            nets[net.id] = net
            try:
                await self.state.save_net(net)
                await self.wiring.apply_firewall()
            except BaseException:
                nets.pop(net.id, None)
                await self.state.delete_net(net.id)
                await self._nl.delete_link(net.bridge)
                raise
        self._event("create", net)
        return net, ""

    async def remove(self, ref: str) -> None:
        await self.restore()
        net = self.get(ref)
        if net.predefined:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        async with self._lock:
            if self.state.endpoints_on(net):
                raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints")
            self.state.nets.pop(net.id, None)
            await self.state.delete_net(net.id)
            await self._nl.delete_link(net.bridge)
            await self.wiring.apply_firewall()
        self._event("destroy", net)

    async def prune(self, keep: Callable[[Network], bool]) -> list[str]:
        """Removes unused user-defined networks that `keep` (the filters) selects; their names."""
        await self.restore()
        removed = []
        for net in self.networks():
            if net.predefined or not keep(net) or self.state.endpoints_on(net):
                continue
            try:
                await self.remove(net.id)
            except ShimError:
                continue
            removed.append(net.name)
        return removed

    # ------------------------------------------------------------ attach / detach (container start, stop)

    async def attach(self, c: Container, *, early: bool = False) -> Attachment:
        """At start: namespace, endpoints, ports, DNS, hosts files (attach.py). Nothing left behind
        on failure. `early` (a start): back once what runc's create needs exists, the rest in
        `Attachment.wired`, joined before the process runs."""
        await self.restore()
        return await self._attacher.attach(c, early=early)

    def _connected(self, c: Container, cn: ContainerNet) -> None:
        for nid in cn.order:
            if nid in self.state.nets:
                self._event("connect", self.state.nets[nid], container=c.id)

    async def detach(self, cid: str, *, remove: bool = False) -> None:
        """At stop, failed start and removal (idempotent). `remove` forgets the container's endpoints."""
        await self.restore()
        async with self._each.hold(cid), self._lock:
            cn = self.state.cn.get(cid)
            if cn is None:
                return
            was = [nid for nid in cn.order if cn.endpoints.get(nid) and cn.endpoints[nid].endpoint_id]
            await self.wiring.unplug(cn, background=True, save=not remove)
            if remove:
                self.state.cn.pop(cid, None)
                await self.state.delete_cn(cid)
        for nid in was:
            if nid in self.state.nets:
                self._event("disconnect", self.state.nets[nid], container=cid)

    # ------------------------------------------------------------ connect / disconnect (API)

    async def connect(
        self, net_ref: str, c: Container, endpoint_config: dict[str, Any] | None, *, running: bool
    ) -> None:
        """POST /networks/{id}/connect, on created and running containers."""
        await self.restore()
        net = self.get(net_ref)
        epc = endpoint_config or {}
        nets = self.state.nets
        async with self._each.hold(c.id), self._lock:
            cn = eps.record(self.state, c)
            if net.driver == "host" or cn.mode == "host":
                raise Forbidden("container cannot be disconnected from host network or connected to host network")
            if cn.mode == "none" or cn.mode.startswith("container:") or net.driver == "null":
                raise Forbidden(
                    "container sharing network namespace with another container or host cannot be "
                    "connected to any other network"
                )
            if net.id in cn.endpoints:
                raise Forbidden(f"endpoint with name {c.name} already exists in network {net.name}")
            eps.add_config(cn, net, epc)
            if net.is_default_bridge and epc.get("Aliases"):
                cn.endpoints[net.id].aliases = []  # dockerd: no aliases on the default bridge
            if running and cn.live and cn.owns_netns:
                has_route = any(
                    nets[n].driver == "bridge" and not nets[n].internal
                    for n in cn.order
                    if n != net.id and n in nets and cn.endpoints[n].endpoint_id
                )
                try:
                    if not await self.wiring.repin(cn):
                        raise Conflict(f"Container {c.id} is not running")
                    await self.wiring.plug(c, cn, net, default_route=not has_route)
                    await self.records.serve(cn)
                    await self.wiring.apply_firewall()
                except BaseException:
                    ep = cn.endpoints.pop(net.id)
                    cn.order.remove(net.id)
                    if ep.veth:
                        await self._nl.remove_endpoint(ep.veth)
                    raise
            await self.state.save_cn(cn)
        if running and cn.live:
            self._event("connect", net, container=c.id)

    async def disconnect(self, net_ref: str, c: Container, *, force: bool = False) -> None:
        await self.restore()
        net = self.get(net_ref)
        async with self._each.hold(c.id), self._lock:
            cn = eps.record(self.state, c)
            if cn.mode == "host" or net.driver == "host":
                raise Forbidden("container cannot be disconnected from host network or connected to host network")
            if net.id not in cn.endpoints:
                raise Forbidden(f"container {c.id} is not connected to network {net.name}")
            was_live = await self.wiring.unplug_one(cn, net)
            if was_live:
                if not self.state.uses_embedded_dns(cn):
                    await self.records.stop(cn.cid)
                await self.wiring.apply_firewall()
        if was_live:
            self._event("disconnect", net, container=c.id)

    async def rename(self, cid: str, name: str) -> None:
        """The embedded DNS answers the new name at once (dockerd updates its service records)."""
        cn = self.state.cn.get(cid)
        if cn is not None:
            cn.name = name
            await self.state.save_cn(cn)

    async def stats(self, cid: str) -> dict[str, dict[str, int]]:
        """Docker's stats `networks`: per container interface, counted on the host end of its veth
        (what the host receives is what the container sent, so rx and tx swap)."""
        cn = self.state.cn.get(cid)
        out: dict[str, dict[str, int]] = {}
        if cn is None or not cn.live:
            return out
        for nid in cn.order:
            ep = cn.endpoints.get(nid)
            if ep is None or not ep.veth:
                continue
            host = await self._nl.link_stats(ep.veth)
            out[ep.ifname] = {
                k.replace("rx_", "TX_").replace("tx_", "rx_").replace("TX_", "tx_"): v for k, v in host.items()
            }
        return out
