"""Engine layer: the image service (references, load/save/import, list, delete, prune).

State: one record per image in the Store (`images/<hex>`: tags, digests, parent, size,
last tag time); the config bytes and layers live in the LayerStore port. The reference
index (canonical `repo:tag` -> image ID) is rebuilt from the records at start.

dockerd's rules are copied where clients can tell: name resolution (refs.py), the
untag-vs-delete logic and conflict wording of `docker rmi`, prune's dangling default,
and the events (load, tag, untag, delete, import, save, prune).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from shim.engine import refs
from shim.engine.changes import apply_changes
from shim.engine.observe import timed
from shim.engine.ports import ArchiveImage, LayerStore
from shim.errors import Conflict, InvalidParameter, NotFound, no_such_image
from shim.labels import labels_match

log = logging.getLogger("shim.images")

KIND = "images"
UsageFn = Callable[[str], "list[tuple[str, bool]]"]  # image id -> [(container id, running)]


@dataclasses.dataclass(slots=True)
class Image:
    id: str  # sha256:<hex>
    config: dict  # the whole image config JSON (architecture, os, config, created, history, rootfs…)
    repo_tags: list[str] = dataclasses.field(default_factory=list)  # canonical: docker.io/library/busybox:latest
    repo_digests: list[str] = dataclasses.field(default_factory=list)  # canonical name@sha256:…
    parent: str = ""
    size: int = 0
    last_tag_time: str = ""  # RFC3339Nano, "" = never tagged

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def container_config(self) -> dict:
        return self.config.get("config") or {}

    @property
    def created_unix(self) -> int:
        return parse_time(self.config.get("created", ""))

    @property
    def familiar_tags(self) -> list[str]:
        # Sorted by familiar name, as the reference store returns them (lexicalRefs).
        return sorted(refs.parse_image_ref(t).familiar for t in self.repo_tags)

    @property
    def familiar_digests(self) -> list[str]:
        return sorted(refs.parse_image_ref(d).familiar for d in self.repo_digests)

    def record(self) -> dict:
        return {
            "id": self.id,
            "repo_tags": self.repo_tags,
            "repo_digests": self.repo_digests,
            "parent": self.parent,
            "size": self.size,
            "last_tag_time": self.last_tag_time,
        }


@dataclasses.dataclass(slots=True)
class ContainerImage:
    """What the container engine needs to create and run a container from an image."""

    id: str  # sha256:<hex>
    config: dict  # the image's Docker Config (Env, Cmd, Entrypoint, WorkingDir, User, …)
    layer_dirs: list[str]  # overlay lower dirs, lowest layer first
    name: str  # familiar reference as the user gave it resolved (busybox:latest) or the ID


def parse_time(text: str) -> int:
    """RFC3339 (with nanoseconds) to unix seconds; 0 when absent or unparseable."""
    if not text:
        return 0
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if "." in t:  # Python's fromisoformat takes at most microseconds
        head, _, rest = t.partition(".")
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac) :]
        t = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    try:
        return int(datetime.datetime.fromisoformat(t).timestamp())
    except ValueError:
        return 0


def rfc3339_nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(secs, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}".rstrip("0").rstrip(".") + "Z"


def short_id(image_id: str) -> str:
    return refs.strip_algo(image_id)[:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


class ImageService:
    def __init__(self, *, store: Any, layers: LayerStore, events: Any, host_arch: str | None = None) -> None:
        self.store = store
        self.layers = layers
        self.events = events
        self.images: dict[str, Image] = {}
        self.tags: dict[str, str] = {}  # canonical repo:tag or repo@digest -> image id
        self._usage: UsageFn = lambda image_id: []
        self._lock = asyncio.Lock()
        self.host_arch = host_arch or _go_arch()

    # --- wiring ----------------------------------------------------------
    def set_usage(self, fn: UsageFn) -> None:
        """The container engine tells which containers use an image: fn(id) -> [(cid, running)]."""
        self._usage = fn

    async def restore(self) -> None:
        records = await asyncio.to_thread(self.store.load_all, KIND)
        for rec in records.values():
            try:
                raw = await asyncio.to_thread(self.layers.get_config, rec["id"])
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
            if image_id in self.images:
                return self.images[image_id]
        try:
            image_id = refs.lookup(ref, ((i, ()) for i in self.images))
        except refs.RefAmbiguous:
            raise no_such_image(parsed.familiar if parsed else ref) from None
        except refs.RefNotFound:
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
            layer_dirs=[self.layers.layer_dir(d) for d in img.diff_ids],
            name=ref,
        )

    def all(self) -> list[Image]:
        return list(self.images.values())

    def count(self) -> int:
        return len(self.images)

    def children(self, image_id: str) -> list[Image]:
        return [i for i in self.images.values() if i.parent == image_id]

    # --- listing ---------------------------------------------------------
    def list(self, *, all_: bool = False, filters: dict[str, list[str]] | None = None) -> list[tuple[Image, list[str]]]:
        """Images and the familiar tags to show for each (a reference filter narrows them)."""
        filters = filters or {}
        for key in filters:
            if key not in ("reference", "dangling", "label", "before", "since", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = _bool_filter(filters, "dangling")
        before = self._time_bound(filters, "before")
        since = self._time_bound(filters, "since")
        until = _until(filters)
        out = []
        for img in sorted(self.images.values(), key=lambda i: i.created_unix, reverse=True):
            if dangling is not None and dangling != (not img.repo_tags):
                continue
            if before is not None and img.created_unix >= before:
                continue
            if since is not None and img.created_unix <= since:
                continue
            if until is not None and img.created_unix > until:
                continue
            if not labels_match(img.container_config.get("Labels") or {}, filters.get("label", [])):
                continue
            tags = img.familiar_tags
            if filters.get("reference"):
                tags = sorted(
                    refs.parse_image_ref(c).familiar
                    for c in img.repo_tags
                    if any(refs.familiar_match(p, c) for p in filters["reference"])
                )
                if not tags:
                    continue
            # Without all, intermediate images (untagged parents of others) are hidden.
            if not all_ and not img.repo_tags and self.children(img.id):
                continue
            out.append((img, tags))
        return out

    def _time_bound(self, filters: dict[str, list[str]], key: str) -> int | None:
        vals = filters.get(key)
        if not vals:
            return None
        return self.resolve(vals[0]).created_unix

    @timed("image", "history")
    def history(self, ref: str) -> list[dict]:
        """Newest first: one entry per history item, layer sizes on the non-empty ones."""
        img = self.resolve(ref)
        hist = img.config.get("history") or []
        diff_ids = img.diff_ids
        if not hist:
            hist = [{"created": img.config.get("created", ""), "comment": img.config.get("comment", "")}]
        entries = []
        layer_i = 0
        for h in hist:
            size = 0
            if not h.get("empty_layer"):
                if layer_i < len(diff_ids):
                    size = self.layers.layer_size(diff_ids[layer_i])
                layer_i += 1
            entries.append(
                {
                    "created": parse_time(h.get("created", "")),
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

    async def _add_tag(self, img: Image, canonical: str, touch: bool = True) -> None:
        old = self.tags.get(canonical)
        if old and old != img.id and old in self.images:
            prev = self.images[old]
            prev.repo_tags = [t for t in prev.repo_tags if t != canonical]
            await self.store.aput(KIND, refs.strip_algo(prev.id), prev.record())
        self.tags[canonical] = img.id
        if canonical not in img.repo_tags:
            img.repo_tags.append(canonical)
        if touch:  # dockerd leaves LastTagTime alone when `docker load` sets a tag
            img.last_tag_time = rfc3339_nano()
        await self.store.aput(KIND, refs.strip_algo(img.id), img.record())

    async def _untag(self, img: Image, canonical: str) -> None:
        self.tags.pop(canonical, None)
        img.repo_tags = [t for t in img.repo_tags if t != canonical]
        img.repo_digests = [d for d in img.repo_digests if d != canonical]
        await self.store.aput(KIND, refs.strip_algo(img.id), img.record())

    # --- adding images ---------------------------------------------------
    async def _register(
        self, image_id: str, config_raw: bytes, sizes: int, names: Iterable[str], parent: str = "", touch: bool = True
    ) -> Image:
        img = self.images.get(image_id)
        if img is None:
            img = Image(id=image_id, config=json.loads(config_raw), parent=parent, size=sizes)
            self.images[image_id] = img
            await self.store.aput(KIND, refs.strip_algo(image_id), img.record())
        for name in names:
            await self._add_tag(img, name, touch)
        return img

    def _size_of(self, diff_ids: list[str]) -> int:
        return sum(self.layers.layer_size(d) for d in diff_ids)

    async def _spool(self, chunks: AsyncIterator[bytes]) -> str:
        path = await asyncio.to_thread(self.layers.staging_file)
        f = await asyncio.to_thread(open, path, "wb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(f.write, chunk)
        except BaseException:
            await asyncio.to_thread(f.close)
            await asyncio.to_thread(self.layers.discard, path)
            raise
        await asyncio.to_thread(f.close)
        return path

    async def load(self, chunks: AsyncIterator[bytes]) -> list[str]:
        """`docker load`: the body is a docker-archive or OCI layout; returns the progress lines."""
        path = await self._spool(chunks)
        try:
            loaded = await asyncio.to_thread(self.layers.load_archive, path)
        finally:
            await asyncio.to_thread(self.layers.discard, path)
        lines = []
        async with self._lock:
            for item in loaded:
                names = []
                for t in item.repo_tags:
                    try:
                        names.append(refs.parse_image_ref(t).with_default_tag().canonical)
                    except InvalidParameter:
                        raise InvalidParameter(f"invalid reference format: {t!r} in archive") from None
                for n in names:
                    old = self.tags.get(n)
                    if old and old != item.image_id:
                        lines.append(
                            f"The image {refs.parse_image_ref(n).familiar} already exists, renaming "
                            f"the old one with ID {old} to empty string\n"
                        )
                img = await self._register(item.image_id, item.config, self._size_of(item.diff_ids), names, touch=False)
                self._event(img.id, "load", img.id, img)
                if names:
                    lines += [f"Loaded image: {refs.parse_image_ref(n).familiar}\n" for n in names]
                else:
                    lines.append(f"Loaded image ID: {img.id}\n")
        return lines

    async def save(self, names: list[str]) -> AsyncIterator[bytes]:
        """`docker save`: resolves every name first (a 404 before any byte), then streams the tar."""
        if not names:
            raise InvalidParameter("no images specified")
        chosen: dict[str, ArchiveImage] = {}
        for name in names:
            img = self.resolve(name)
            item = chosen.get(img.id)
            if item is None:
                raw = await asyncio.to_thread(self.layers.get_config, img.id)
                item = chosen[img.id] = ArchiveImage(config=raw, repo_tags=[], image_id=img.id, diff_ids=img.diff_ids)
            # Only the names asked for travel in the archive, as dockerd does; an ID saves untagged.
            try:
                parsed = refs.parse_image_ref(name).with_default_tag()
            except InvalidParameter:
                parsed = None
            if parsed is not None and parsed.canonical in img.repo_tags:
                if parsed.familiar not in item.repo_tags:
                    item.repo_tags.append(parsed.familiar)
        path = await asyncio.to_thread(self.layers.staging_file)
        try:
            await asyncio.to_thread(self.layers.save_archive, path, list(chosen.values()))
        except BaseException:
            await asyncio.to_thread(self.layers.discard, path)
            raise
        for image_id in chosen:
            self._event(image_id, "save", image_id, self.images.get(image_id))
        return self._read_file(path)

    async def _read_file(self, path: str) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(open, path, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(f.read, 32 * 1024)
                if not chunk:
                    return
                yield chunk
        finally:
            await asyncio.to_thread(f.close)
            await asyncio.to_thread(self.layers.discard, path)

    async def import_image(
        self,
        chunks: AsyncIterator[bytes],
        *,
        repo: str = "",
        tag: str = "",
        changes: list[str] | None = None,
        message: str = "",
        platform: str = "",
    ) -> str:
        """`docker import`: a rootfs tar becomes a one-layer image; returns the image ID."""
        target = refs.parse_repo_tag(repo, tag) if repo else None
        os_, arch = "linux", self.host_arch
        if platform:
            parts = platform.split("/")
            if parts[0] != "linux":
                raise InvalidParameter(f"unsupported os {parts[0]}")
            if len(parts) > 1 and parts[1]:
                arch = parts[1]
        config = apply_changes({}, changes or [])
        path = await self._spool(chunks)
        try:
            info = await asyncio.to_thread(self.layers.add_layer, path)
        finally:
            await asyncio.to_thread(self.layers.discard, path)
        msg = message or "Imported from -"
        created = rfc3339_nano()
        image_config = {
            "architecture": arch,
            "comment": msg,
            "config": _full_config(config),
            "created": created,
            "docker_version": "shim",
            "history": [{"created": created, "comment": msg}],
            "os": os_,
            "rootfs": {"type": "layers", "diff_ids": [info.diff_id]},
        }
        raw = json.dumps(image_config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self.layers.put_config, raw)
        async with self._lock:
            img = await self._register(image_id, raw, info.size, [target.canonical] if target else [])
        self._event(img.id, "import", img.id, img)
        return img.id

    async def commit(
        self,
        *,
        parent_id: str,
        config: dict,
        upper_dir: str = "",
        layer_tar: str = "",
        author: str = "",
        comment: str = "",
        created_by: str = "",
        repo: str = "",
        tag: str = "",
        changes: list[str] | None = None,
    ) -> str:
        """`docker commit`: `parent_id`'s layers plus one new layer; returns the new image ID.

        The new layer is the container's overlay upper dir (`upper_dir`, whiteouts converted)
        or a ready layer tar (`layer_tar`, consumed). `config` is the container's Config
        (image defaults already merged), `changes` Dockerfile instructions applied on top.
        """
        if upper_dir:
            layer_tar = await asyncio.to_thread(self.layers.diff_tar, upper_dir)
        parent = self.images.get(parent_id) if parent_id else None
        target = refs.parse_repo_tag(repo, tag) if repo else None
        cfg = apply_changes(config, changes or [])
        try:
            info = await asyncio.to_thread(self.layers.add_layer, layer_tar)
        finally:
            await asyncio.to_thread(self.layers.discard, layer_tar)
        created = rfc3339_nano()
        base = parent.config if parent else {}
        history = [
            *list(base.get("history") or []),
            {
                "created": created,
                "created_by": created_by,
                **({"author": author} if author else {}),
                **({"comment": comment} if comment else {}),
            },
        ]
        image_config = {
            "architecture": base.get("architecture", self.host_arch),
            **({"author": author} if author else {}),
            **({"comment": comment} if comment else {}),
            "config": _full_config(cfg),
            "created": created,
            "docker_version": "shim",
            "history": history,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": (parent.diff_ids if parent else []) + [info.diff_id]},
        }
        raw = json.dumps(image_config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self.layers.put_config, raw)
        async with self._lock:
            img = await self._register(
                image_id,
                raw,
                self._size_of(image_config["rootfs"]["diff_ids"]),
                [target.canonical] if target else [],
                parent=parent.id if parent else "",
            )
        return img.id

    async def add_built(self, *, parent_id: str, config: dict[str, Any], layer_tar: str = "") -> str:
        """The builder's step image (dockerd's CommitBuildStep / CreateImage): `config` is the whole
        image config; a layer tar (consumed) is ingested and its diff ID appended to rootfs.diff_ids."""
        if layer_tar:
            try:
                info = await asyncio.to_thread(self.layers.add_layer, layer_tar)
            finally:
                await asyncio.to_thread(self.layers.discard, layer_tar)
            config["rootfs"]["diff_ids"].append(info.diff_id)
        raw = json.dumps(config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self.layers.put_config, raw)
        diff_ids = config["rootfs"]["diff_ids"]
        async with self._lock:
            img = await self._register(image_id, raw, self._size_of(diff_ids), [], parent=parent_id)
        return img.id

    def pull(self, from_image: str, tag: str = "") -> list[dict]:
        """No registry is reachable: an image present locally is 'up to date', anything else a 404."""
        ref = refs.parse_image_ref(from_image)
        if tag:
            ref = (
                dataclasses.replace(ref, tag=tag)
                if not tag.startswith("sha256:")
                else dataclasses.replace(ref, digest=tag)
            )
        ref = ref.with_default_tag()
        if ref.canonical in self.tags:
            return [
                {"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest},
                {"status": f"Status: Image is up to date for {ref.familiar}"},
            ]
        raise NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            "require 'docker login': denied: requested access to the resource is denied"
        )

    def push(self, name: str, tag: str = "") -> list[dict]:
        """No registry support: a missing image is dockerd's 404, a present one fails in the stream."""
        ref = refs.parse_image_ref(name)
        if tag:
            ref = dataclasses.replace(ref, tag=tag)
        if ref.tag is None and ref.digest is None:
            tagged = [t for t in self.tags if refs.parse_image_ref(t).name == ref.name]
            if not tagged:
                raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        elif ref.canonical not in self.tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar}")
        msg = "pushing to a registry is not supported by this daemon"
        return [
            {"status": f"The push refers to repository [{ref.name}]"},
            {"errorDetail": {"message": msg}, "error": msg},
        ]

    # --- removal ---------------------------------------------------------
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
        if not _is_id_prefix(img.id, ref):
            parsed = refs.parse_image_ref(ref).with_default_tag()
            if not force and _single_reference(repo_refs) and using:
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
            if img.repo_tags or img.repo_digests:
                return records
            removed_repo_ref = True
        elif _single_reference(repo_refs):
            conflict = self._conflict(img, hard=True, soft=not force, active_ref=False)
            if conflict:
                raise conflict
            for name in list(repo_refs):
                await self._untag(img, name)
                records.append({"Untagged": refs.parse_image_ref(name).familiar})
                self._event(img.id, "untag", img.id, img)
        await self._delete_helper(img, records, force, prune, quiet=removed_repo_ref)
        return records

    def _conflict(self, img: Image, *, hard: bool, soft: bool, active_ref: bool = True) -> Conflict | None:
        using = self._usage(img.id)

        def err(forced: bool, msg: str) -> Conflict:
            how = "cannot be forced" if forced else "must be forced"
            c = Conflict(f"conflict: unable to delete {short_id(img.id)} ({how}) - {msg}")
            c.used = bool(using)  # type: ignore[attr-defined]
            return c

        if hard:
            if self.children(img.id):
                return err(True, "image has dependent child images")
            running = [cid for cid, run in using if run]
            if running:
                return err(True, f"image is being used by running container {running[0][:12]}")
        if soft:
            if active_ref and (img.repo_tags or img.repo_digests):
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
            dangling = not (img.repo_tags or img.repo_digests) and not self.children(img.id)
            if quiet and (not dangling or getattr(conflict, "used", False)):
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
        await self.store.adelete(KIND, refs.strip_algo(img.id))
        await asyncio.to_thread(self.layers.remove_config, img.id)
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
            reclaimed += self.layers.layer_size(diff_id)
            await asyncio.to_thread(self.layers.remove_layer, diff_id)
            if chain_id != img.id:
                records.append({"Deleted": chain_id})
        return reclaimed

    async def prune(self, filters: dict[str, list[str]] | None = None) -> tuple[list[dict[str, str]], int]:
        """`docker image prune`: dangling only unless dangling=false; never images in use."""
        filters = filters or {}
        for key in filters:
            if key not in ("dangling", "label", "label!", "until"):
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = _bool_filter(filters, "dangling")
        dangling_only = dangling is None or dangling
        until = _until(filters)
        records: list[dict[str, str]] = []
        async with self._lock:
            sizes = {d: self.layers.layer_size(d) for i in self.images.values() for d in i.diff_ids}
            heads = [i for i in self.images.values() if not self.children(i.id)]
            for img in heads:
                if img.id not in self.images:
                    continue
                if dangling_only and (img.repo_tags or img.repo_digests):
                    continue
                labels = img.container_config.get("Labels") or {}
                if not labels_match(labels, filters.get("label", [])):
                    continue
                if filters.get("label!") and labels_match(labels, filters["label!"], any_=True):
                    continue
                if until is not None and img.created_unix >= until:
                    continue
                if self._usage(img.id):
                    continue
                try:
                    if img.repo_tags or img.repo_digests:
                        for name in list(img.repo_tags + img.repo_digests):
                            records += await self._remove(name, False, True)
                    else:
                        await self._delete_helper(img, records, False, True, False)
                except (Conflict, NotFound):
                    continue
            left = {d for i in self.images.values() for d in i.diff_ids}
            reclaimed = sum(size for d, size in sizes.items() if d not in left)
        self.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return records, reclaimed

    # --- events ----------------------------------------------------------
    def _event(self, image_id: str, action: str, name: str, img: Image | None) -> None:
        attrs = {"name": name}
        if img is not None:
            for k, v in (img.container_config.get("Labels") or {}).items():
                attrs.setdefault(k, v)
        try:
            self.events.publish("image", action, image_id, attrs)
        except Exception:  # pragma: no cover - events must never break an image operation
            log.exception("publishing image event failed")


