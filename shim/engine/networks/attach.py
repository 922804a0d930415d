"""Engine layer, networks: a container's attachment at start, dockerd's initializeNetworking.

What the shared tables decide (addresses, host ports, names) is reserved under the service's
lock; the kernel work and the files of a container in its own namespace are done outside it,
under the container's own lock only, so parallel starts wire side by side (docs/NETWORKING.md).
Both locks are the service's: detach, connect and disconnect take them in the same order.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shim.engine.model import Container
from shim.engine.netmodel import Attachment, ContainerNet
from shim.engine.netports import NetlinkPort, PortReserverPort
from shim.engine.networks import endpoints as eps
from shim.engine.networks import files as nf
from shim.engine.networks.dnsrecords import DnsRecords
from shim.engine.networks.endpoints import Wiring
from shim.engine.networks.files import ContainerFiles
from shim.engine.networks.locks import KeyedLocks
from shim.engine.networks.publish import publish, validate_port_bindings
from shim.engine.networks.state import NetState
from shim.errors import Conflict, NotFound

T = TypeVar("T")

# Told when a container's endpoints are all live (the service publishes network `connect`).
Connected = Callable[[Container, ContainerNet], None]


class Attacher:
    def __init__(
        self,
        *,
        state: NetState,
        wiring: Wiring,
        files: ContainerFiles,
        records: DnsRecords,
        netlink: NetlinkPort,
        ports: PortReserverPort,
        data_root: str,
        shared: asyncio.Lock,
        each: KeyedLocks,
        connected: Connected,
    ) -> None:
        self.state, self.wiring, self.files, self.records = state, wiring, files, records
        self._nl, self._ports, self.data_root = netlink, ports, data_root
        self._lock, self._each, self._connected = shared, each, connected

    async def attach(self, c: Container, *, early: bool = False) -> Attachment:
        """Namespace, endpoints, ports, DNS, hosts files. Nothing left behind on failure.

        `early` (a start): back once the namespace and files runc's create needs exist; firewall, DNS,
        veths and record are made meanwhile (issue 17: beside `runc create`) by `Attachment.wired`, a
        task holding the container's lock, joined before the process runs; if it fails, the start's
        rollback (`detach`, after the runtime has let go of the namespace) undoes the attach."""
        validate_port_bindings(c.host_config)
        async with contextlib.AsyncExitStack() as held:
            held.callback(await self._each.acquire(c.id))
            async with self._lock:
                cn = eps.record(self.state, c)
                if cn.live:
                    await self.wiring.unplug(cn)
                try:
                    att = await self._attach_shared(c, cn)
                except BaseException:
                    await self.wiring.unplug(cn)
                    raise
            if att is None:
                att = await self._undone_on_failure(cn, self._make_room(c, cn))
                if early and not eps.wired_before_create(c):
                    # the container's lock goes with the wiring task (pop_all): released when it ends
                    att.wired = asyncio.get_running_loop().create_task(self._finish(c, cn, held.pop_all()))
                    return att
                await self._undone_on_failure(cn, self._wire(c, cn))
        self._connected(c, cn)
        return att

    async def _finish(self, c: Container, cn: ContainerNet, held: contextlib.AsyncExitStack) -> None:
        async with held:
            await self._wire(c, cn)
        self._connected(c, cn)

    async def _undone_on_failure(self, cn: ContainerNet, step: Awaitable[T]) -> T:
        try:
            return await step
        except BaseException:
            async with self._lock:
                await self.wiring.unplug(cn)
            raise

    async def _attach_shared(self, c: Container, cn: ContainerNet) -> Attachment | None:
        """Under the service's lock. `host` and `container:` modes are done here whole (they only
        read other records); a container in its own namespace gets its reservations (None: wire it)."""
        mode = cn.mode
        cn.hostname = c.config.get("Hostname") or c.id[:12]
        cn.sandbox_id = secrets.token_hex(32)
        if mode == "host":
            files = nf.paths(self.data_root, c.id)
            cn.netns, cn.owns_netns = "host", False
            await self.files.write_host_mode(files, cn.hostname)
            return await self._attached(cn, files, [])
        if mode.startswith("container:"):
            other = self.state.container(mode.split(":", 1)[1])
            ocn = self.state.cn.get(other.id)
            if ocn is None or not ocn.live or not other.state.running or not await self.wiring.repin(ocn):
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            cn.netns, cn.owns_netns = ocn.netns, False
            return await self._attached(cn, dict(ocn.files), [])  # dockerd shares the other container's files
        nets = self.state.nets
        cn.live = True  # from here on, unplug has something to undo
        cn.owns_netns = True
        for nid in cn.order:
            net = nets.get(nid)
            if net is None:
                raise NotFound(f"network {nid} not found")
            self.wiring.reserve(c, cn, net)
        publish(self.state, self._ports, c, cn)
        cn.upstream_dns = list(c.host_config.get("Dns") or [])
        for nid in cn.order:  # legacy links on a user network are DNS aliases of this container
            if nid in nets and not nets[nid].predefined and not cn.endpoints[nid].links:
                cn.endpoints[nid].links = list(c.host_config.get("Links") or []) or None
        return None

    async def _make_room(self, c: Container, cn: ContainerNet) -> Attachment:
        """Outside the service's lock: what the runtime's create needs, the namespace and the files."""
        env = self.files.link_env(c, cn)
        cn.netns = await self._nl.create_netns(c.id)
        cn.files = nf.paths(self.data_root, c.id)
        await self.files.write(c, cn, cn.files)
        return nf.attachment(cn, env)

    async def _wire(self, c: Container, cn: ContainerNet) -> None:
        """Outside the service's lock: the firewall (rendered from the whole state; a rule to an address
        without its veth yet leads nowhere), the embedded DNS, the reserved endpoints' veths, the record."""
        nets = self.state.nets
        await self.wiring.apply_firewall()
        await self.records.serve(cn)
        # the default route goes through the first network that has a way out (not Internal)
        gw_net = next((n for n in cn.order if n in nets and not nets[n].internal), None)
        for nid in cn.order:
            await self.wiring.wire(c, cn, nets[nid], default_route=(nid == gw_net))
        await self.state.save_cn(cn)

    async def _attached(self, cn: ContainerNet, files: dict[str, str], env: list[str]) -> Attachment:
        cn.files = files
        cn.live = True
        await self.state.save_cn(cn)
        return nf.attachment(cn, env)
