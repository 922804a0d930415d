"""Engine layer: the image service's state and the operations every verb builds on.

State: one record per image in the Store (`images/<hex>`: tags, digests, parent, size, last
tag time); config bytes and layers live in the LayerStore port. The reference index
(canonical `repo:tag` / `repo@digest` -> image ID) is rebuilt from the records at start, and
so is a cache of each layer's size, so no verb reads a size file on the event loop.

The verbs are mixins over this base, one module per concern (service.py names them all):
lookup and tags here; list/history/tag/inspect in service.py; load/save/import/commit in
archive.py; remove/prune in removal.py; pull/push (registries) in distribution.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable

from shim.engine import refs
from shim.engine.events import Events
from shim.engine.imageports import LayerStore
from shim.engine.images.model import KIND, ContainerImage, Image
from shim.engine.store import Store
from shim.errors import InvalidParameter, NotFound, no_such_image
from shim.platforms import go_arch
from shim.times import now_rfc3339_nano

log = logging.getLogger("shim.images")

UsageFn = Callable[[str], "list[tuple[str, bool]]"]  # image id -> [(container id, running)]


class ImageBase:
    def __init__(self, *, store: Store, layers: LayerStore, events: Events, host_arch: str | None = None) -> None:
        self._store = store
        self._layers = layers
        self._events = events
        self.images: dict[str, Image] = {}
        self.tags: dict[str, str] = {}  # canonical repo:tag or repo@digest -> image id
        self._layer_sizes: dict[str, int] = {}  # diff id -> apparent size of its content
        self._usage: UsageFn = lambda image_id: []
        self._layer_users: Callable[[], set[str]] = set
        self._lock = asyncio.Lock()
        self.host_arch = host_arch or go_arch()

    # --- wiring ----------------------------------------------------------
    def set_usage(self, fn: UsageFn) -> None:
        """The container engine tells which containers use an image: fn(id) -> [(cid, running)]."""
        self._usage = fn

    def set_layer_usage(self, fn: Callable[[], set[str]]) -> None:
        """The container engine tells which layer dirs its containers' rootfs stack on (an image
        force-removed while a stopped container used it leaves its layers to that container)."""
        self._layer_users = fn

    async def restore(self) -> None:
        records = await asyncio.to_thread(self._store.load_all, KIND)
        for rec in records.values():
            try:
                raw = await asyncio.to_thread(self._layers.get_config, rec["id"])
                img = Image(
                    id=rec["id"],
                    config=json.loads(raw),
                    repo_tags=list(rec.get("repo_tags") or []),
                    repo_digests=list(rec.get("repo_digests") or []),
                    parent=rec.get("parent", ""),
                    size=int(rec.get("size") or 0),
                    last_tag_time=rec.get("last_tag_time") or "",
                )
            except (NotFound, ValueError, KeyError) as e:
                log.error("image record %s unusable, skipped: %s", rec.get("id"), e)
                continue
            self.images[img.id] = img
            for name in img.repo_tags + img.repo_digests:
                self.tags[name] = img.id
        await self._learn_sizes(d for img in self.images.values() for d in img.diff_ids)

    async def after_restore(self) -> None:
        """Daemon start, once containers are loaded: layers and configs no image and no container
        uses are removed. A load, pull, import or commit writes its layers, then its config, then
        its record; an image removal its record first (docs/RELIABILITY.md): what a crash leaves
        between those steps is such an unreferenced file. Skipped while an image record is
        unreadable (its layers may be wanted once it is repaired)."""
        if self._store.unreadable.get(KIND):
            log.warning("image records unreadable: unused layers are kept")
            return
        used = {d for img in self.images.values() for d in img.diff_ids}
        used_dirs = self._layer_users()
        configs = {img.id for img in self.images.values()}

        def collect() -> tuple[int, int]:
            layers = [d for d in self._layers.list_layers() if d not in used]
            layers = [d for d in layers if self._layers.layer_dir(d) not in used_dirs]
            for d in layers:
                self._layers.remove_layer(d)
            stale = [c for c in self._layers.list_configs() if c not in configs]
            for c in stale:
                self._layers.remove_config(c)
            return len(layers), len(stale)

        layers, stale = await asyncio.to_thread(collect)
        if layers or stale:
            log.warning("removed %d layers and %d image configs no image or container uses", layers, stale)

    # --- layer sizes -----------------------------------------------------
    async def _learn_sizes(self, diff_ids: Iterable[str]) -> None:
        """Read the sizes of layers not known yet, off the event loop."""
        missing = {d for d in diff_ids if d not in self._layer_sizes}
        if missing:
            sizes = await asyncio.to_thread(lambda: {d: self._layers.layer_size(d) for d in missing})
            self._layer_sizes.update(sizes)

    def _layer_size(self, diff_id: str) -> int:
        return self._layer_sizes.get(diff_id, 0)

    def _size_of(self, diff_ids: list[str]) -> int:
        return sum(self._layer_size(d) for d in diff_ids)

    def layers_size(self, diff_ids: Iterable[str]) -> int:
        """Bytes of these layers, each once (system df's LayersSize)."""
        return sum(self._layer_sizes.get(d, 0) for d in set(diff_ids))

    # --- lookup ----------------------------------------------------------
    def resolve(self, ref: str) -> Image:
        """dockerd's GetImage: full ID / sha256: digest, then repo:tag or repo@digest, then ID prefix."""
        if not ref:
            raise no_such_image(ref)
        bare = refs.strip_algo(ref)
        if refs.is_full_id(ref) and (ref.startswith("sha256:") or len(ref) == 64):
            img = self.images.get("sha256:" + bare)
            if img is None:
                raise no_such_image(ref if ref.startswith("sha256:") else "sha256:" + bare)
            return img
        parsed: refs.ImageRef | None = None
        try:
            parsed = refs.parse_image_ref(ref).with_default_tag()
        except InvalidParameter:
            if not ref.startswith("sha256:"):
                raise
        if parsed is not None:
            image_id = self.tags.get(parsed.canonical)
            if image_id is not None and image_id in self.images:
                return self.images[image_id]
        try:
            image_id = refs.lookup(ref, ((i, ()) for i in self.images))
        except (refs.RefAmbiguous, refs.RefNotFound):
            raise no_such_image(parsed.familiar if parsed else ref) from None
        return self.images[image_id]

    def get(self, ref: str) -> Image:
        return self.resolve(ref)

    def image_for_container(self, ref: str) -> ContainerImage:
        """Resolve `ref` for container create/run; raises NotFound `No such image: …`."""
        img = self.resolve(ref)
        return ContainerImage(
            id=img.id,
            config=json.loads(json.dumps(img.container_config)),
            layer_dirs=[self._layers.layer_dir(d) for d in img.diff_ids],
            name=ref,
        )

    def all(self) -> list[Image]:
        return list(self.images.values())

    def count(self) -> int:
        return len(self.images)

    def children(self, image_id: str) -> list[Image]:
        return [i for i in self.images.values() if i.parent == image_id]

    # --- tags and records ------------------------------------------------
    async def _add_tag(self, img: Image, canonical: str, touch: bool = True) -> None:
        old = self.tags.get(canonical)
        if old and old != img.id and old in self.images:
            prev = self.images[old]
            prev.repo_tags = [t for t in prev.repo_tags if t != canonical]
            await self._store.aput(KIND, refs.strip_algo(prev.id), prev.record())
        self.tags[canonical] = img.id
        if canonical not in img.repo_tags:
            img.repo_tags.append(canonical)
        if touch:  # dockerd leaves LastTagTime alone when `docker load` sets a tag
            img.last_tag_time = now_rfc3339_nano()
        await self._store.aput(KIND, refs.strip_algo(img.id), img.record())

    async def _untag(self, img: Image, canonical: str) -> None:
        self.tags.pop(canonical, None)
        img.repo_tags = [t for t in img.repo_tags if t != canonical]
        img.repo_digests = [d for d in img.repo_digests if d != canonical]
        await self._store.aput(KIND, refs.strip_algo(img.id), img.record())

    async def _register(
        self, image_id: str, config_raw: bytes, names: Iterable[str], parent: str = "", touch: bool = True
    ) -> Image:
        """Record an image whose config and layers the LayerStore holds (caller holds the lock)."""
        img = self.images.get(image_id)
        if img is None:
            config = json.loads(config_raw)
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            await self._learn_sizes(diff_ids)
            img = Image(id=image_id, config=config, parent=parent, size=self._size_of(diff_ids))
            self.images[image_id] = img
            await self._store.aput(KIND, refs.strip_algo(image_id), img.record())
        for name in names:
            await self._add_tag(img, name, touch)
        return img

    # --- events ----------------------------------------------------------
    def _event(self, image_id: str, action: str, name: str, img: Image | None) -> None:
        attrs = {"name": name}
        if img is not None:
            for k, v in img.labels.items():
                attrs.setdefault(k, v)
        try:
            self._events.publish("image", action, image_id, attrs)
        except Exception:  # pragma: no cover - events must never break an image operation
            log.exception("publishing image event failed")
