"""Engine layer (containers): the index of containers, and the runtime record each one has.

The index finds a container by ID, name or ID prefix (dockerd's order) and keeps names unique.
The runtime record (`Live`) is what the service holds for one container while shimd runs and
never persists: its lock, its waiters, the task watching its process, its restart policy's
state, the readers of its output. One record per container replaces the parallel dicts the
service used to keep per concern.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

from shim.engine import names, refs
from shim.engine.model import Container
from shim.engine.ports import AttachHandle
from shim.engine.restart import RestartManager
from shim.errors import Conflict, no_such_container

# What a `wait` resolves to: (exit code, error text).
WaitResult = tuple[int, str]


@dataclasses.dataclass(slots=True, eq=False)
class Waiter:
    condition: str  # not-running | next-exit | removed
    future: asyncio.Future[WaitResult]


@dataclasses.dataclass(slots=True, eq=False)
class Live:
    """One container's runtime record."""

    # Operations on one container are serialised by it; waiting for an exit never holds it
    # (the exit handler needs it).
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    waiters: list[Waiter] = dataclasses.field(default_factory=list)
    # Attaches made before start (docker run): connected when the process starts (None: no stdio).
    start_waiters: list[asyncio.Future[AttachHandle | None]] = dataclasses.field(default_factory=list)
    watcher: asyncio.Task[None] | None = None  # awaits the process's exit
    restarts: RestartManager = dataclasses.field(default_factory=RestartManager)
    restart_task: asyncio.Task[None] | None = None  # a restart policy's pending restart
    readers: int = 0  # live attach sessions and log readers: the removal lets them finish
    read_all: asyncio.Event | None = None  # set when the last reader ends while a removal waits
    restarting_by_hand: bool = False  # `docker restart`: AutoRemove waits for the start


class Registry:
    """Containers by ID and by name, each with its runtime record."""

    def __init__(self) -> None:
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}  # name -> id (also names reserved by a create in flight)
        self._live: dict[str, Live] = {}

    def get(self, ref: str) -> Container:
        """By full ID, exact name (with or without /), or unique ID prefix (dockerd's order)."""
        name = ref[1:] if ref.startswith("/") else ref
        # a full ID or an exact name, the usual refs, by the indexes (refs.lookup scans every container)
        found = self._by_id.get(name) or self._by_id.get(self._names.get(name, ""))
        if found is not None:
            return found
        try:
            cid = refs.lookup(name, ((c.id, [c.name]) for c in self._by_id.values()))
        except refs.RefNotFound:
            raise no_such_container(ref) from None
        return self._by_id[cid]

    def find(self, cid: str) -> Container | None:
        return self._by_id.get(cid)

    def __contains__(self, cid: str) -> bool:
        return cid in self._by_id

    def ids(self) -> set[str]:
        return set(self._by_id)

    def values(self) -> list[Container]:
        return list(self._by_id.values())

    def all(self) -> list[Container]:
        """Newest first, as dockerd's list."""
        return sorted(self._by_id.values(), key=lambda c: c.created, reverse=True)

    def live(self, cid: str) -> Live:
        """The container's record; a container removed meanwhile gets a fresh one, kept nowhere
        (what is still done to it serialises nothing and waits for nothing)."""
        rec = self._live.get(cid)  # add() makes one for every container it adds, drop() forgets both
        return rec if rec is not None else Live()

    def add(self, c: Container) -> None:
        self._by_id[c.id] = c
        self._names[c.name] = c.id
        if c.id not in self._live:
            # its restart manager counts on from the container's RestartCount (one that outlived a
            # daemon restart keeps it, as dockerd's restartmanager.New(policy, RestartCount))
            self._live[c.id] = Live(restarts=RestartManager(c.restart_count))

    def drop(self, c: Container) -> None:
        self._by_id.pop(c.id, None)
        self._live.pop(c.id, None)
        self.free_name(c.name, c.id)

    # ------------------------------------------------------------ names and IDs

    def check_name_free(self, name: str) -> None:
        other = self._names.get(name)
        if other is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )

    def name_taken(self, name: str) -> bool:
        return name in self._names

    def reserve_name(self, name: str, cid: str) -> None:
        self._names[name] = cid

    def free_name(self, name: str, cid: str) -> None:
        if self._names.get(name) == cid:
            del self._names[name]

    def rename(self, c: Container, new: str) -> str:
        """Give `c` the name `new` (checked free); returns the old one."""
        self.check_name_free(new)
        old = c.name
        del self._names[old]
        self._names[new] = c.id
        c.name = new
        return old

    def generate_name(self) -> str:
        for i in range(6):
            name = names.generate(i)
            if name not in self._names:
                return name
        return names.generate(9) + secrets.token_hex(2)

    def new_id(self) -> str:
        while True:
            cid = secrets.token_hex(32)
            # dockerd avoids IDs that would parse as a number (truncindex) and collisions.
            if not cid[:12].isdigit() and cid not in self._by_id:
                return cid