def _go_arch() -> str:
    import platform

    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def _full_config(cfg: dict) -> dict:
    """A container.Config in Go field order with its zero values, as dockerd stores it."""
    base = {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    out = dict(base)
    for k, v in cfg.items():
        out[k] = v
    if "ExposedPorts" in out:  # Go's field order puts it after AttachStderr
        ports = out.pop("ExposedPorts")
        items = list(out.items())
        idx = [k for k, _ in items].index("AttachStderr") + 1
        out = dict([*items[:idx], ("ExposedPorts", ports), *items[idx:]])
    return out


def _is_id_prefix(image_id: str, ref: str) -> bool:
    bare = refs.strip_algo(ref)
    return bool(bare) and all(c in "0123456789abcdef" for c in bare) and refs.strip_algo(image_id).startswith(bare)


def _single_reference(names: list[str]) -> bool:
    """isSingleReference: all references in one repository and at most one of them a tag."""
    if not names:
        return True
    parsed = [refs.parse_image_ref(n) for n in names]
    repos = {p.name for p in parsed}
    tags = [p for p in parsed if p.digest is None]
    return len(repos) == 1 and len(tags) <= 1


def _bool_filter(filters: dict[str, list[str]], key: str) -> bool | None:
    vals = filters.get(key)
    if not vals:
        return None
    v = vals[0].lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    # moby formats the values as a Go slice: 'dangling=[maybe]'
    raise InvalidParameter(f"Invalid filter '{key}=[{' '.join(vals)}]'")


def _until(filters: dict[str, list[str]]) -> int | None:
    vals = filters.get("until")
    if not vals:
        return None
    raw = vals[0]
    try:
        return int(float(raw))
    except ValueError:
        pass
    unit = {"s": 1, "m": 60, "h": 3600}
    total, num = 0.0, ""
    for ch in raw:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in unit and num:
            total += float(num) * unit[ch]
            num = ""
        else:
            ts = parse_time(raw)
            if ts:
                return ts
            raise InvalidParameter(f"invalid filter 'until={raw}'")
    if num:
        raise InvalidParameter(f"invalid filter 'until={raw}'")
    return int(time.time() - total)
