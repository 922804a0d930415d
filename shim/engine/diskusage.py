"""Engine layer: GET /system/df's facts (dockerd's daemon/disk_usage.go).

Images with how many containers use each and the size of all their layers, containers with
their list facts and sizes, volumes with their usage, the builder's cache records;
translate/diskusage.py renders them.
Layer sizes come from the image service's cache (read off the event loop when layers arrive).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from shim.engine.containers import ContainerService
from shim.engine.model import BuildCacheRecord, DiskUsage, ImageUsage, VolumeUsage

KINDS = frozenset({"image", "container", "volume", "build-cache"})


class ListedImage(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def diff_ids(self) -> list[str]: ...


class DfImages(Protocol):
    def layers_size(self, diff_ids: Iterable[str]) -> int:
        """Bytes of these layers, each once (sizes the image service already knows)."""

    def list(
        self, *, all_: bool = False, filters: dict[str, list[str]] | None = None
    ) -> Sequence[tuple[ListedImage, list[str]]]: ...


class NamedVolume(Protocol):
    @property
    def name(self) -> str: ...


class DfVolumes(Protocol):
    def list(self, filters: dict[str, list[str]] | None = None) -> Sequence[NamedVolume]: ...

    def mountpoint(self, name: str) -> str: ...

    async def usage(self, name: str) -> dict[str, int]: ...


class BuildCache(Protocol):
    def cache_records(self) -> list[BuildCacheRecord]: ...


async def disk_usage(
    *,
    images: DfImages | None,
    containers: ContainerService | None,
    volumes: DfVolumes | None,
    builds: BuildCache | None = None,
    kinds: Iterable[str] = KINDS,
) -> DiskUsage:
    """What `docker system df [-v]` shows, for the kinds asked (all by default)."""
    want = set(kinds)
    du = DiskUsage()
    if images is not None and "image" in want:
        du.images, diff_ids = [], set()
        for img, tags in images.list(all_=False, filters={}):
            users = containers.image_usage(img.id) if containers is not None else []
            du.images.append(ImageUsage(image=img, tags=tags, containers=len(users)))
            diff_ids.update(img.diff_ids)
        du.layers_size = images.layers_size(diff_ids)
    if containers is not None and "container" in want:
        du.containers = []
        for c in containers.all():
            extra: dict[str, Any] = containers.extra(c)
            extra.update(await containers.sizes(c))
            du.containers.append((c, extra))
    if volumes is not None and "volume" in want:
        du.volumes = [VolumeUsage(v, volumes.mountpoint(v.name), await volumes.usage(v.name)) for v in volumes.list()]
    if "build-cache" in want:
        du.build_cache = builds.cache_records() if builds is not None else []
    return du
