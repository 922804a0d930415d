"""Translate layer: `GET /containers/json` and `POST /containers/prune` filters (dockerd's daemon/list.go).

`ps_filter(filters)` validates the keys and values with dockerd's messages and returns a
PsFilter; the engine resolves the references it names (ancestor images, before/since
containers) and calls `matches`. Values of id/name are regular expressions matched
anywhere, as docker's filters.Match does. Parsing, key validation and the matchers are
shim/filters.py's; the keys and values only containers have are checked here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shim.engine.model import Container
from shim.errors import InvalidParameter
from shim.filters import CONTAINER_LIST, CONTAINER_PRUNE, FilterInput, Filters

PS_KEYS = CONTAINER_LIST
PRUNE_KEYS = CONTAINER_PRUNE
STATES = {"paused", "restarting", "running", "removing", "dead", "created", "exited"}
HEALTH = {"starting", "healthy", "unhealthy", "none"}


@dataclasses.dataclass(slots=True)
class PsFilter:
    filters: Filters
    exited: list[int]
    all_states: bool  # a status filter lists stopped containers too

    def values(self, key: str) -> list[str]:
        return self.filters.get(key)


def ps_filter(filters: FilterInput) -> PsFilter:
    filters = Filters.of(filters)
    filters.validate(PS_KEYS)
    exited: list[int] = []
    for value in filters.get("exited"):
        try:
            exited.append(int(value))
        except ValueError:
            raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    for value in filters.get("status"):
        if value not in STATES:
            raise InvalidParameter(f"Unrecognised filter value for status: {value}")
    for value in filters.get("health"):
        if value not in HEALTH:
            raise InvalidParameter(f"Unrecognised filter value for health: {value}")
    for value in filters.get("is-task"):
        if value not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"Invalid filter 'is-task={value}'")
    return PsFilter(filters=filters, exited=exited, all_states=bool(filters.get("status")))


def keep_function(f: PsFilter) -> Callable[[Container, dict[str, Any]], bool]:
    """The list's filter as the engine calls it; a list without filter values keeps every container
    (and skips `matches`' 15 look-ups per container)."""
    if not any(f.values(key) for key in f.filters):
        return lambda c, facts: True
    return lambda c, facts: matches(c, f, **facts)


def matches(
    c: Container,
    f: PsFilter,
    *,
    ancestor_ids: set[str] | None = None,
    before_created: int | None = None,
    since_created: int | None = None,
    networks: list[str] | None = None,
    network_ids: list[str] | None = None,
    volumes: list[str] | None = None,
) -> bool:
    """Does container `c` pass the filter? Resolved references come from the engine."""
    if not f.filters.match("id", c.id) or not f.filters.match("name", "/" + c.name):
        return False
    if not f.filters.labels(c.config.get("Labels")):
        return False
    if f.values("status") and c.state.status not in f.values("status"):
        return False
    if f.exited and (c.state.running or not c.state.started_at or c.state.exit_code not in f.exited):
        return False
    if f.values("health"):
        h = c.state.health.status if c.state.health is not None else "none"
        if h not in f.values("health"):
            return False
    if f.values("ancestor") and c.image_id not in (ancestor_ids or set()):
        return False
    if before_created is not None and c.created >= before_created:
        return False
    if since_created is not None and c.created <= since_created:
        return False
    if f.values("network"):
        mode = c.host_config.get("NetworkMode") or "default"
        nets = networks if networks is not None else ["bridge" if mode == "default" else mode]
        ids = network_ids or []
        if not any(v in nets or any(i.startswith(v) for i in ids if i) for v in f.values("network")):
            return False
    if f.values("volume") and not any(v in (volumes or []) for v in f.values("volume")):
        return False
    # shimd has no swarm: no container is a task.
    if f.values("is-task")[:1] in (["true"], ["1"]):
        return False
    if f.values("expose") or f.values("publish"):
        exposed = set((c.config.get("ExposedPorts") or {}).keys())
        published = set((c.host_config.get("PortBindings") or {}).keys())
        for v in f.values("expose"):
            if (v if "/" in v else v + "/tcp") not in exposed:
                return False
        for v in f.values("publish"):
            if (v if "/" in v else v + "/tcp") not in published:
                return False
    return True


@dataclasses.dataclass(slots=True)
class PruneFilter:
    filters: Filters
    until_ns: int | None


def prune_filter(filters: FilterInput, now_ns: int | None = None) -> PruneFilter:
    """POST /containers/prune: until (dockerd's timestamp grammar, relative to now_ns), label, label!."""
    filters = Filters.of(filters)
    filters.validate(PRUNE_KEYS)
    return PruneFilter(filters=filters, until_ns=filters.until(now_ns))


def prune_matches(c: Container, f: PruneFilter) -> bool:
    labels = c.config.get("Labels")
    if not f.filters.labels(labels) or not f.filters.not_labels(labels):
        return False
    return not (f.until_ns is not None and c.created >= f.until_ns)
