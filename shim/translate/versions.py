"""Translate layer: the API versions shimd speaks and how to compare them.

The supported range follows dockerd's own: the minimum is 1.12 (dockerd 20.10's
MinAPIVersion) and the maximum is 1.50, what the docker CLI 28.2 asks for.
Version-specific shapes live next to their presenters as functions that take the
request's Version; handlers never compare versions themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import re

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
MAX_VERSION = Version(1, 50)
DEFAULT_VERSION = MAX_VERSION

# Below this version dockerd answers errors as plain text, not {"message": ...}.
JSON_ERRORS_SINCE = Version(1, 24)


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
