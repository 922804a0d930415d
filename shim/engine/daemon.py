"""Engine layer: the Engine, the services a running daemon is made of.

Built only by shim/app.py (the composition root). Services are optional while the
project grows: an area that is not wired answers 501 through its handlers.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any


@dataclasses.dataclass(slots=True)
class HostFacts:
    """What /info and /version report about the machine (read by a runtime adapter)."""

    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str  # Go spelling: amd64, arm64
    ncpu: int
    mem_total: int
    cgroup_driver: str
    cgroup_version: str
    hostname: str
    runc_version: str = ""
    nofile_limit: int = 0


class Engine:
    def __init__(
        self,
        *,
        settings: Any,
        store: Any,
        events: Any,
        host: HostFacts,
        images: Any = None,
        containers: Any = None,
        runtime: Any = None,
        **more: Any,
    ) -> None:
        self.settings = settings
        self.store = store
        self.events = events
        self.host = host
        self.images = images
        self.containers = containers
        self.runtime = runtime
        self.more = more
        self.id = self._daemon_id()

    def _daemon_id(self) -> str:
        rec = self.store.get("daemon", "identity")
        if rec is None:
            rec = {"ID": str(uuid.uuid4()).upper()}
            self.store.put("daemon", "identity", rec)
        return rec["ID"]

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

    def services(self) -> list[Any]:
        return [s for s in (self.images, self.containers, *self.more.values()) if s is not None]

    async def start(self) -> None:
        for svc in self.services():
            restore = getattr(svc, "restore", None)
            if restore is not None:
                await restore()
        # Second pass once every service has its state back (containers restart into volumes/networks).
        for svc in self.services():
            after = getattr(svc, "after_restore", None)
            if after is not None:
                await after()

    async def close(self) -> None:
        for svc in reversed(self.services()):
            close = getattr(svc, "close", None)
            if close is not None:
                await close()
