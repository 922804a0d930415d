"""Engine layer (containers): what every room of the container package shares.

The ports it was built on, the index of containers, and the two things each verb ends with:
saving the container and publishing its event.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from shim.engine.container_io import bind_mounts, mount_points
from shim.engine.containers.record import Registry
from shim.engine.events import Events
from shim.engine.intents import Journal
from shim.engine.model import Container
from shim.engine.ports import ImagesPort, MountSpec, NetworkingPort, Runtime, VolumesPort
from shim.engine.security import SecurityPolicy
from shim.engine.store import Store
from shim.errors import ShimError

log = logging.getLogger("shim.containers")

KIND = "containers"


@dataclasses.dataclass(slots=True, eq=False)
class Core:
    store: Store
    events: Events
    runtime: Runtime
    images: ImagesPort | None
    volumes: VolumesPort
    network: NetworkingPort | None
    table: Registry
    # seccomp/no-new-privileges/cgroupns: checked at create, applied at start (engine/security.py)
    security: SecurityPolicy = dataclasses.field(default_factory=SecurityPolicy)
    # intents of creates, starts and removals (docs/RELIABILITY.md)
    journal: Journal = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.journal = Journal(self.store)

    async def save(self, c: Container) -> None:
        await self.store.aput(KIND, c.id, c.to_dict())

    async def save_or_undo(self, c: Container, undo: Callable[[], Awaitable[None]]) -> None:
        """Save `c`; if that fails (a full disk), `undo` what the verb changed and raise: a verb
        whose new state can't be recorded changes nothing (the record would disagree after a restart)."""
        try:
            await self.save(c)
        except ShimError:
            try:
                await undo()
            except ShimError as e:
                log.error("undoing a change of %s that could not be saved: %s", c.id, e)
            raise

    def check_networking(self, config: dict[str, Any], hc: dict[str, Any], networking: dict[str, Any]) -> None:
        """At create, before anything is written: the networks a NetworkMode and EndpointsConfig
        name exist (the network service's 404 `network x not found`), on a container not yet made."""
        if self.network is None:
            return
        probe = Container(
            id="",
            name="",
            created=0,
            path="",
            args=[],
            config=config,
            host_config=hc,
            networking_config=networking,
            image_id="",
        )
        self.network.validate(probe)

    def event(self, c: Container, action: str, **extra: str) -> None:
        self.events.container(c, action, **extra)

    async def save_and_end(self, c: Container, op: str) -> None:
        """save(c), then the `op` intent cleared, in one thread hop (a start's last two steps).
        Raises as save() if the record can't be written (the intent is then still there)."""
        await self.journal.end_after(op, c.id, KIND, c.to_dict())

    async def end_intent(self, op: str, cid: str) -> None:
        """Clear an operation's intent; never fails the operation (the next start finds the
        intent, sees the operation complete and clears it then)."""
        try:
            await self.journal.end(op, cid)
        except (ShimError, OSError) as e:
            log.error("clearing the %s intent of %s: %s", op, cid, e)


class BindsOnly:
    """The volume steps of an engine built without a volume service (unit tests): host-path
    binds only, mounted as given; nothing to register, release or forget."""

    def __init__(self, table: Registry) -> None:
        self._table = table

    def plans_mounts(self, c: Container) -> bool:
        return False  # nothing is registered

    async def register(self, c: Container, lookup: Any) -> object:
        return None

    async def start_mounts(self, c: Container) -> list[MountSpec]:
        return bind_mounts(c.host_config.get("Binds") or [])

    async def release(self, cid: str) -> None:
        return None

    async def forget(self, cid: str, *, remove_anonymous: bool = False) -> None:
        return None

    def inspect_mounts(self, cid: str) -> list[dict[str, Any]]:
        c = self._table.find(cid)
        return mount_points(c.host_config.get("Binds") or []) if c is not None else []

    def drop_stale(self, known: set[str]) -> None:
        return None

    def claim_running(self, running: set[str]) -> None:
        return None
