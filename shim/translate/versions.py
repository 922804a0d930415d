"""Translate layer: the API versions shimd speaks and how to compare them.

The minimum is 1.12 (dockerd 20.10's MinAPIVersion) and the maximum 1.56 (moby master at the
commit of ../shared/reference/api-docs: Docker 28.3 = 1.51 … 29.6 = 1.55); no dockerd spans both.
Version-specific shapes live next to their presenters as tables of `Change`s (`apply_changes`),
built from api-docs/CHANGELOG.md; handlers never compare versions themselves.
docs/API-VERSIONS.md lists every CHANGELOG entry from 1.42 on and where it is handled.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

from shim.errors import InvalidParameter

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Version:
    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(text)
        if not m:
            raise InvalidParameter(f"invalid API version: {text}")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def lt(self, other: str) -> bool:
        return self < _parse_cached(other)

    def ge(self, other: str) -> bool:
        return self >= _parse_cached(other)


# Presenters compare against constant strings many times per request: parse each once.
_parse_cached = functools.cache(Version.parse)


MIN_VERSION = Version(1, 12)
MAX_VERSION = Version(1, 56)
DEFAULT_VERSION = MAX_VERSION

# Below this version dockerd answers errors as plain text, not {"message": ...}.
JSON_ERRORS_SINCE = Version(1, 24)


# Clients that negotiate the daemon's maximum but break on a newer shape get a lower maximum,
# chosen by their User-Agent (docs/API-VERSIONS.md). docker-compose 1.x (1.29, still common in CI
# images) reads image inspect's ContainerConfig when it recreates a container; that field left the
# API in 1.45 (against dockerd >= 26 compose v1 crashes with KeyError: 'ContainerConfig').
_CLIENT_MAXIMUM: tuple[tuple[str, Version], ...] = (("docker-compose/1.", Version(1, 44)),)


def advertised_max(user_agent: str | None) -> Version:
    """The maximum API version offered (GET /version, the Api-Version header) to this client."""
    ua = user_agent or ""
    for prefix, cap in _CLIENT_MAXIMUM:
        if ua.startswith(prefix):
            return cap
    return MAX_VERSION


def check_supported(v: Version) -> None:
    """Refuse a version outside the range with dockerd's exact wording."""
    if v > MAX_VERSION:
        raise InvalidParameter(f"client version {v} is too new. Maximum supported API version is {MAX_VERSION}")
    if v < MIN_VERSION:
        raise InvalidParameter(
            f"client version {v} is too old. Minimum supported API version is {MIN_VERSION}, "
            "please upgrade your client to a newer version"
        )


def errors_as_text(v: Version) -> bool:
    return v < JSON_ERRORS_SINCE


# (from, before, fn): fn rewrites a rendered body for the versions in [from, before); None = open end.
Change = tuple[Version | None, Version | None, Callable[[dict[str, Any]], dict[str, Any]]]


def apply_changes(changes: list[Change], out: dict[str, Any], version: Version) -> dict[str, Any]:
    """Run every change whose range holds `version`, in table order."""
    for lo, hi, fn in changes:
        if (lo is None or version >= lo) and (hi is None or version < hi):
            out = fn(out)
    return out


def require(version: Version, minimum: str, method: str, route: str) -> None:
    """router.WithMinimumAPIVersion: a route that a version does not have yet is a 400."""
    if version.lt(minimum):
        raise InvalidParameter(f"{method} {route} requires minimum API version {minimum}")
