"""Translate layer: `GET /containers/json` and `POST /containers/prune` filters (dockerd's daemon/list.go).

`ps_filter(filters)` validates the keys and values with dockerd's messages and returns a
PsFilter; the engine resolves the references it names (ancestor images, before/since
containers) and calls `matches`. Values of id/name are regular expressions matched
anywhere, as docker's filters.Match does.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from shim.engine.model import Container
from shim.errors import InvalidParameter
from shim.labels import labels_match

PS_KEYS = {
    "ancestor",
    "before",
    "exited",
    "id",
    "isolation",
    "label",
    "name",
    "status",
    "health",
    "since",
    "volume",
    "network",
    "is-task",
    "publish",
    "expose",
}
PRUNE_KEYS = {"until", "label", "label!"}
STATES = {"paused", "restarting", "running", "removing", "dead", "created", "exited"}
HEALTH = {"starting", "healthy", "unhealthy", "none"}


@dataclasses.dataclass(slots=True)
class PsFilter:
    raw: dict[str, list[str]]
    exited: list[int]
    all_states: bool  # a status filter lists stopped containers too

    def values(self, key: str) -> list[str]:
        return self.raw.get(key, [])


def _validate_keys(filters: dict[str, list[str]], accepted: set[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"Invalid filter '{key}'")


def ps_filter(filters: dict[str, list[str]] | None) -> PsFilter:
    filters = {k: list(v) for k, v in (filters or {}).items()}
    _validate_keys(filters, PS_KEYS)
    exited: list[int] = []
    for value in filters.get("exited", []):
        try:
            exited.append(int(value))
        except ValueError:
            raise InvalidParameter(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    for value in filters.get("status", []):
        if value not in STATES:
            raise InvalidParameter(f"Unrecognised filter value for status: {value}")
    for value in filters.get("health", []):
        if value not in HEALTH:
            raise InvalidParameter(f"Unrecognised filter value for health: {value}")
    for value in filters.get("is-task", []):
        if value not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"Invalid filter 'is-task={value}'")
    return PsFilter(raw=filters, exited=exited, all_states=bool(filters.get("status")))


def _regex_any(patterns: list[str], text: str) -> bool:
    for p in patterns:
        try:
            if re.search(p, text):
                return True
        except re.error:
            if p in text:
                return True
    return False


def match_labels(patterns: list[str], labels: dict[str, str]) -> bool:
    """filters.MatchKVList: every `key` / `key=value` must hold."""
    return labels_match(labels, patterns)


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
    if f.values("id") and not _regex_any(f.values("id"), c.id):
        return False
    if f.values("name") and not _regex_any(f.values("name"), "/" + c.name):
        return False
    if f.values("label") and not match_labels(f.values("label"), c.config.get("Labels") or {}):
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
    if f.values("is-task"):
        # shimd has no swarm: no container is a task.
        if f.values("is-task")[0] in ("true", "1"):
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
    until_ns: int | None
    labels: list[str]
    not_labels: list[str]


def prune_filter(filters: dict[str, list[str]] | None, parse_time: Any = None) -> PruneFilter:
    """POST /containers/prune: until (timestamp or duration), label, label!."""
    filters = filters or {}
    _validate_keys(filters, PRUNE_KEYS)
    until_ns = None
    for value in filters.get("until", []):
        until_ns = parse_time(value) if parse_time else None
    return PruneFilter(until_ns=until_ns, labels=filters.get("label", []), not_labels=filters.get("label!", []))


def prune_matches(c: Container, f: PruneFilter) -> bool:
    labels = c.config.get("Labels") or {}
    if f.labels and not match_labels(f.labels, labels):
        return False
    if f.not_labels and labels_match(labels, f.not_labels, any_=True):
        return False
    return not (f.until_ns is not None and c.created >= f.until_ns)


def parse_until(value: str, now_ns: int) -> int:
    """A timestamp (unix seconds[.frac]) or a Go duration ago ("10m", "1h30m")."""
    try:
        return int(float(value) * 1e9)
    except ValueError:
        pass
    m = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)", value)
    if not m:
        raise InvalidParameter(f'failed to parse value as time or duration: "{value}"')
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value):
        total += float(num) * units[unit]
    return now_ns - int(total)
