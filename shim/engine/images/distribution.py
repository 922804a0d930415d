"""Engine layer: what the registry verbs (engine/distribution: pull, push) need from the image store.

The transfers themselves live in engine/distribution/ behind the RegistryClient port; this room
only registers what a pull brought (config, tags, RepoDigests `name@sha256:…`), records a
pushed digest, answers which image a reference names, and publishes `pull`/`push` events named
by reference as dockerd does (the actor is the familiar reference, `name` the repository).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from shim.engine import refs
from shim.engine.images.base import ImageBase
from shim.engine.images.model import KIND, Image
from shim.errors import InvalidParameter, NotFound, no_such_image


class DistributionVerbs(ImageBase):
    def has(self, image_id: str) -> bool:
        return image_id in self.images

    def tagged(self, canonical: str) -> str | None:
        """The image a canonical `repo:tag` or `repo@digest` names, if any."""
        return self.tags.get(canonical)

    def references(self, name: str) -> Iterable[tuple[str, str]]:
        """(canonical repo:tag, image id) for every tag of one repository (a push of all tags)."""
        return sorted((t, i) for t, i in self.tags.items() if "@" not in t and t.rpartition(":")[0] == name)

    async def add_pulled(
        self, image_id: str, config_raw: bytes | None, diff_ids: list[str], names: list[str], digests: list[str]
    ) -> Image:
        """Register a pulled image (its config, unless already known), then its tags and
        RepoDigests. dockerd leaves LastTagTime unset on pulled images."""
        if config_raw is not None:
            image_id = await asyncio.to_thread(self._layers.put_config, config_raw)
        async with self._lock:
            img = self.images.get(image_id)
            if img is None:
                if config_raw is None:
                    raise no_such_image(image_id)
                img = await self._register(image_id, config_raw, [], touch=False)
            for n in names:
                await self._add_tag(img, n, touch=False)
            for d in digests:
                await self._add_digest(img, d)
        return img

    async def add_repo_digest(self, image_id: str, canonical: str) -> None:
        """After a push: the pushed manifest's digest becomes one of the image's RepoDigests."""
        async with self._lock:
            img = self.images.get(image_id)
            if img is not None:
                await self._add_digest(img, canonical)

    async def _add_digest(self, img: Image, canonical: str) -> None:
        old = self.tags.get(canonical)
        if old and old != img.id and old in self.images:
            prev = self.images[old]
            prev.repo_digests = [d for d in prev.repo_digests if d != canonical]
            await self._store.aput(KIND, refs.strip_algo(prev.id), prev.record())
        self.tags[canonical] = img.id
        if canonical not in img.repo_digests:
            img.repo_digests.append(canonical)
            await self._store.aput(KIND, refs.strip_algo(img.id), img.record())

    def publish(self, actor: str, action: str, name: str) -> None:
        """Image events named by reference (pull, push)."""
        img = None
        try:
            img = self.resolve(actor)
        except (NotFound, InvalidParameter):
            pass
        self._event(actor, action, name, img)
