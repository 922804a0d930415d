"""Engine layer: `docker rmi` and `docker image prune`, dockerd's daemon/images/image_delete.go
and image_prune.go: untag before delete, the conflict rules and their wording, parents pruned
after their last child, layers removed once no image (or container) needs them."""

from __future__ import annotations

import asyncio

from shim.engine import refs
from shim.engine.images.base import ImageBase
from shim.engine.images.model import KIND, Image, chain_ids, is_id_prefix, short_id, single_reference
from shim.engine.observe import timed
from shim.errors import Conflict, ImageDeleteConflict, NotFound, no_such_image
from shim.filters import IMAGE_PRUNE, FilterInput, Filters


class RemovalVerbs(ImageBase):
    @timed("image", "delete")
    async def remove(self, ref: str, *, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
        """`docker rmi`: dockerd's ImageDelete. Returns [{"Untagged": …}, {"Deleted": …}]."""
        async with self._lock:
            return await self._remove(ref, force, prune)

    async def _remove(self, ref: str, force: bool, prune: bool) -> list[dict[str, str]]:
        img = self.resolve(ref)
        records: list[dict[str, str]] = []
        using = self._usage(img.id)
        repo_refs = img.repo_tags + img.repo_digests
        removed_repo_ref = False
        if not is_id_prefix(img.id, ref):
            parsed = refs.parse_image_ref(ref).with_default_tag()
            if not force and single_reference(repo_refs) and using:
                raise Conflict(
                    f'conflict: unable to remove repository reference "{ref}" (must force) - container '
                    f"{using[0][0][:12]} is using its referenced image {short_id(img.id)}"
                )
            if parsed.canonical not in repo_refs:
                raise no_such_image(parsed.familiar)
            await self._untag(img, parsed.canonical)
            records.append({"Untagged": parsed.familiar})
            self._event(img.id, "untag", img.id, img)
            if parsed.digest is None and not any(refs.parse_image_ref(t).name == parsed.name for t in img.repo_tags):
                for d in [d for d in img.repo_digests if refs.parse_image_ref(d).name == parsed.name]:
                    await self._untag(img, d)
                    records.append({"Untagged": refs.parse_image_ref(d).familiar})
            if not img.dangling:
                return records
            removed_repo_ref = True
        elif single_reference(repo_refs):
            conflict = self._conflict(img, hard=True, soft=not force, active_ref=False)
            if conflict:
                raise conflict
            for name in list(repo_refs):
                await self._untag(img, name)
                records.append({"Untagged": refs.parse_image_ref(name).familiar})
                self._event(img.id, "untag", img.id, img)
        await self._delete_helper(img, records, force, prune, quiet=removed_repo_ref)
        return records

    def _conflict(self, img: Image, *, hard: bool, soft: bool, active_ref: bool = True) -> ImageDeleteConflict | None:
        using = self._usage(img.id)

        def err(forced: bool, msg: str) -> ImageDeleteConflict:
            how = "cannot be forced" if forced else "must be forced"
            return ImageDeleteConflict(
                f"conflict: unable to delete {short_id(img.id)} ({how}) - {msg}", used=bool(using)
            )

        if hard:
            if self.children(img.id):
                return err(True, "image has dependent child images")
            running = [cid for cid, run in using if run]
            if running:
                return err(True, f"image is being used by running container {running[0][:12]}")
        if soft:
            if active_ref and not img.dangling:
                return err(False, "image is referenced in multiple repositories")
            stopped = [cid for cid, run in using if not run]
            if stopped:
                return err(False, f"image is being used by stopped container {stopped[0][:12]}")
        return None

    async def _delete_helper(
        self, img: Image, records: list[dict[str, str]], force: bool, prune: bool, quiet: bool
    ) -> int:
        conflict = self._conflict(img, hard=True, soft=not force)
        if conflict is not None:
            dangling = img.dangling and not self.children(img.id)
            if quiet and (not dangling or conflict.used):
                return 0
            raise conflict
        for name in list(img.repo_tags + img.repo_digests):
            await self._untag(img, name)
            records.append({"Untagged": refs.parse_image_ref(name).familiar})
            self._event(img.id, "untag", img.id, img)
        reclaimed = await self._delete_image(img, records)
        if prune and img.parent and img.parent in self.images:
            reclaimed += await self._delete_helper(self.images[img.parent], records, False, True, True)
        return reclaimed

    async def _delete_image(self, img: Image, records: list[dict[str, str]]) -> int:
        del self.images[img.id]
        await self._store.adelete(KIND, refs.strip_algo(img.id))
        await asyncio.to_thread(self._layers.remove_config, img.id)
        self._event(img.id, "delete", img.id, None)
        records.append({"Deleted": img.id})
        in_use = {d for other in self.images.values() for d in other.diff_ids}
        if self._usage(img.id):
            # `rmi -f` of an image a stopped container still uses (dockerd allows it): the
            # container's rootfs needs these lower dirs, so the layers stay on disk.
            in_use.update(img.diff_ids)
        reclaimed = 0
        for diff_id, chain_id in reversed(list(zip(img.diff_ids, chain_ids(img.diff_ids), strict=False))):
            if diff_id in in_use:
                continue
            in_use.add(diff_id)  # an image may list the same diff twice
            reclaimed += self._layer_sizes.pop(diff_id, 0)
            await asyncio.to_thread(self._layers.remove_layer, diff_id)
            if chain_id != img.id:
                records.append({"Deleted": chain_id})
        return reclaimed

    async def prune(self, filters: FilterInput = None) -> tuple[list[dict[str, str]], int]:
        """`docker image prune`: dangling only unless dangling=false; never images in use."""
        f = Filters.of(filters)
        f.validate(IMAGE_PRUNE)
        dangling = f.bool("dangling")
        dangling_only = dangling is None or dangling
        until = f.until()
        records: list[dict[str, str]] = []
        async with self._lock:
            sizes = {d: self._layer_size(d) for i in self.images.values() for d in i.diff_ids}
            heads = [i for i in self.images.values() if not self.children(i.id)]
            for img in heads:
                if img.id not in self.images:
                    continue
                if dangling_only and not img.dangling:
                    continue
                if not (f.labels(img.labels) and f.not_labels(img.labels)):
                    continue
                if until is not None and img.created_ns >= until:
                    continue
                if self._usage(img.id):
                    continue
                try:
                    if not img.dangling:
                        for name in list(img.repo_tags + img.repo_digests):
                            records += await self._remove(name, False, True)
                    else:
                        await self._delete_helper(img, records, False, True, False)
                except (Conflict, NotFound):
                    continue
            left = {d for i in self.images.values() for d in i.diff_ids}
            reclaimed = sum(size for d, size in sizes.items() if d not in left)
        self._events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return records, reclaimed
