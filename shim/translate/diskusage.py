"""Translate layer: GET /system/df's body from the engine's DiskUsage facts (dockerd's shape)."""

from __future__ import annotations

from typing import Any

from shim.engine.model import DiskUsage
from shim.translate import build as trb
from shim.translate import containers as trc
from shim.translate import images as tri
from shim.translate import volumes as trv
from shim.translate.versions import Version


def disk_usage_out(du: DiskUsage, v: Version) -> dict[str, Any]:
    """Images as in the image list plus Containers and SharedSize (not computed: 0), containers as
    in the container list with their sizes, volumes with UsageData, the build cache and its size;
    null for a kind not asked."""
    images: list[dict[str, Any]] | None = None
    if du.images is not None:
        images = []
        for u in du.images:
            item = tri.list_item(u.image, u.tags, v)
            item["Containers"], item["SharedSize"] = u.containers, 0
            images.append(item)
    return {
        "LayersSize": du.layers_size,
        "Images": images,
        "Containers": (
            [trc.list_item_out(c, v, extra) for c, extra in du.containers] if du.containers is not None else None
        ),
        "Volumes": (
            [trv.volume_out(x.volume, x.mountpoint, x.usage) for x in du.volumes] if du.volumes is not None else None
        ),
        "BuildCache": [trb.cache_record_out(r) for r in du.build_cache] if du.build_cache is not None else None,
        "BuilderSize": sum(r.size for r in du.build_cache or []),
    }
