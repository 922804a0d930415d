"""Translate layer: GET /system/df's body from the engine's DiskUsage facts (dockerd's shape)."""

from __future__ import annotations

from typing import Any

from shim.engine.model import DiskUsage
from shim.translate import build as trb
from shim.translate import containers as trc
from shim.translate import images as tri
from shim.translate import volumes as trv
from shim.translate.system import df_out
from shim.translate.versions import Version


def disk_usage_out(du: DiskUsage, v: Version, *, verbose: bool = False) -> dict[str, Any]:
    """Images as in the image list plus Containers and SharedSize (not computed: 0), containers as
    in the container list with their sizes, volumes with UsageData, the build cache and its size;
    null for a kind not asked. The shape per API version is translate/system.df_out's (the
    legacy lists below 1.52, the *Usage objects from it)."""
    images: list[dict[str, Any]] | None = None
    if du.images is not None:
        images = []
        for u in du.images:
            item = tri.list_item(u.image, u.tags, v)
            item["Containers"], item["SharedSize"] = u.containers, 0
            images.append(item)
    return df_out(
        images=images,
        layers_size=du.layers_size,
        containers=(
            [trc.list_item_out(c, v, extra) for c, extra in du.containers] if du.containers is not None else None
        ),
        volumes=(
            [trv.volume_out(x.volume, x.mountpoint, x.usage) for x in du.volumes] if du.volumes is not None else None
        ),
        build_cache=[trb.cache_record_out(r, v) for r in du.build_cache] if du.build_cache is not None else None,
        builder_size=sum(r.size for r in du.build_cache or []),
        verbose=verbose,
        v=v,
    )
