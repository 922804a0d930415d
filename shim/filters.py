"""The `filters` of list, prune and events endpoints: dockerd's filters.Args, in one place.

Pure and shared by every layer (like shim.labels and shim.errors): the API layer parses the
query into a `Filters`, the engine services and translate's matchers ask it questions. What
each endpoint accepts is the table below (dockerd's accepted*Filter maps); how a key matches is
the endpoint's business, through the methods here:

- `get` / `has` / `validate` (dockerd's Get, Contains, Validate — `Invalid filter 'x'`);
- `exact`, `match` (a regular expression found anywhere), `fuzzy` (a prefix), `substring`;
- `labels` / `not_labels` (moby's MatchKVList through shim.labels: `key` or `key=value`);
- `bool` (dangling=true|1|false|0, else `Invalid filter 'dangling=[maybe]'`);
- `until` / `times`: dockerd's timestamp grammar (shim.times.parse_time).

Every matcher is true when its key has no values, as dockerd's. The query comes in two JSON
shapes: a map of value→bool (the CLI, compose v2, and what dockerd's Args marshals to) and
the older map of lists (docker-py, aiodocker, dockerode); anything else is `invalid filter`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping

from shim import jsonin, times
from shim.errors import InvalidParameter
from shim.labels import labels_match

# Accepted keys per endpoint (dockerd's, plus what shim already accepted beyond 20.10).
CONTAINER_LIST = frozenset(
    {
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
)
CONTAINER_PRUNE = frozenset({"until", "label", "label!"})
IMAGE_LIST = frozenset({"reference", "dangling", "label", "before", "since", "until"})
IMAGE_PRUNE = frozenset({"dangling", "label", "label!", "until"})
VOLUME_LIST = frozenset({"name", "label", "dangling", "driver"})
VOLUME_PRUNE = frozenset({"label", "label!", "all"})
NETWORK_LIST = frozenset({"name", "id", "driver", "label", "type", "scope", "dangling"})
NETWORK_PRUNE = frozenset({"until", "label", "label!"})
# GET /events: dockerd validates nothing (a key it doesn't know is ignored); shimd refuses one.
EVENT_KEYS = frozenset(
    {
        "type",
        "event",
        "container",
        "network",
        "volume",
        "plugin",
        "daemon",
        "node",
        "service",
        "secret",
        "config",
        "image",
        "label",
        "scope",
    }
)


class Filters:
    """Keys to their values, in the order given (duplicates dropped: dockerd keeps a set)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, list[str]] = {}
        for key, values in (fields or {}).items():
            self._fields.setdefault(key, [])
            for value in values:
                self.add(key, value)

    @classmethod
    def of(cls, value: FilterInput) -> Filters:
        """A Filters as it is, or one made from a plain mapping (engine callers and tests)."""
        return value if isinstance(value, Filters) else cls(value)

    @classmethod
    def parse(cls, raw: str | None) -> Filters:
        """The `filters` query parameter, in either JSON shape (dockerd's FromJSON: a map of
        value→bool, else the legacy map of lists of strings); anything else is dockerd's
        `invalid filter` (a bare string, a number in a list, a non-boolean in a map)."""
        if raw is None or raw == "":
            return cls()
        data = jsonin.loads(raw, "filter")
        if not isinstance(data, dict):
            raise InvalidParameter("invalid filter")
        out = cls()
        for key, val in data.items():
            if isinstance(val, dict) and all(isinstance(on, bool) for on in val.values()):
                values = [str(k) for k, on in val.items() if on]  # {"dangling": {"false": false}}: not given
            elif isinstance(val, list) and all(isinstance(v, str) for v in val):
                values = list(val)
            elif val is None:
                values = []  # Go decodes null into an empty map or slice
            else:
                raise InvalidParameter("invalid filter")
            out._fields.setdefault(key, [])
            for v in values:
                out.add(key, v)
        return out

    # --- the mapping ---------------------------------------------------------------------

    def add(self, key: str, value: str) -> None:
        values = self._fields.setdefault(key, [])
        if value not in values:
            values.append(value)

    def get(self, key: str) -> list[str]:
        """The values of `key` ([] when absent), as dockerd's Args.Get."""
        return list(self._fields.get(key, ()))

    def has(self, key: str) -> bool:
        """The key was given (perhaps without values), as dockerd's Args.Contains."""
        return key in self._fields

    def keys(self) -> list[str]:
        return list(self._fields)

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._fields.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Filters):
            return self._fields == other._fields
        if isinstance(other, Mapping):
            return self._fields == {k: list(v) for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict

    def __repr__(self) -> str:
        return f"Filters({self._fields!r})"

    # --- validation ----------------------------------------------------------------------

    def validate(self, accepted: Collection[str]) -> None:
        """dockerd's Args.Validate: an unknown key is a 400 `Invalid filter '<key>'`."""
        for key in self._fields:
            if key not in accepted:
                raise InvalidParameter(f"Invalid filter '{key}'")

    def invalid(self, key: str) -> InvalidParameter:
        """dockerd's invalidFilter{key, values}: the values printed as a Go slice, `[a b]`."""
        return InvalidParameter(f"Invalid filter '{key}=[{' '.join(self._fields.get(key, ()))}]'")

    # --- matching (each true when the key has no values) ---------------------------------

    def exact(self, key: str, source: str) -> bool:
        """One value equals `source` (dockerd's ExactMatch)."""
        values = self._fields.get(key)
        return not values or source in values

    def match(self, key: str, source: str) -> bool:
        """One value equals `source` or is a regular expression found in it (dockerd's Match).
        A value that is no valid (Python) expression is looked for as plain text."""
        values = self._fields.get(key)
        if not values or source in values:
            return True
        for pattern in values:
            try:
                if re.search(pattern, source):
                    return True
            except re.error:
                if pattern in source:
                    return True
        return False

    def fuzzy(self, key: str, source: str) -> bool:
        """One value equals `source` or is a prefix of it (dockerd's FuzzyMatch)."""
        values = self._fields.get(key)
        return not values or any(source.startswith(v) for v in values)

    def substring(self, key: str, source: str) -> bool:
        """One value is contained in `source`."""
        values = self._fields.get(key)
        return not values or any(v in source for v in values)

    def labels(self, labels: Mapping[str, str] | None, key: str = "label") -> bool:
        """Every `key` / `key=value` spec holds (moby's MatchKVList: label filters are ANDed)."""
        values = self._fields.get(key)
        return not values or labels_match(dict(labels or {}), values)

    def not_labels(self, labels: Mapping[str, str] | None, key: str = "label!") -> bool:
        """No `label!` spec holds: the object is kept (shim drops it when any of them holds)."""
        values = self._fields.get(key)
        return not values or not labels_match(dict(labels or {}), values, any_=True)

    # --- typed values --------------------------------------------------------------------

    def bool(self, key: str) -> bool | None:
        """`true`/`1` or `false`/`0` (any case); None when not given; a mix or anything else is
        dockerd's `Invalid filter 'key=[values]'` (its GetBoolOrDefault)."""
        values = [v.lower() for v in self._fields.get(key, ())]
        if not values:
            return None
        yes = any(v in ("true", "1") for v in values)
        no = any(v in ("false", "0") for v in values)
        if yes == no:
            raise self.invalid(key)
        return yes

    def times(self, key: str, now_ns: int | None = None) -> list[int]:
        """Every value of `key` read with dockerd's timestamp grammar, in unix nanoseconds."""
        return [times.parse_time(v, now_ns) for v in self._fields.get(key, ())]

    def until(self, now_ns: int | None = None, key: str = "until") -> int | None:
        """A prune's `until` (dockerd's getUntilFromPruneFilters): one value at most."""
        values = self._fields.get(key, [])
        if not values:
            return None
        if len(values) > 1:
            raise InvalidParameter(f"more than one {key} filter specified")
        return times.parse_time(values[0], now_ns)


# What services and matchers take: a parsed Filters, or a plain mapping (engine callers, tests).
FilterInput = Filters | Mapping[str, Iterable[str]] | None
