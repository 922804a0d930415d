"""Engine layer: the network service, dockerd's daemon/network.go + libnetwork's bridge driver.

Networks: the predefined `bridge` (the daemon's own bridge, `--bridge`/`--bip`), `host` and
`none`, plus user-defined bridge networks. Endpoints: per container (store kind `endpoints`),
configured at create/connect and made live by `attach` at start (namespace, veth, address,
published ports, embedded DNS, hosts files), undone by `detach` at stop/failure/removal.
All changes run under one lock: IPAM and the firewall are rendered from the whole state.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from shim.engine import hostsfiles as hf
from shim.engine import validation
from shim.engine.netmodel import (
    Attachment,
    BridgeRules,
    ContainerNet,
    Endpoint,
    EndpointView,
    FirewallState,
    Network,
    PortMapping,
    PortRule,
)
from shim.engine.ports import MountSpec
from shim.engine.validation.ports import check_bindings, parse_host_port, parse_port_key
from shim.errors import Conflict, Forbidden, InvalidParameter, NotFound, ShimError, SystemFailure

log = logging.getLogger("shim.networks")

NETWORKS, ENDPOINTS = "networks", "endpoints"
PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE = "shim0"


def default_pools() -> list[ipaddress.IPv4Network]:
    """dockerd's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    pools = [ipaddress.IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)]
    pools += list(ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20))
    return pools


