"""Engine layer (containers): which containers' answers a change of the engine's state may have changed.

The API keeps each container's list row and inspect body rendered (api/rendercache.py) and renders
it again when the container's revision moved. Every store write and every event is a change; each
is either one container's own or shared:
- own: a write of the container's record, its endpoints or its mounts record, or of an intent
  about it (their object IDs are the container's ID, `<op>.<id>` for intents); an event about it
  (a container event, whose actor is the container; a network's connect/disconnect and a volume's
  mount/unmount, which name it in their `container` attribute);
- shared: anything else (images, networks, volumes, build cache, daemon events, a prune), which
  re-renders every container once: over-invalidation is safe and these are rare.
What a container's answers show comes from its own record, its own endpoints and mounts (facts.py
`extra`), and shared objects (networks, volumes): so one container's change re-renders that
container's row only, and a `docker run --rm` beside 500 running containers no longer re-renders
500 rows (issue 17, docs/PERFORMANCE.md).

Each change takes a fresh number from one counter, so a revision never returns to a value it had.
Store writes are told from worker threads too (a*'s thread, the build cache's): `next()` of an
itertools.count is one step under the GIL, a late assignment still stores a value never held
before, and the map is only read, set and popped by key (its pruning walks a copy of its keys).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

# The store kinds whose object ID is a container's: containers/core.py KIND, networks/state.py
# ENDPOINTS, volumes.py MOUNTS_KIND (tests/unit/test_render_cache.py holds them equal), and intents
# (`<op>.<container ID>`, intents.py).
_OWN_KINDS = frozenset({"containers", "endpoints", "mounts"})
_INTENTS = "intents"
# Events of these types that name a container in their `container` attribute are that container's
# (network connect/disconnect, volume mount/unmount).
_ABOUT_A_CONTAINER = frozenset({"network", "volume"})


class Revisions:
    def __init__(self, exists: Callable[[str], bool]) -> None:
        self._exists = exists
        self._next = itertools.count(1).__next__
        self._shared = 0
        self._own: dict[str, int] = {}
        self._limit = 1024  # entries of removed containers are dropped when the map doubles

    def of(self, cid: str) -> tuple[int, int]:
        """The container's revision: moves with every change of its own and every shared one."""
        return self._shared, self._own.get(cid, 0)

    def stored(self, kind: str, oid: str) -> None:
        """A store write (put or delete) of `kind`/`oid`."""
        if kind in _OWN_KINDS:
            self._touch(oid)
        elif kind == _INTENTS and "." in oid:
            self._touch(oid.partition(".")[2])
        else:
            self._shared = self._next()

    def published(self, ev: Mapping[str, Any]) -> None:
        """An event, as engine/events.py publishes it."""
        actor = ev.get("Actor") or {}
        kind = ev.get("Type")
        cid = ""
        if kind == "container":
            cid = actor.get("ID") or ""
        elif kind in _ABOUT_A_CONTAINER:
            cid = (actor.get("Attributes") or {}).get("container") or ""
        if cid:
            self._touch(cid)
        else:
            self._shared = self._next()

    def _touch(self, cid: str) -> None:
        self._own[cid] = self._next()
        if len(self._own) > self._limit:
            for known in list(self._own):
                if not self._exists(known):  # a removed container: nothing renders it any more
                    self._own.pop(known, None)
            self._limit = max(1024, 2 * len(self._own))
