"""Engine layer: files in and out of containers (docker cp, export, diff) and commit.

dockerd's daemon/archive.go, export.go, changes.go and commit.go. The container's
filesystem is its rootfs plus its volume and bind mounts (the volume service's mount
points); the `rootfs` port (runtime/rootfs_io.RootfsIO) does the blocking work with
every path resolved inside the container.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from shim.engine import validation
from shim.engine.containers import ContainerService
from shim.engine.events import Events
from shim.engine.model import Container
from shim.engine.mounts import MountPoint
from shim.engine.observe import timed
from shim.engine.ports import RootfsAccess
from shim.engine.state import check
from shim.errors import NotFound

CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}


class MountPoints(Protocol):
    def mount_points(self, cid: str) -> list[MountPoint]: ...


class CommitImages(Protocol):
    async def commit(
        self,
        *,
        parent_id: str,
        config: dict[str, Any],
        upper_dir: str = "",
        author: str = "",
        comment: str = "",
        repo: str = "",
        tag: str = "",
        changes: list[str] | None = None,
    ) -> str: ...


class ArchiveService:
    def __init__(
        self,
        *,
        containers: ContainerService,
        volumes: MountPoints | None,
        rootfs: RootfsAccess,
        images: CommitImages,
        events: Events,
    ) -> None:
        self._containers = containers
        self._volumes = volumes
        self._rootfs = rootfs
        self._images = images
        self._events = events

    def _mounts(self, c: Container) -> list[tuple[str, str, bool]]:
        if self._volumes is None:
            return []
        return [
            (m.destination, m.source, m.rw)
            for m in self._volumes.mount_points(c.id)
            if m.type in ("bind", "volume") and m.source
        ]

    def _event(self, c: Container, action: str, **extra: str) -> None:
        self._events.container(c, action, **extra)

    @staticmethod
    def _not_found(path: str, ref: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {ref}")

    async def stat(self, ref: str, path: str) -> Any:
        """HEAD archive: the PathStat of `path` (last element not followed)."""
        validation.names.path(path, "path")  # a NUL byte or an over-long path never reaches the filesystem
        c = self._containers.get(ref)
        try:
            return await self._rootfs.stat(c.id, c.layer_dirs, self._mounts(c), path)
        except NotFound:
            raise self._not_found(path, ref) from None

    async def get(self, ref: str, path: str) -> tuple[Any, AsyncIterator[bytes]]:
        """GET archive: the stat (for the header, so errors come before any body) and the tar stream."""
        st = await self.stat(ref, path)
        c = self._containers.get(ref)
        self._event(c, "archive-path")
        return st, self._rootfs.read_archive(c.id, c.layer_dirs, self._mounts(c), path)

    async def put(
        self,
        ref: str,
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        no_overwrite_dir_nondir: bool = False,
        copy_uid_gid: bool = False,
    ) -> None:
        c = self._containers.get(ref)
        validation.names.path(path, "path")
        user = (c.config.get("User") or "") if copy_uid_gid else None
        try:
            await self._rootfs.write_archive(
                c.id,
                c.layer_dirs,
                self._mounts(c),
                path,
                chunks,
                readonly=bool(c.host_config.get("ReadonlyRootfs")),
                no_overwrite_dir_nondir=no_overwrite_dir_nondir,
                user=user,
            )
        except NotFound:
            raise self._not_found(path, ref) from None
        self._event(c, "extract-to-dir")

    def export(self, ref: str) -> AsyncIterator[bytes]:
        c = self._containers.get(ref)
        self._event(c, "export")
        return self._rootfs.export(c.id, c.layer_dirs)

    @timed("container", "changes")
    async def changes(self, ref: str) -> list[dict[str, Any]]:
        c = self._containers.get(ref)
        return [{"Path": p, "Kind": k} for p, k in await self._rootfs.changes(c.id, c.layer_dirs)]

    @timed("container", "commit")
    async def commit(
        self,
        ref: str,
        *,
        repo: str = "",
        tag: str = "",
        author: str = "",
        comment: str = "",
        changes: list[str] | None = None,
        pause: bool = True,
    ) -> str:
        """A new image: the container's image plus its diff as one layer, `changes` applied to its Config."""
        c = self._containers.get(ref)
        check(c.state.status, "commit", c.id, ref)
        paused_here = False
        if pause and c.state.running and not c.state.paused:
            await self._containers.pause(c.id)
            paused_here = True
        try:
            image_id = await self._images.commit(
                parent_id=c.image_id,
                config=c.config,
                upper_dir=self._rootfs.upper_dir(c.id),
                author=author,
                comment=comment,
                repo=repo,
                tag=tag,
                changes=changes or [],
            )
        finally:
            if paused_here:
                with contextlib.suppress(Exception):
                    await self._containers.unpause(c.id)
        image_ref = ""
        if repo:
            image_ref = f"{repo}:{tag or 'latest'}"
        self._event(c, "commit", comment=comment, imageID=image_id, imageRef=image_ref)
        return image_id
