"""Composition helpers for networking: builds the NetworkService on its real adapters, and the
small facade the container engine calls at start/cleanup/remove/inspect.

Kept out of app.py so wiring networking is three lines there (see docs/NETWORKING.md):
    from shim.netwiring import build_networking
    services["networks"], glue = build_networking(settings, store, events)
    ContainerService(..., network=glue); glue.bind(services["containers"])
"""

from __future__ import annotations

from typing import Any

from shim.engine.netmodel import Attachment, EndpointView
from shim.engine.networks import NetworkService, validate_port_bindings


class ContainerNetworking:
    """What ContainerService expects of `network`: connect / release / forget / inspect (+ paths).

    inspect gives facts (an EndpointView), not Docker JSON: translate renders them per API version."""

    def __init__(self, svc: NetworkService) -> None:
        self.svc = svc

    def bind(self, containers: Any) -> None:
        """Lets the network service resolve container:<ref> and --link targets."""
        self.svc.bind_containers(containers.get)

    def validate(self, c: Any) -> None:
        """At create: port specs, a NetworkMode and EndpointsConfig naming existing networks (404)."""
        validate_port_bindings(c.host_config)
        self.svc.configured(c)

    async def connect(self, c: Any) -> Attachment:
        return await self.svc.attach(c)

    async def release(self, cid: str) -> None:
        await self.svc.detach(cid)

    async def forget(self, cid: str) -> None:
        await self.svc.detach(cid, remove=True)

    def inspect(self, c: Any) -> EndpointView:
        """The container's network facts; translate renders them at the client's API version."""
        return self.svc.view(c)

    async def rename(self, cid: str, name: str) -> None:
        await self.svc.rename(cid, name)

    async def stats(self, cid: str) -> dict[str, dict[str, int]]:
        """The `networks` object of a stats body ({"eth0": {"rx_bytes": …}})."""
        return await self.svc.stats(cid)

    def paths(self, c: Any) -> dict[str, str]:
        return self.svc.paths(c)

    def owners(self) -> dict[str, bool]:
        """At daemon start: containers with an endpoints record, and whether it is live."""
        return self.svc.owners()


def build_networking(settings: Any, store: Any, events: Any) -> tuple[NetworkService, ContainerNetworking]:
    from shim.runtime.dns import EmbeddedDns
    from shim.runtime.iptables import Firewall
    from shim.runtime.netfiles import NetFiles
    from shim.runtime.netlink import Netlink
    from shim.runtime.portreserve import PortReserver

    tag = settings.bridge or "shim0"
    nl = Netlink(settings.exec_root, tag)
    svc = NetworkService(
        store=store,
        events=events,
        settings=settings,
        netlink=nl,
        firewall=Firewall(tag),
        dns=EmbeddedDns(nl.socket_in_netns),
        ports=PortReserver(),
        files=NetFiles(),
        data_root=settings.data_root,
    )
    return svc, ContainerNetworking(svc)
