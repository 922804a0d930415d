"""Engine layer (containers): figures: stats samples and disk sizes.

SizeRw is the container's own diff (the runtime measures it off the loop), SizeRootFs that plus
its image. Stats bodies come from the runtime's cgroup figures and networking's interface
counters (container_io.stats_samples).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from shim.engine.container_io import stats_samples
from shim.engine.containers.core import Core
from shim.engine.model import Container
from shim.errors import ShimError


class Sizes:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def size_rw(self, c: Container) -> int:
        return await self._core.runtime.diff_size(c.id)

    def image_size(self, image_id: str) -> int:
        """The container's image's size; 0 when the image is gone (force-removed)."""
        images = self._core.images
        if images is None:
            return 0
        try:
            return images.get(image_id).size
        except ShimError:
            return 0

    async def sizes(self, c: Container) -> dict[str, int]:
        """inspect/list with size=1: SizeRw (the container's own diff) and SizeRootFs (plus its image)."""
        rw = await self.size_rw(c)
        return {"size_rw": rw, "size_root_fs": rw + self.image_size(c.image_id)}

    def stats(self, c: Container, stream: bool, one_shot: bool) -> AsyncIterator[dict[str, Any]]:
        """Stats bodies: one (stream=False) or one per second."""
        return stats_samples(self._core.runtime, c, stream, one_shot, self._core.network)
