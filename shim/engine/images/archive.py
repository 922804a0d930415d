"""Engine layer: images in and out as archives: `docker load`, `docker save`, `docker import`,
`docker commit`, and the builder's step images. Every byte goes through the LayerStore port in
a thread; the service records the result under its lock (base.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from shim.engine import refs
from shim.engine.changes import apply_changes
from shim.engine.imageports import ArchiveImage
from shim.engine.images.base import ImageBase
from shim.engine.images.model import full_config
from shim.errors import HOST_FAULTS, InvalidParameter, host_fault
from shim.platforms import OS
from shim.times import now_rfc3339_nano

CHUNK = 32 * 1024


class ArchiveVerbs(ImageBase):
    async def _spool(self, chunks: AsyncIterator[bytes]) -> str:
        path = await asyncio.to_thread(self._layers.staging_file)
        f = await asyncio.to_thread(open, path, "wb")
        try:
            try:
                async for chunk in chunks:
                    await asyncio.to_thread(f.write, chunk)
            finally:
                await asyncio.to_thread(f.close)  # a full disk may fail here too (the last flush)
        except OSError as e:
            await asyncio.to_thread(self._layers.discard, path)
            if e.errno in HOST_FAULTS:  # not a client that went away
                raise host_fault(e, f"write {path}") from e
            raise
        except BaseException:
            await asyncio.to_thread(self._layers.discard, path)
            raise
        return path

    async def load(self, chunks: AsyncIterator[bytes]) -> list[str]:
        """`docker load`: the body is a docker-archive or OCI layout; returns the progress lines."""
        path = await self._spool(chunks)
        try:
            loaded = await asyncio.to_thread(self._layers.load_archive, path)
        finally:
            await asyncio.to_thread(self._layers.discard, path)
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
                img = await self._register(item.image_id, item.config, names, touch=False)
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
                raw = await asyncio.to_thread(self._layers.get_config, img.id)
                item = chosen[img.id] = ArchiveImage(config=raw, repo_tags=[], image_id=img.id, diff_ids=img.diff_ids)
            # Only the names asked for travel in the archive, as dockerd does; an ID saves untagged.
            try:
                parsed: refs.ImageRef | None = refs.parse_image_ref(name).with_default_tag()
            except InvalidParameter:
                parsed = None
            if parsed is not None and parsed.canonical in img.repo_tags and parsed.familiar not in item.repo_tags:
                item.repo_tags.append(parsed.familiar)
        path = await asyncio.to_thread(self._layers.staging_file)
        try:
            await asyncio.to_thread(self._layers.save_archive, path, list(chosen.values()))
        except BaseException:
            await asyncio.to_thread(self._layers.discard, path)
            raise
        for image_id in chosen:
            self._event(image_id, "save", image_id, self.images.get(image_id))
        return self._read_file(path)

    async def _read_file(self, path: str) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(open, path, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(f.read, CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            await asyncio.to_thread(f.close)
            await asyncio.to_thread(self._layers.discard, path)

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
        os_, arch = OS, self.host_arch
        if platform:
            parts = platform.split("/")
            if parts[0] != OS:
                raise InvalidParameter(f"unsupported os {parts[0]}")
            if len(parts) > 1 and parts[1]:
                arch = parts[1]
        config = apply_changes({}, changes or [])
        path = await self._spool(chunks)
        try:
            info = await asyncio.to_thread(self._layers.add_layer, path)
        finally:
            await asyncio.to_thread(self._layers.discard, path)
        self._layer_sizes[info.diff_id] = info.size
        msg = message or "Imported from -"
        created = now_rfc3339_nano()
        image_config = {
            "architecture": arch,
            "comment": msg,
            "config": full_config(config),
            "created": created,
            "docker_version": "shim",
            "history": [{"created": created, "comment": msg}],
            "os": os_,
            "rootfs": {"type": "layers", "diff_ids": [info.diff_id]},
        }
        raw = json.dumps(image_config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self._layers.put_config, raw)
        async with self._lock:
            img = await self._register(image_id, raw, [target.canonical] if target else [])
        self._event(img.id, "import", img.id, img)
        return img.id

    async def commit(
        self,
        *,
        parent_id: str,
        config: dict[str, Any],
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
            layer_tar = await asyncio.to_thread(self._layers.diff_tar, upper_dir)
        parent = self.images.get(parent_id) if parent_id else None
        target = refs.parse_repo_tag(repo, tag) if repo else None
        cfg = apply_changes(config, changes or [])
        try:
            info = await asyncio.to_thread(self._layers.add_layer, layer_tar)
        finally:
            await asyncio.to_thread(self._layers.discard, layer_tar)
        self._layer_sizes[info.diff_id] = info.size
        created = now_rfc3339_nano()
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
        diff_ids = (parent.diff_ids if parent else []) + [info.diff_id]
        image_config = {
            "architecture": base.get("architecture", self.host_arch),
            **({"author": author} if author else {}),
            **({"comment": comment} if comment else {}),
            "config": full_config(cfg),
            "created": created,
            "docker_version": "shim",
            "history": history,
            "os": OS,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        raw = json.dumps(image_config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self._layers.put_config, raw)
        async with self._lock:
            img = await self._register(
                image_id, raw, [target.canonical] if target else [], parent=parent.id if parent else ""
            )
        return img.id

    async def add_built(self, *, parent_id: str, config: dict[str, Any], layer_tar: str = "") -> str:
        """The builder's step image (dockerd's CommitBuildStep / CreateImage): `config` is the whole
        image config; a layer tar (consumed) is ingested and its diff ID appended to rootfs.diff_ids."""
        if layer_tar:
            try:
                info = await asyncio.to_thread(self._layers.add_layer, layer_tar)
            finally:
                await asyncio.to_thread(self._layers.discard, layer_tar)
            self._layer_sizes[info.diff_id] = info.size
            config["rootfs"]["diff_ids"].append(info.diff_id)
        raw = json.dumps(config, separators=(",", ":")).encode()
        image_id = await asyncio.to_thread(self._layers.put_config, raw)
        async with self._lock:
            img = await self._register(image_id, raw, [], parent=parent_id)
        return img.id
