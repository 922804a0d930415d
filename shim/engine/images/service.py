"""Engine layer: the image service (references, load/save/import/commit, list, delete, prune).

dockerd's rules are copied where clients can tell: name resolution (refs.py), the
untag-vs-delete logic and conflict wording of `docker rmi`, prune's dangling default,
and the events (load, tag, untag, delete, import, save, prune).

`ImageService` is assembled from one mixin per concern over `ImageBase` (base.py): this
module holds the read side and tagging; archive.py, removal.py and distribution.py the rest.
"""

from __future__ import annotations

import time
from typing import Any

from shim.engine import refs
from shim.engine.images.archive import ArchiveVerbs
from shim.engine.images.distribution import DistributionVerbs
from shim.engine.images.model import Image, ImageDetails, time_ns
from shim.engine.images.removal import RemovalVerbs
from shim.engine.observe import timed
from shim.filters import IMAGE_LIST, FilterInput, Filters
from shim.times import NS


class ImageService(ArchiveVerbs, RemovalVerbs, DistributionVerbs):
    def _created_of(self, f: Filters, key: str) -> int | None:
        """before= / since= name an image: its creation time."""
        values = f.get(key)
        return self.resolve(values[0]).created_ns if values else None

    def inspect(self, ref: str) -> ImageDetails:
        img = self.resolve(ref)
        return ImageDetails(image=img, layer_dirs=[self._layers.layer_dir(d) for d in img.diff_ids])

    @timed("image", "history")
    def history(self, ref: str) -> list[dict[str, Any]]:
        """Newest first: one entry per history item, layer sizes on the non-empty ones."""
        img = self.resolve(ref)
        hist = img.config.get("history") or []
        diff_ids = img.diff_ids
        if not hist:
            hist = [{"created": img.config.get("created", ""), "comment": img.config.get("comment", "")}]
        entries: list[dict[str, Any]] = []
        layer_i = 0
        for h in hist:
            size = 0
            if not h.get("empty_layer"):
                if layer_i < len(diff_ids):
                    size = self._layer_size(diff_ids[layer_i])
                layer_i += 1
            entries.append(
                {
                    "created": time_ns(h.get("created", "")) // NS,
                    "created_by": h.get("created_by", ""),
                    "comment": h.get("comment", ""),
                    "size": size,
                    "id": "<missing>",
                    "tags": [],
                }
            )
        entries.reverse()
        entries[0]["id"] = img.id
        entries[0]["tags"] = img.familiar_tags
        return entries

    # --- tagging ---------------------------------------------------------
    async def tag(self, ref: str, repo: str, tag: str | None) -> str:
        img = self.resolve(ref)
        target = refs.parse_repo_tag(repo, tag)
        async with self._lock:
            await self._add_tag(img, target.canonical)
        self._event(img.id, "tag", target.familiar, img)
        return target.familiar

    # --- listing (last in the class: below it, `list` in an annotation would name this method) ---
    def list(self, *, all_: bool = False, filters: FilterInput = None) -> list[tuple[Image, list[str]]]:
        """Images and the familiar tags to show for each (a reference filter narrows them)."""
        f = Filters.of(filters)
        f.validate(IMAGE_LIST)
        dangling = f.bool("dangling")
        before = self._created_of(f, "before")
        since = self._created_of(f, "since")
        untils = f.times("until", time.time_ns())
        until = min(untils) if untils else None  # dockerd: the earliest of several
        out = []
        for img in sorted(self.images.values(), key=lambda i: i.created_ns, reverse=True):
            created = img.created_ns
            if dangling is not None and dangling != (not img.repo_tags):
                continue
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            if until is not None and created > until:
                continue
            if not f.labels(img.labels):
                continue
            tags = img.familiar_tags
            if f.get("reference"):
                tags = sorted(
                    refs.parse_image_ref(c).familiar
                    for c in img.repo_tags
                    if any(refs.familiar_match(p, c) for p in f.get("reference"))
                )
                if not tags:
                    continue
            # Without all, intermediate images (untagged parents of others) are hidden.
            if not all_ and not img.repo_tags and self.children(img.id):
                continue
            out.append((img, tags))
        return out
