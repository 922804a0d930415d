"""Engine layer: the event bus behind GET /events.

Every published event goes to a ring buffer (for `since` replays) and to each live
subscriber's queue. The shape is moby's events.Message: Type/Action/Actor/scope/time/timeNano
(translate/events.py adds the deprecated status/id/from for the versions that have them).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from shim.engine.model import Container
from shim.filters import EVENT_KEYS, FilterInput, Filters

# moby keeps the last 256 events for `since` replays (daemon/events/events.go eventsLimit); a
# longer ring only kept ~0.45 MiB more of a busy daemon's memory than dockerd's
BUFFER = 256


def make_event(
    type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None, now_ns: int | None = None
) -> dict[str, Any]:
    now_ns = now_ns if now_ns is not None else time.time_ns()
    attrs = dict(attributes or {})
    ev: dict[str, Any] = {}
    # moby's current events.Message; the deprecated status/id/from are translate/events.py's, per version.
    ev.update(
        Type=type_,
        Action=action,
        Actor={"ID": actor_id, "Attributes": attrs},
        scope="local",
        time=now_ns // 1_000_000_000,
        timeNano=now_ns,
    )
    return ev


def container_attributes(c: Container, **extra: str) -> dict[str, str]:
    """A container event's attributes, for every service that publishes one (containers, exec,
    archive): its labels, then image (as the user named it) and name, then the action's own
    (moby's LogContainerEventWithAttributes copies the labels first, so these win over a label)."""
    attrs: dict[str, str] = dict(c.config.get("Labels") or {})
    attrs.update(image=c.config.get("Image") or c.image_id, name=c.name)
    attrs.update(extra)
    return attrs


class Events:
    def __init__(self, buffer: int = BUFFER) -> None:
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=buffer)
        self._subs: set[asyncio.Queue[dict[str, Any]]] = set()
        self.published = 0  # every event since start (engine_daemon_events_total)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def on_publish(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call `fn(event)` at every publish, before any subscriber sees it (the renderings the API
        keeps follow it: engine/containers/revisions.py)."""
        self._listeners.append(fn)

    def publish(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        ev = make_event(type_, action, actor_id, attributes)
        self.published += 1
        for fn in self._listeners:
            fn(ev)
        self._ring.append(ev)
        for q in list(self._subs):
            q.put_nowait(ev)
        return ev

    def container(self, c: Container, action: str, **extra: str) -> dict[str, Any]:
        """Publish a container event with container_attributes."""
        return self.publish("container", action, c.id, container_attributes(c, **extra))

    @property
    def listeners(self) -> int:
        return len(self._subs)

    def history(self, since_ns: int | None, until_ns: int | None) -> list[dict[str, Any]]:
        return [
            e
            for e in self._ring
            if (since_ns is None or e["timeNano"] >= since_ns) and (until_ns is None or e["timeNano"] <= until_ns)
        ]

    async def stream(self, since_ns: int | None = None, until_ns: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Replay from `since`, then follow live events until `until` (forever without it)."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subs.add(q)
        try:
            last = None
            if since_ns is not None:
                for ev in self.history(since_ns, until_ns):
                    last = ev["timeNano"]
                    yield ev
            while True:
                if until_ns is not None:
                    remaining = (until_ns - time.time_ns()) / 1e9
                    if remaining <= 0:
                        return
                    try:
                        ev = await asyncio.wait_for(q.get(), timeout=remaining)
                    except TimeoutError:
                        return
                else:
                    ev = await q.get()
                if last is not None and ev["timeNano"] <= last:
                    continue  # already replayed from the ring
                if until_ns is not None and ev["timeNano"] > until_ns:
                    return
                yield ev
        finally:
            self._subs.discard(q)


def matches(ev: dict[str, Any], filters: FilterInput) -> bool:
    """dockerd's event filters: values of one key are ORed, keys are ANDed; a key dockerd's
    event filter doesn't know matches nothing."""
    f = Filters.of(filters)
    attrs = ev["Actor"]["Attributes"]
    actor = ev["Actor"]["ID"]
    for key in f:
        if not f.get(key):
            continue
        if key == "type":
            ok = f.exact("type", ev["Type"])
        elif key == "event":
            ok = f.exact("event", ev["Action"]) or f.exact("event", ev["Action"].split(":", 1)[0])
        elif key == "image":
            name = attrs.get("name" if ev["Type"] == "image" else "image", "")
            ok = any(f.exact("image", c) for c in (actor, name, _strip_tag(actor), _strip_tag(name)))
        elif key == "label":
            ok = f.labels(attrs)  # labels are ANDed, as moby's MatchKVList
        elif key == "scope":
            ok = f.exact("scope", ev.get("scope", ""))
        elif key in EVENT_KEYS:
            # container, network, volume, …: moby's fuzzyMatchName, an ID prefix or the name attribute
            ok = f.fuzzy(key, actor) or f.fuzzy(key, attrs.get("name", ""))
        else:
            ok = False
        if not ok:
            return False
    return True


def _strip_tag(ref: str) -> str:
    if "@" in ref:
        return ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref
