"""Engine layer: the facts a registry lookup returns (rendered per API version by translate/distribution.py)."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteImage:
    """GET /distribution/{name}/json: what a reference names on its registry."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...]
    platforms: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class SearchResult:
    name: str
    description: str
    star_count: int
    is_official: bool
    is_automated: bool