def _overlaps(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except ValueError:
        return False


def validate_port_bindings(host_config: dict[str, Any]) -> None:
    """verifyContainerSettings' check of PortBindings (call at create and start): the one port
    parser of engine/validation/ports.py."""
    check_bindings(host_config.get("PortBindings"))


def _hex(n: int) -> str:
    return secrets.token_hex(n // 2 + 1)[:n]


class NetworkService:
    def __init__(
        self,
        *,
        store: Any,
        events: Any,
        settings: Any,
        netlink: Any,
        firewall: Any,
        dns: Any,
        ports: Any,
        files: Any,
        data_root: str = "",
    ) -> None:
        self._store, self._events, self._settings = store, events, settings
        self._nl, self._fw, self._dns, self._ports, self._files = netlink, firewall, dns, ports, files
        self.data_root = data_root or getattr(settings, "data_root", "")
        self.bridge_name = getattr(settings, "bridge", "") or DEFAULT_BRIDGE
        self._nets: dict[str, Network] = {}
        self._cn: dict[str, ContainerNet] = {}
        self._lock = asyncio.Lock()
        self._restored = False
        self._get_container: Callable[[str], Any] | None = None
        self._quarantine: dict[str, set[str]] = {}  # network id -> addresses whose veth is being deleted
        self._background: set[asyncio.Task] = set()
        self._host_upstreams: list[str] = list(hf.DEFAULT_NAMESERVERS)

    def bind_containers(self, get: Callable[[str], Any]) -> None:
        """The container engine's lookup by ref (NotFound if none): for container:<ref> and links."""
        self._get_container = get

    # ------------------------------------------------------------ lookup

    def networks(self) -> list[Network]:
        return sorted(self._nets.values(), key=lambda n: n.created)

    def get(self, ref: str) -> Network:
        """dockerd's FindNetwork: full ID, then name, then a unique ID prefix."""
        if ref in self._nets:
            return self._nets[ref]
        by_name = [n for n in self._nets.values() if n.name == ref]
        if by_name:
            return by_name[0]
        by_prefix = [n for n in self._nets.values() if ref and n.id.startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise InvalidParameter(f"network {ref} is ambiguous ({len(by_prefix)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def default_bridge(self) -> Network:
        return next(n for n in self._nets.values() if n.is_default_bridge)

    def host_gateway(self) -> str:
        return self.default_bridge().gateway

    def endpoints_on(self, net: Network) -> list[tuple[ContainerNet, Endpoint]]:
        return [
            (cn, cn.endpoints[net.id])
            for cn in self._cn.values()
            if cn.live and net.id in cn.endpoints and cn.endpoints[net.id].endpoint_id
        ]

    def view(self, c: Any) -> EndpointView:
        """For inspect's NetworkSettings (translate.networks.network_settings)."""
        try:
            cn = self._cn.get(c.id) or self._configured(c)
        except NotFound:  # its network was removed since: inspect still works, start will fail
            cn = ContainerNet(cid=c.id, name=c.name, mode=c.host_config.get("NetworkMode") or "")
        nets = {nid: self._nets[nid] for nid in cn.endpoints if nid in self._nets}
        if cn.mode in ("host", "none"):
            nets.update({n.id: n for n in self._nets.values() if n.predefined and n.name == cn.mode})
        return EndpointView(
            net=cn,
            networks=nets,
            mode=cn.mode,
            exposed=sorted((c.config.get("ExposedPorts") or {}).keys()),
            port_bindings=c.host_config.get("PortBindings") or {},
        )

    def paths(self, c: Any) -> dict[str, str]:
        """hosts_path / hostname_path / resolv_conf_path for inspect (dockerd shows them once started)."""
        cn = self._cn.get(c.id)
        files = cn.files if cn is not None else {}
        return {
            "hosts_path": files.get("hosts", ""),
            "hostname_path": files.get("hostname", ""),
            "resolv_conf_path": files.get("resolv_conf", ""),
        }

    async def _repin(self, cn: ContainerNet) -> bool:
        """A namespace pin of ours that vanished (unmounted by an administrator or another tool)
        while its container still runs is made again from the container's process; False when the
        namespace itself is gone."""
        if not cn.netns or cn.netns == "host" or await self._nl.pinned(cn.netns):
            return True
        pid = 0
        if self._get_container is not None:
            try:
                pid = int(getattr(self._get_container(cn.cid).state, "pid", 0) or 0)
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

    async def _ensure_bridge_of(self, net: Network) -> None:
        """A bridge of ours that vanished (removed by an administrator or another daemon) is made
        again at its next use, with the veths of its running containers back on it: never a 500
        `bridge … not found`."""
        if await self._nl.link_exists(net.bridge):
            return
        log.warning("bridge %s of network %s vanished: making it again", net.bridge, net.name)
        await self._nl.ensure_bridge(net.bridge, net.gateway, net.prefix, net.mtu, owner=net.id)
        for _, ep in self.endpoints_on(net):
            if ep.veth:
                await self._nl.enslave(ep.veth, net.bridge)

    def owners(self) -> dict[str, bool]:
        """Containers with an endpoints record (a lease), and whether their attachment is live: the
        container service releases those whose container does not run (a start or a stop cut by a
        crash) and forgets those of containers that no longer exist."""
        return {cid: cn.live for cid, cn in self._cn.items()}

    # ------------------------------------------------------------ restore / close

    async def restore(self) -> None:
        async with self._lock:
            if self._restored:
                return
            await self._restore()
            self._restored = True

    async def _restore(self) -> None:
        for oid, d in (await asyncio.to_thread(self._store.load_all, NETWORKS)).items():
            self._nets[oid] = Network.from_dict(d)
        await self._predefined()
        for oid, d in (await asyncio.to_thread(self._store.load_all, ENDPOINTS)).items():
            try:
                cn = ContainerNet.from_dict(d)
            except (TypeError, KeyError, ValueError, AttributeError) as e:  # never fatal to a start
                log.error("endpoints of %s: unreadable record, skipped: %s", oid, e)
                continue
            if cn.live and cn.owns_netns and not await self._repin(cn):
                cn.live = False  # the namespace is gone (host reboot): nothing of it is live any more
            self._cn[oid] = cn
        await self._nl.sysctl("net/ipv4/ip_forward", "1")
        host_resolv = hf.parse_resolv_conf(await asyncio.to_thread(self._files.read_host_resolv_conf))
        self._host_upstreams = hf.upstream_nameservers(host_resolv, [])
        for n in self._nets.values():
            if n.driver == "bridge":
                await self._nl.ensure_bridge(n.bridge, n.gateway, n.prefix, n.mtu, owner=n.id)
        await self._reconcile()
        for cn in self._cn.values():
            if not cn.live:
                continue
            for p in cn.ports:
                try:
                    self._ports.reserve(p.proto, p.host_ip, p.host_port)
                except ShimError as e:
                    log.warning("restore: port %s of %s: %s", p.host_port, cn.cid, e)
            await self._serve_dns(cn)
        await self._apply_firewall()

    async def _reconcile(self) -> None:
        """Remove what is ours on the host but belongs to no network or live container."""
        live = {cid for cid, cn in self._cn.items() if cn.live}
        veths = {ep.veth for cn in self._cn.values() if cn.live for ep in cn.endpoints.values() if ep.veth}
        bridges = {n.bridge for n in self._nets.values() if n.driver == "bridge"}
        for ifname, kind, _owner in await self._nl.our_links():
            if (kind == "bridge" and ifname not in bridges) or (kind == "veth" and ifname not in veths):
                await self._nl.delete_link(ifname)
        for cid in await self._nl.list_netns():
            if cid not in live:
                await self._nl.delete_netns(self._nl.netns_path(cid))
        for cn in self._cn.values():
            if not cn.live and any(ep.endpoint_id for ep in cn.endpoints.values()):
                self._clear_live(cn)
                try:
                    await self._save_cn(cn)
                except ShimError as e:  # a full disk: the record is cleared again at the next start
                    log.error("restore: saving the endpoints of %s: %s", cn.cid, e)

    async def close(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._dns.close()
        self._ports.close()
        if not any(cn.live for cn in self._cn.values()):
            # Nothing runs: leave no bridge or rule behind (restore recreates them).
            async with self._lock:
                # only bridges this daemon made (marked as ours): one an administrator made and
                # named with --bridge or com.docker.network.bridge.name stays
                ours = {name for name, kind, _ in await self._nl.our_links() if kind == "bridge"}
                for n in self._nets.values():
                    if n.driver == "bridge" and n.bridge in ours:
                        await self._nl.delete_link(n.bridge)
                await self._fw.remove_all()
        close = getattr(self._nl, "close", None)
        if close is not None:
            close()

    async def _predefined(self) -> None:
        have = {n.name: n for n in self._nets.values() if n.predefined}
        before = {name: n.to_dict() for name, n in have.items()}
        now = time.time_ns()
        for name, driver in (("none", "null"), ("host", "host"), ("bridge", "bridge")):
            if name not in have:
                net = Network(
                    id=secrets.token_hex(32), name=name, driver=driver, created=now, predefined=True, ipam_options=None
                )
                self._nets[net.id] = net
                have[name] = net
        br = have["bridge"]
        changed = br.bridge != self.bridge_name
        bip = getattr(self._settings, "bip", "") or ""
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
                await self._save_net(n)

    async def _pick_subnet(self, exclude: str = "") -> ipaddress.IPv4Network:
        taken = [n.subnet for n in self._nets.values() if n.subnet and n.id != exclude]
        taken += await self._nl.routed_subnets()
        for pool in default_pools():
            if not any(_overlaps(str(pool), t) for t in taken):
                return pool
        raise Forbidden(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
        )

    # ------------------------------------------------------------ persistence helpers

    async def _save_net(self, n: Network) -> None:
        await self._store.aput(NETWORKS, n.id, n.to_dict())

    async def _save_cn(self, cn: ContainerNet) -> None:
        await self._store.aput(ENDPOINTS, cn.cid, cn.to_dict())

    def _event(self, action: str, n: Network, **attrs: str) -> None:
        self._events.publish("network", action, n.id, {**attrs, "name": n.name, "type": n.driver})

    # ------------------------------------------------------------ network CRUD

    async def create(
        self,
        *,
        name: str,
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
        async with self._lock:
            if any(n.name == name for n in self._nets.values()):
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
                self._set_user_subnet(net, v4[0])
            else:
                subnet = await self._pick_subnet()
                net.subnet, net.gateway = str(subnet), str(next(subnet.hosts()))
                net.ipam_config = [{"Subnet": net.subnet, "Gateway": net.gateway}]
            net.bridge = net.options.get("com.docker.network.bridge.name") or f"br-{net_id[:12]}"
            if any(n.bridge == net.bridge for n in self._nets.values()):
                raise Conflict(f"bridge {net.bridge} already in use")
            mtu = net.options.get("com.docker.network.driver.mtu")
            if mtu:
                try:
                    net.mtu = int(mtu)
                except ValueError:
                    raise InvalidParameter(f"invalid MTU value: {mtu}") from None
            await self._nl.ensure_bridge(net.bridge, net.gateway, net.prefix, net.mtu, owner=net.id)
            self._nets[net.id] = net
            try:
                await self._save_net(net)
                await self._apply_firewall()
            except BaseException:
                self._nets.pop(net.id, None)
                await self._store.adelete(NETWORKS, net.id)
                await self._nl.delete_link(net.bridge)
                raise
        self._event("create", net)
        return net, ""

    def _set_user_subnet(self, net: Network, cfg: dict[str, Any]) -> None:
        raw = cfg["Subnet"]
        try:
            subnet = ipaddress.IPv4Network(raw, strict=False)
        except ValueError:
            raise InvalidParameter(f"invalid CIDR address: {raw}") from None
        for other in self._nets.values():
            if other.subnet and _overlaps(other.subnet, str(subnet)):
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

    async def remove(self, ref: str) -> None:
        await self.restore()
        net = self.get(ref)
        if net.predefined:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        async with self._lock:
            if self.endpoints_on(net):
                raise Conflict(f"error while removing network: network {net.name} id {net.id} has active endpoints")
            self._nets.pop(net.id, None)
            await self._store.adelete(NETWORKS, net.id)
            await self._nl.delete_link(net.bridge)
            await self._apply_firewall()
        self._event("destroy", net)

    async def prune(self, keep: Callable[[Network], bool]) -> list[str]:
        """Removes unused user-defined networks that `keep` (the filters) selects; their names."""
        await self.restore()
        removed = []
        for net in self.networks():
            if net.predefined or not keep(net) or self.endpoints_on(net):
                continue
            try:
                await self.remove(net.id)
            except ShimError:
                continue
            removed.append(net.name)
        return removed

    # ------------------------------------------------------------ container endpoints (configuration)

    def _resolve_mode(self, c: Any) -> str:
        mode = c.host_config.get("NetworkMode") or "default"
        if mode in ("default", "bridge"):
            return "bridge"
        if mode in ("host", "none") or mode.startswith("container:"):
            return mode
        return self.get(mode).id

    def _configured(self, c: Any) -> ContainerNet:
        """A container's endpoints as its create request asked (before any connect/disconnect)."""
        mode = self._resolve_mode(c)
        cn = ContainerNet(cid=c.id, name=c.name, mode=mode)
        if mode == "host" or mode == "none" or mode.startswith("container:"):
            return cn
        main = self.default_bridge() if mode == "bridge" else self._nets[mode]
        cfgs = (c.networking_config or {}).get("EndpointsConfig") or {}
        for key, epc in cfgs.items():
            # a network that does not exist is refused (at create, through validate: see docs/API-VERSIONS.md)
            net = main if key in ("default", "bridge") and mode == "bridge" else self.get(key)
            self._add_config(cn, net, epc or {})
        if main.id not in cn.endpoints:
            self._add_config(cn, main, {})
        cn.order.remove(main.id)
        cn.order.insert(0, main.id)
        return cn

    @staticmethod
    def _add_config(cn: ContainerNet, net: Network, epc: dict[str, Any]) -> None:
        aliases = list(epc.get("Aliases") or [])
        cn.endpoints[net.id] = Endpoint(
            network_id=net.id,
            aliases=aliases,
            ipam_config=epc.get("IPAMConfig") or None,
            links=epc.get("Links") or None,
            driver_opts=epc.get("DriverOpts") or None,
            desired_mac=(epc.get("MacAddress") or "").lower(),
        )
        if net.id not in cn.order:
            cn.order.append(net.id)

    def _record(self, c: Any) -> ContainerNet:
        cn = self._cn.get(c.id)
        if cn is None or (not cn.live and cn.mode != self._resolve_mode(c)):
            # new, or NetworkMode replaced by a pre-1.24 start body: start over from the config
            cn = self._cn[c.id] = self._configured(c)
        cn.name = c.name
        return cn

    # ------------------------------------------------------------ attach / detach

    async def attach(self, c: Any) -> Attachment:
        """At start: namespace, endpoints, ports, DNS, hosts files. Nothing left behind on failure."""
        await self.restore()
        validate_port_bindings(c.host_config)
        async with self._lock:
            cn = self._record(c)
            if cn.live:
                await self._detach_locked(cn)
            try:
                att = await self._attach_locked(c, cn)
            except BaseException:
                await self._detach_locked(cn)
                raise
        for nid in cn.order:
            if nid in self._nets:
                self._event("connect", self._nets[nid], container=c.id)
        return att

    async def _attach_locked(self, c: Any, cn: ContainerNet) -> Attachment:
        mode = cn.mode
        cdir = os.path.join(self.data_root, "containers", c.id)
        files = {
            "hosts": os.path.join(cdir, "hosts"),
            "hostname": os.path.join(cdir, "hostname"),
            "resolv_conf": os.path.join(cdir, "resolv.conf"),
        }
        env: list[str] = []
        cn.hostname = c.config.get("Hostname") or c.id[:12]
        cn.sandbox_id = secrets.token_hex(32)
        if mode == "host":
            cn.netns, cn.owns_netns = "host", False
            await asyncio.to_thread(self._write_host_mode_files, files, cn.hostname)
        elif mode.startswith("container:"):
            other = self._lookup_container(mode.split(":", 1)[1])
            ocn = self._cn.get(other.id)
            if ocn is None or not ocn.live or not getattr(other.state, "running", True):
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            if not await self._repin(ocn):
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            cn.netns, cn.owns_netns = ocn.netns, False
            files = dict(ocn.files)  # dockerd shares the other container's files
        else:
            cn.live = True  # from here on, detach has something to undo
            cn.netns = await self._nl.create_netns(c.id)
            cn.owns_netns = True
            # the default route goes through the first network that has a way out (not Internal)
            gw_net = next((n for n in cn.order if n in self._nets and not self._nets[n].internal), None)
            for nid in list(cn.order):
                net = self._nets.get(nid)
                if net is None:
                    raise NotFound(f"network {nid} not found")
                await self._plug(c, cn, net, default_route=(nid == gw_net))
            await self._publish(c, cn)
            env = self._link_env(c, cn)
            cn.upstream_dns = list(c.host_config.get("Dns") or [])
            for nid in cn.order:  # legacy links on a user network are DNS aliases of this container
                if nid in self._nets and not self._nets[nid].predefined and not cn.endpoints[nid].links:
                    cn.endpoints[nid].links = list(c.host_config.get("Links") or []) or None
            await self._write_files(c, cn, files)
            await self._serve_dns(cn)
            await self._apply_firewall()
        cn.files = files
        cn.live = True
        await self._save_cn(cn)
        mounts = [
            MountSpec(destination=d, source=files[k], type="bind", options=["rbind", "rprivate"])
            for k, d in (("resolv_conf", "/etc/resolv.conf"), ("hostname", "/etc/hostname"), ("hosts", "/etc/hosts"))
        ]
        return Attachment(
            netns_path=cn.netns,
            mounts=mounts,
            env=env,
            hosts_path=files["hosts"],
            hostname_path=files["hostname"],
            resolv_conf_path=files["resolv_conf"],
        )

    def _lookup_container(self, ref: str) -> Any:
        if self._get_container is None:
            raise NotFound(f"No such container: {ref}")
        return self._get_container(ref)

    def _used_ips(self, net: Network) -> set[str]:
        used = {ep.ip for _, ep in self.endpoints_on(net) if ep.ip}
        used |= self._quarantine.get(net.id, set())
        used.add(net.gateway)
        return used

    def _allocate(self, net: Network, requested: str) -> str:
        subnet = ipaddress.IPv4Network(net.subnet)
        used = self._used_ips(net)
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
        raise Forbidden(f"no available IPv4 addresses on this network's address pools: {net.name} ({net.id})")

    def _check_static_ip(self, net: Network, ep: Endpoint) -> str:
        want = (ep.ipam_config or {}).get("IPv4Address") or ""
        if want and (net.predefined or not any(c.get("Subnet") for c in net.ipam_config if not net.predefined)):
            raise InvalidParameter(
                "user specified IP address is supported on user defined networks only"
                if net.predefined
                else "user specified IP address is supported only when connecting to networks with "
                "user configured subnets"
            )
        return want

    async def _plug(self, c: Any, cn: ContainerNet, net: Network, *, default_route: bool) -> None:
        if net.driver != "bridge":
            raise InvalidParameter(f"container cannot be connected to network {net.name}")
        ep = cn.endpoints[net.id]
        ep.ip = self._allocate(net, self._check_static_ip(net, ep))
        ep.prefix, ep.gateway = net.prefix, net.gateway
        ep.mac = ep.desired_mac or _mac(ep.ip)  # a MAC asked for at create/connect is the one it gets
        ep.endpoint_id = secrets.token_hex(32)
        ep.veth = "veth" + _hex(7)
        ep.ifname = f"eth{sum(1 for e in cn.endpoints.values() if e.ifname)}"
        gw = net.gateway if default_route and not net.internal else None
        try:
            await self._ensure_bridge_of(net)
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
        except BaseException:
            _clear_ep(ep)
            raise

    async def _publish(self, c: Any, cn: ContainerNet) -> None:
        """PortBindings and (PublishAllPorts) ExposedPorts on the first bridge network."""
        hc = c.host_config
        nid = next((n for n in cn.order if n in self._nets and self._nets[n].driver == "bridge"), None)
        if nid is None:
            return
        net = self._nets[nid]
        ep = cn.endpoints[nid]
        bindings: dict[str, list[dict[str, Any]]] = {
            k: list(v or []) for k, v in (hc.get("PortBindings") or {}).items()
        }
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
                    hp = self._reserve(c, ep, proto, host_ip, lo, hi)
                    cn.ports.append(
                        PortMapping(proto=proto, container_port=cport, host_ip=host_ip, host_port=hp, network_id=net.id)
                    )

    def _reserve(self, c: Any, ep: Endpoint, proto: str, host_ip: str, lo: int, hi: int) -> int:
        """One host port in [lo, hi] (0: any), with dockerd's error when taken."""
        candidates = range(lo, hi + 1) if lo else [0]
        err: ShimError | None = None
        for port in candidates:
            try:
                return self._ports.reserve(proto, host_ip, port)
            except ShimError as e:
                err = e
        raise SystemFailure(
            f"driver failed programming external connectivity on endpoint {c.name} ({ep.endpoint_id}): {err}"
        )

    def _link_env(self, c: Any, cn: ContainerNet) -> list[str]:
        """Legacy links on the default bridge: variables now, hosts entries in _write_files."""
        env: list[str] = []
        for child, alias, ip in self._links(c, cn):
            env += hf.link_env(
                c.name,
                alias,
                ip,
                sorted((child.config.get("ExposedPorts") or {}).keys()),
                child.config.get("Env") or [],
            )
        return env

    def _links(self, c: Any, cn: ContainerNet) -> list[tuple[Any, str, str]]:
        out = []
        on_default = any(self._nets[n].is_default_bridge for n in cn.order if n in self._nets)
        for spec in c.host_config.get("Links") or []:
            name, alias = hf.parse_link(spec)
            child = self._lookup_container(name)
            ccn = self._cn.get(child.id)
            if ccn is None or not ccn.live:
                raise InvalidParameter(f"Cannot link to a non running container: /{child.name} AS /{c.name}/{alias}")
            ip = ""
            for nid in cn.order:
                if nid in ccn.endpoints and ccn.endpoints[nid].ip:
                    ip = ccn.endpoints[nid].ip
                    break
            if not ip and on_default:
                raise InvalidParameter(f"Cannot link to /{child.name}, as it does not belong to the default network")
            out.append((child, alias, ip))
        return out

    async def _write_files(self, c: Any, cn: ContainerNet, files: dict[str, str]) -> None:
        hc = c.host_config
        first = cn.endpoints.get(cn.order[0]) if cn.order else None
        ip = first.ip if first else ""
        extra = hf.extra_hosts(hc.get("ExtraHosts") or [], self.host_gateway())
        extra += hf.link_hosts(
            [
                (alias, child.config.get("Hostname") or child.id[:12], child.name, cip)
                for child, alias, cip in self._links(c, cn)
                if cip
            ]
        )
        hosts = hf.hosts(cn.hostname, c.config.get("Domainname") or "", ip, extra)
        host_resolv = hf.parse_resolv_conf(await asyncio.to_thread(self._files.read_host_resolv_conf))
        self._host_upstreams = hf.upstream_nameservers(host_resolv, [])  # no file reads per DNS query
        resolv = hf.resolv_conf(
            host_resolv,
            hc.get("Dns") or [],
            hc.get("DnsSearch") or [],
            hc.get("DnsOptions") or [],
            embedded=self._uses_embedded_dns(cn),
        )
        await asyncio.to_thread(self._write_all, files, hosts, hf.hostname_file(cn.hostname), resolv)

    def _write_host_mode_files(self, files: dict[str, str], hostname: str) -> None:
        hosts = self._files.read_host_file("/etc/hosts") if hasattr(self._files, "read_host_file") else ""
        self._write_all(
            files,
            hosts or hf.hosts(hostname, "", "", []),
            hf.hostname_file(hostname),
            self._files.read_host_resolv_conf(),
        )

    def _write_all(self, files: dict[str, str], hosts: str, hostname: str, resolv: str) -> None:
        self._files.write(files["hosts"], hosts)
        self._files.write(files["hostname"], hostname)
        self._files.write(files["resolv_conf"], resolv)

    def _uses_embedded_dns(self, cn: ContainerNet) -> bool:
        return any(nid in self._nets and not self._nets[nid].predefined for nid in cn.order)

    async def detach(self, cid: str, *, remove: bool = False) -> None:
        """At stop, failed start and removal (idempotent). `remove` forgets the container's endpoints."""
        await self.restore()
        async with self._lock:
            cn = self._cn.get(cid)
            if cn is None:
                return
            was = [nid for nid in cn.order if cn.endpoints.get(nid) and cn.endpoints[nid].endpoint_id]
            await self._detach_locked(cn, background=True)
            if remove:
                self._cn.pop(cid, None)
                await self._store.adelete(ENDPOINTS, cid)
        for nid in was:
            if nid in self._nets:
                self._event("disconnect", self._nets[nid], container=cid)

    async def _detach_locked(self, cn: ContainerNet, *, background: bool = False) -> None:
        await self._dns.stop(cn.cid)
        for p in cn.ports:
            self._ports.release(p.proto, p.host_ip, p.host_port)
        veths = [(ep.network_id, ep.ip, ep.veth) for ep in cn.endpoints.values() if ep.veth]
        if cn.owns_netns and cn.netns and cn.netns != "host":
            try:
                await self._nl.delete_netns(cn.netns)
            except Exception:
                log.exception("removing netns %s", cn.netns)
        had_ports = bool(cn.ports)
        self._clear_live(cn)
        if background:
            # Deleting a veth waits ~20-30 ms for the kernel (RCU) and an nft commit 10-40 ms; a stop
            # need not wait for either. The addresses stay out of IPAM until their links are really
            # gone (no two bridge ports with one MAC); a stale DNAT rule meanwhile leads nowhere.
            for nid, ip, _ in veths:
                self._quarantine.setdefault(nid, set()).add(ip)
            if veths or had_ports:
                task = asyncio.get_running_loop().create_task(self._release_links(veths, had_ports))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        else:
            await self._remove_veths(veths)
            await self._apply_firewall()
        await self._save_cn(cn)

    async def _release_links(self, veths: list[tuple[str, str, str]], firewall: bool) -> None:
        if firewall:
            try:
                await self._apply_firewall()
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
                self._quarantine.get(nid, set()).discard(ip)

    @staticmethod
    def _clear_live(cn: ContainerNet) -> None:
        for ep in cn.endpoints.values():
            _clear_ep(ep)
        cn.live, cn.netns, cn.owns_netns, cn.sandbox_id, cn.ports = False, "", False, "", []

    # ------------------------------------------------------------ connect / disconnect (API)

    async def connect(self, net_ref: str, c: Any, endpoint_config: dict[str, Any] | None, *, running: bool) -> None:
        """POST /networks/{id}/connect, on created and running containers."""
        await self.restore()
        net = self.get(net_ref)
        epc = endpoint_config or {}
        async with self._lock:
            cn = self._record(c)
            if net.driver == "host" or cn.mode == "host":
                raise Forbidden("container cannot be disconnected from host network or connected to host network")
            if cn.mode == "none" or cn.mode.startswith("container:") or net.driver == "null":
                raise Forbidden(
                    "container sharing network namespace with another container or host cannot be "
                    "connected to any other network"
                )
            if net.id in cn.endpoints:
                raise Forbidden(f"endpoint with name {c.name} already exists in network {net.name}")
            self._add_config(cn, net, epc)
            if net.is_default_bridge and epc.get("Aliases"):
                cn.endpoints[net.id].aliases = []  # dockerd: no aliases on the default bridge
            if running and cn.live and cn.owns_netns:
                has_route = any(
                    self._nets[n].driver == "bridge" and not self._nets[n].internal
                    for n in cn.order
                    if n != net.id and n in self._nets and cn.endpoints[n].endpoint_id
                )
                try:
                    if not await self._repin(cn):
                        raise Conflict(f"Container {c.id} is not running")
                    await self._plug(c, cn, net, default_route=not has_route)
                    await self._serve_dns(cn)
                    await self._apply_firewall()
                except BaseException:
                    ep = cn.endpoints.pop(net.id)
                    cn.order.remove(net.id)
                    if ep.veth:
                        await self._nl.remove_endpoint(ep.veth)
                    raise
            await self._save_cn(cn)
        if running and cn.live:
            self._event("connect", net, container=c.id)

    async def disconnect(self, net_ref: str, c: Any, *, force: bool = False) -> None:
        await self.restore()
        net = self.get(net_ref)
        async with self._lock:
            cn = self._record(c)
            if cn.mode == "host" or net.driver == "host":
                raise Forbidden("container cannot be disconnected from host network or connected to host network")
            ep = cn.endpoints.get(net.id)
            if ep is None:
                raise Forbidden(f"container {c.id} is not connected to network {net.name}")
            was_live = bool(ep.endpoint_id)
            for p in [p for p in cn.ports if p.network_id == net.id]:
                self._ports.release(p.proto, p.host_ip, p.host_port)
                cn.ports.remove(p)
            del cn.endpoints[net.id]
            cn.order.remove(net.id)
            # the record first, then the link (docs/RELIABILITY.md): a crash in between leaves a
            # veth no record names, which the next start removes, never a lease without its link
            await self._save_cn(cn)
            if ep.veth:
                await self._nl.remove_endpoint(ep.veth)
            if was_live:
                if not self._uses_embedded_dns(cn):
                    await self._dns.stop(cn.cid)
                await self._apply_firewall()
        if was_live:
            self._event("disconnect", net, container=c.id)

    async def rename(self, cid: str, name: str) -> None:
        """The embedded DNS answers the new name at once (dockerd updates its service records)."""
        cn = self._cn.get(cid)
        if cn is not None:
            cn.name = name
            await self._save_cn(cn)

    async def stats(self, cid: str) -> dict[str, dict[str, int]]:
        """Docker's stats `networks`: per container interface, counted on the host end of its veth
        (what the host receives is what the container sent, so rx and tx swap)."""
        cn = self._cn.get(cid)
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

    # ------------------------------------------------------------ DNS

    async def _serve_dns(self, cn: ContainerNet) -> None:
        if not cn.live or not cn.owns_netns or not self._uses_embedded_dns(cn):
            return
        cid = cn.cid
        await self._dns.serve(
            cid,
            cn.netns,
            lambda name: self.lookup_a(cid, name),
            lambda ip: self.lookup_ptr(cid, ip),
            lambda: self._upstreams(cid),
        )

    def _upstreams(self, cid: str) -> list[str]:
        """Where the embedded DNS forwards: the container's Dns, else the host's resolvers."""
        cn = self._cn.get(cid)
        if cn is not None and cn.upstream_dns:
            return list(cn.upstream_dns)
        return list(self._host_upstreams)

    def lookup_a(self, cid: str, name: str) -> list[str] | None:
        """Names the embedded DNS answers for container `cid`: peers' names, aliases, IDs, links."""
        me = self._cn.get(cid)
        if me is None:
            return None
        name = name.lower()
        nets = [
            nid
            for nid in me.order
            if nid in self._nets and not self._nets[nid].predefined and me.endpoints[nid].endpoint_id
        ]
        for nid in nets:  # links are per-container aliases (compose's `links:` on user networks)
            for spec in me.endpoints[nid].links or []:
                target, alias = hf.parse_link(spec)
                if alias.lower() == name:
                    name = target.lower()
        found: list[str] = []
        for nid in nets:
            netname = self._nets[nid].name.lower()
            for other in self._cn.values():
                ep = other.endpoints.get(nid)
                if not other.live or ep is None or not ep.ip:
                    continue
                names = {other.name.lower(), other.cid[:12], other.cid, *(a.lower() for a in ep.aliases)}
                if name in names or any(name == f"{n}.{netname}" for n in names):
                    if ep.ip not in found:
                        found.append(ep.ip)
        return found or None

    def lookup_ptr(self, cid: str, ip: str) -> str | None:
        me = self._cn.get(cid)
        if me is None:
            return None
        for nid in me.order:
            net = self._nets.get(nid)
            if net is None or net.predefined or not _overlaps(net.subnet, ip + "/32"):
                continue
            for other in self._cn.values():
                ep = other.endpoints.get(nid)
                if other.live and ep is not None and ep.ip == ip:
                    return f"{other.name}.{net.name}"
            return ""
        return None

    # ------------------------------------------------------------ firewall

    async def _apply_firewall(self) -> None:
        # The state is built by the adapter under its lock: the latest state always wins.
        await self._fw.apply(self._firewall_state)

    def _firewall_state(self) -> FirewallState:
        state = FirewallState()
        for n in self.networks():
            if n.driver == "bridge" and n.bridge:
                state.bridges.append(
                    BridgeRules(
                        bridge=n.bridge,
                        subnet=n.subnet,
                        internal=n.internal,
                        masquerade=n.options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false",
                        icc=n.options.get("com.docker.network.bridge.enable_icc", "true") != "false",
                    )
                )
        for cn in self._cn.values():
            if not cn.live:
                continue
            for p in cn.ports:
                ep = cn.endpoints.get(p.network_id)
                net = self._nets.get(p.network_id)
                if ep is None or net is None or not ep.ip:
                    continue
                state.ports.append(
                    PortRule(
                        proto=p.proto,
                        host_ip=p.host_ip,
                        host_port=p.host_port,
                        container_ip=ep.ip,
                        container_port=p.container_port,
                        bridge=net.bridge,
                    )
                )
        return state


def _mac(ip: str) -> str:
    b = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


def _clear_ep(ep: Endpoint) -> None:
    ep.endpoint_id, ep.ip, ep.prefix, ep.gateway, ep.mac, ep.veth, ep.ifname = "", "", 0, "", "", "", ""
