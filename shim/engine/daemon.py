"""Engine layer: the Engine, the services a running daemon is made of.

Built only by shim/app.py (the composition root), which gives it every service. A service may be
left out only by a unit test that builds a partial engine: the API then answers 501 for that
area (api/services.py). Start and shutdown call the services in a fixed order.
"""

from __future__ import annotations

import uuid

from shim.config import Settings
from shim.engine.archive import ArchiveService
from shim.engine.build.service import BuildService
from shim.engine.containers import ContainerService
from shim.engine.distribution.service import DistributionService
from shim.engine.events import Events
from shim.engine.execs import ExecService
from shim.engine.images import ImageService
from shim.engine.networks import NetworkService
from shim.engine.ports import HostFacts
from shim.engine.store import Store
from shim.engine.volumes import VolumeService

__all__ = ["Engine", "HostFacts"]


class Engine:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        events: Events,
        host: HostFacts,
        images: ImageService | None = None,
        distribution: DistributionService | None = None,
        containers: ContainerService | None = None,
        volumes: VolumeService | None = None,
        networks: NetworkService | None = None,
        archive: ArchiveService | None = None,
        execs: ExecService | None = None,
        build: BuildService | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.host = host
        self.images = images
        self.distribution = distribution
        self.containers = containers
        self.volumes = volumes
        self.networks = networks
        self.archive = archive
        self.execs = execs
        self.build = build
        self.id = self._daemon_id()

    def _daemon_id(self) -> str:
        rec = self.store.get("daemon", "identity")
        if rec is None:
            rec = {"ID": str(uuid.uuid4()).upper()}
            self.store.put("daemon", "identity", rec)
        return str(rec["ID"])

    def container_counts(self) -> dict[str, int]:
        """/info's figures, as dockerd counts them: paused ones are not counted as running."""
        counts = {"total": 0, "running": 0, "paused": 0, "stopped": 0}
        if self.containers is None:
            return counts
        for c in self.containers.all():
            counts["total"] += 1
            if c.state.paused:
                counts["paused"] += 1
            elif c.state.running:
                counts["running"] += 1
            else:
                counts["stopped"] += 1
        return counts

    async def start(self) -> None:
        """Each service's state back from the store, then the containers reconciled with the runtime.

        Containers are read before volumes and networks, which look them up; the second pass
        (restart policies, exits while shimd was down) needs every service restored."""
        if self.images is not None:
            await self.images.restore()
        if self.containers is not None:
            await self.containers.restore()
        if self.distribution is not None:
            await self.distribution.restore()
        if self.volumes is not None:
            await self.volumes.restore()
        if self.networks is not None:
            await self.networks.restore()
        if self.execs is not None:
            await self.execs.restore()
        if self.build is not None:
            await self.build.restore()
        if self.containers is not None:
            await self.containers.after_restore()

    async def close(self) -> None:
        """In reverse: exec sessions, networking (rules stay while containers run), the containers' watchers."""
        if self.execs is not None:
            await self.execs.close()
        if self.networks is not None:
            await self.networks.close()
        if self.distribution is not None:
            await self.distribution.close()
        if self.containers is not None:
            await self.containers.close()
