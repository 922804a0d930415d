"""Engine layer, networks: what the container service calls (engine/ports.py NetworkingPort).

The seed's initializeNetworking at start, Cleanup at stop, and removal; inspect gets the
container's network facts (an EndpointView) that translate/ renders at the client's API version.
"""

from __future__ import annotations

from collections.abc import Callable

from shim.engine.model import Container
from shim.engine.netmodel import Attachment, EndpointView
from shim.engine.networks.publish import validate_port_bindings
from shim.engine.networks.service import NetworkService


class ContainerNetworking:
    def __init__(self, svc: NetworkService) -> None:
        self.svc = svc

    def bind(self, get: Callable[[str], Container]) -> None:
        """The container service's lookup by ref: for container:<ref> network modes and --link targets."""
        self.svc.bind_containers(get)

    def validate(self, c: Container) -> None:
        """At create: port specs, a NetworkMode and EndpointsConfig naming existing networks (dockerd's 400/404)."""
        validate_port_bindings(c.host_config)
        self.svc.configured(c)

    async def connect(self, c: Container) -> Attachment:
        """A start's: what runc's create needs now, the rest in `Attachment.wired` (NetworkService.attach)."""
        return await self.svc.attach(c, early=True)

    async def release(self, cid: str) -> None:
        await self.svc.detach(cid)

    async def forget(self, cid: str) -> None:
        await self.svc.detach(cid, remove=True)

    def inspect(self, c: Container) -> EndpointView:
        return self.svc.view(c)

    def paths(self, c: Container) -> dict[str, str]:
        return self.svc.paths(c)

    async def rename(self, cid: str, name: str) -> None:
        await self.svc.rename(cid, name)

    async def stats(self, cid: str) -> dict[str, dict[str, int]]:
        return await self.svc.stats(cid)

    def owners(self) -> dict[str, bool]:
        """At daemon start: containers with an endpoints record, and whether it is live."""
        return self.svc.owners()
