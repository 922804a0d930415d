"""Runtime adapter: files in and out of a container's filesystem (docker cp, export, diff, copy-up).

Paths are resolved *as the container sees them* by the one resolver (rootpath.ContainerView:
symlinks followed inside the container, each resolved path mapped to the host through the
container's mounts or else its overlay rootfs); uploads are unpacked by tarsafe's one
extraction loop on that view. No host path outside the rootfs and the container's own mount
sources is ever touched.

A stopped container's rootfs is mounted for the operation and unmounted afterwards;
a running one's is already mounted by the runtime. tmpfs mounts exist only inside the
container's mount namespace and, as with dockerd, are not reachable here.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import posixpath
import queue
import stat
import tarfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import IO, Any, cast

from shim.engine.ports import PathStat, Runtime
from shim.errors import Forbidden, InvalidParameter, NotFound, SystemFailure
from shim.runtime import overlay, tarsafe
from shim.runtime.fsutil import is_mounted
from shim.runtime.rootpath import ContainerView
from shim.runtime.volumefs import LocalVolumeFS

CHUNK = 32 * 1024


def _abs_path(path: str) -> str:
    """moby PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)."""
    clean = posixpath.normpath("/" + path)
    if path.endswith("/.") or path == ".":
        return clean.rstrip("/") + "/."
    if path.endswith("/") and clean != "/":
        return clean + "/"
    return clean


def _base(abs_path: str) -> str:
    if abs_path.endswith("/."):
        return "."
    b = posixpath.basename(abs_path.rstrip("/"))
    return b or "/"


def _follow_last(abs_path: str) -> bool:
    return abs_path.endswith(("/", "/."))


def stat_path(view: ContainerView, path: str) -> PathStat:
    """HEAD/GET archive's stat: the last element is not followed (unless path ends in / or /.)."""
    absp = _abs_path(path)
    cres = view.resolve(absp, _follow_last(absp))
    host, _, _ = view.host_of(cres)
    st = os.lstat(host)  # FileNotFoundError → 404 upstream
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = view.resolve(cres, True)
    return PathStat(name=_base(absp), size=st.st_size, mode=st.st_mode, mtime_ns=st.st_mtime_ns, link_target=link)


def _tarinfo(tar: tarfile.TarFile, host: str, arc: str) -> tarfile.TarInfo | None:
    ti: tarfile.TarInfo | None = tar.gettarinfo(name=host, arcname=arc)  # None for a socket
    if ti is None:
        return None
    ti.uname = ti.gname = ""
    return ti


def _add(tar: tarfile.TarFile, host: str, arc: str) -> None:
    ti = _tarinfo(tar, host, arc)
    if ti is None:
        return  # sockets: skipped, as Go's archive does
    if ti.isreg():
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            tar.addfile(ti, f)
    else:
        tar.addfile(ti)


def write_archive(view: ContainerView, path: str, out: IO[bytes]) -> None:
    """GET archive: the resource (file, symlink or whole directory) under its requested base name."""
    absp = _abs_path(path)
    cres = view.resolve(absp, _follow_last(absp))
    base = _base(absp)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        host, _, _ = view.host_of(cres)
        _add(tar, host, base)
        if stat.S_ISDIR(os.lstat(host).st_mode):
            _walk(view, tar, cres, base)


def _walk(view: ContainerView, tar: tarfile.TarFile, cdir: str, arcdir: str) -> None:
    host_dir, _, _ = view.host_of(cdir)
    try:
        names = set(os.listdir(host_dir))
    except OSError:
        return
    # mounts right below (their mount point may not exist in the rootfs before a first start)
    names.update(posixpath.basename(d) for d, _, _ in view.mounts if posixpath.dirname(d) == cdir)
    for name in sorted(names):
        cpath = posixpath.join(cdir, name)
        host, _, _ = view.host_of(cpath)  # a volume mounted here shows its own content
        arc = f"{arcdir}/{name}" if arcdir != "." else f"./{name}"
        try:
            _add(tar, host, arc)
            if stat.S_ISDIR(os.lstat(host).st_mode):
                _walk(view, tar, cpath, arc)
        except FileNotFoundError:
            continue  # removed while we walked (a running container)


def export_rootfs(rootfs: str, out: IO[bytes]) -> None:
    """GET export: the container's root filesystem (not its volumes), names relative to /."""
    view = ContainerView(rootfs, [])
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(rootfs)):
            host = os.path.join(rootfs, name)
            _add(tar, host, name)
            if stat.S_ISDIR(os.lstat(host).st_mode):
                _walk(view, tar, "/" + name, name)


def extract_archive(
    view: ContainerView, path: str, src: IO[bytes], *, no_overwrite_dir_nondir: bool, owner: tuple[int, int] | None
) -> None:
    """PUT archive: unpack into the directory `path` (last element followed), each entry resolved
    in the container so that `..`, absolute names and symlinks stay inside it."""
    absp = _abs_path(path)
    cdest = view.resolve(absp, True)
    host, rw, in_volume = view.host_of(cdest)
    st = os.lstat(host)  # FileNotFoundError → 404 upstream
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidParameter("extraction point is not a directory")
    if not rw:
        raise Forbidden("mounted volume is marked read-only" if in_volume else "container rootfs is marked read-only")
    tarsafe.extract_into(src, view, cdest, owner=owner, no_overwrite_dir_nondir=no_overwrite_dir_nondir)


# --- docker diff ------------------------------------------------------------------------------

CHANGE_MODIFY, CHANGE_ADD, CHANGE_DELETE = 0, 1, 2

# dockerd keeps these in a container's "-init" layer, below its diff: the mount points of the
# files and filesystems it mounts. Here runc creates them in the upper dir; empty, they are no change.
INIT_PATHS = {
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/console",
    "/dev/mqueue",
    "/proc",
    "/sys",
    "/.dockerenv",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/mtab",
    "/sys/fs/cgroup",
}


def placeholder(path: str, st: os.stat_result) -> bool:
    """Empty mount points runc made in a container's upper dir (/etc/hosts, /proc, …)."""
    if path not in INIT_PATHS:
        return False
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    return stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def changes(upper: str, layer_dirs: list[str]) -> list[tuple[str, int]]:
    """moby archive.OverlayChanges: walk the upper dir; whiteouts are deletions, paths in a lower
    layer modifications (directories only when they differ), the rest additions."""
    lowers = list(reversed(layer_dirs))  # topmost first
    out: list[tuple[str, int]] = []
    changed_dirs: set[str] = set()
    if not os.path.isdir(upper):
        return out
    for root, dirs, files in os.walk(upper):
        dirs.sort()
        for name in sorted(dirs + files):
            host = os.path.join(root, name)
            path = "/" + os.path.relpath(host, upper)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                continue
            if placeholder(path, st):
                continue
            if _is_whiteout(st):
                kind = CHANGE_DELETE
            else:
                kind = CHANGE_ADD
                for layer in lowers:
                    try:
                        lst = os.stat(os.path.join(layer, path.lstrip("/")))
                    except OSError:
                        continue
                    if stat.S_ISDIR(lst.st_mode) and stat.S_ISDIR(st.st_mode):
                        # a directory copied up only to hold init-layer mount points is no change either
                        holder = any(posixpath.dirname(p) == path for p in INIT_PATHS)
                        if (
                            lst.st_size == st.st_size
                            and lst.st_mode == st.st_mode
                            and (holder or int(lst.st_mtime) == int(st.st_mtime))
                        ):
                            kind = -1  # the same directory: not a change by itself
                            break
                    kind = CHANGE_MODIFY
                    break
            if kind == -1:
                continue
            if stat.S_ISDIR(st.st_mode):
                changed_dirs.add(path)
            out.append((path, kind))
            if kind in (CHANGE_ADD, CHANGE_DELETE):
                parent = posixpath.dirname(path)
                if parent != "/" and parent not in changed_dirs:
                    out.append((parent, CHANGE_MODIFY))
                    changed_dirs.add(parent)
    seen: set[str] = set()
    uniq = []
    for p, k in sorted(out):
        if p not in seen:
            seen.add(p)
            uniq.append((p, k))
    return uniq


# --- the async side: mounting a stopped container's rootfs, streaming through threads ----------


class _QueueWriter(io.RawIOBase):
    """A file object for a tar writer in a thread; chunks go to the event loop through a queue."""

    def __init__(self, q: queue.Queue[bytes | None], cancelled: threading.Event) -> None:
        self.q, self.cancelled = q, cancelled  # None marks the end
        self.buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.cancelled.is_set():
            raise BrokenPipeError("client went away")
        self.buf += bytes(b)
        while len(self.buf) >= CHUNK:
            self._put(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(b)

    def _put(self, data: bytes) -> None:
        while True:
            if self.cancelled.is_set():
                raise BrokenPipeError("client went away")
            try:
                self.q.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def flush_all(self) -> None:
        if self.buf:
            self._put(bytes(self.buf))
            self.buf.clear()


class _QueueReader(io.RawIOBase):
    """A file object for a tar reader in a thread, fed chunk by chunk from the event loop."""

    def __init__(self, q: queue.Queue[bytes | None]) -> None:
        self.q = q
        self.buf = b""
        self.eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf and not self.eof:
            chunk = self.q.get()
            if chunk is None:
                self.eof = True
            else:
                self.buf = chunk
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


async def stream_from_thread(fn: Callable[[IO[bytes]], None]) -> AsyncIterator[bytes]:
    """Run `fn(fileobj)` in a thread and yield what it writes, with back-pressure."""
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    cancelled = threading.Event()
    w = _QueueWriter(q, cancelled)

    def end() -> None:
        # at least one try even when cancelled: a reader thread may still wait in q.get
        while True:
            try:
                q.put(None, timeout=0.5)
                return
            except queue.Full:
                if cancelled.is_set():
                    return

    def run() -> None:
        try:
            fn(cast(IO[bytes], w))
            w.flush_all()
        finally:
            end()

    fut = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        while True:
            item = await asyncio.to_thread(q.get)
            if item is None:
                break
            yield item
        await fut
    finally:
        cancelled.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        with contextlib.suppress(BaseException):
            await fut


async def feed_thread(chunks: AsyncIterator[bytes], fn: Callable[[IO[bytes]], Any]) -> Any:
    """Run `fn(fileobj)` in a thread reading what `chunks` yields."""
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    r = _QueueReader(q)
    fut = asyncio.ensure_future(asyncio.to_thread(fn, io.BufferedReader(r, CHUNK)))

    async def put(item: bytes | None) -> bool:
        while True:
            if fut.done():
                return False
            try:
                q.put_nowait(item)
                return True
            except queue.Full:
                await asyncio.sleep(0.002)

    try:
        async for chunk in chunks:
            if chunk and not await put(chunk):
                break
    finally:
        await put(None)
    return await fut


class RootfsIO:
    """Files in and out of containers, on the runtime's paths (rootfs mount point, upper dir)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._holds: dict[str, int] = {}
        self._ours: dict[str, bool] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _work_dir(self, cid: str) -> str:
        return os.path.join(os.path.dirname(self._rt.upper_dir(cid)), "work")

    @contextlib.asynccontextmanager
    async def mounted(self, cid: str, layer_dirs: list[str]) -> AsyncIterator[str]:
        """The container's rootfs, mounted for the duration if it is not already (a stopped container)."""
        rootfs = self._rt.rootfs_path(cid)
        lock = self._locks.setdefault(cid, asyncio.Lock())
        async with lock:
            if not self._holds.get(cid):
                already = await asyncio.to_thread(is_mounted, rootfs)
                if not already:
                    await asyncio.to_thread(
                        overlay.mount_overlay, list(layer_dirs), self._rt.upper_dir(cid), self._work_dir(cid), rootfs
                    )
                self._ours[cid] = not already  # the runtime's own mount is never ours to unmount
            self._holds[cid] = self._holds.get(cid, 0) + 1
        try:
            yield rootfs
        finally:
            async with lock:
                self._holds[cid] -= 1
                if not self._holds[cid]:
                    del self._holds[cid]
                    if self._ours.pop(cid, False):
                        await asyncio.to_thread(overlay.unmount, rootfs)

    def upper_dir(self, cid: str) -> str:
        return self._rt.upper_dir(cid)

    async def copy_up(self, cid: str, layer_dirs: list[str], pairs: list[tuple[str, str]]) -> None:
        """Fill fresh volumes (host dirs) with what the image has at their destinations."""
        async with self.mounted(cid, layer_dirs) as rootfs:

            def run() -> None:
                view = ContainerView(rootfs, [])
                for dest, vol_dir in pairs:
                    src, _, _ = view.host_of(view.resolve(dest, True))
                    try:
                        LocalVolumeFS.copy_up(src, vol_dir)
                    except Exception as e:
                        raise SystemFailure(f"failed to copy image content to volume at {dest}: {e}") from e

            await asyncio.to_thread(run)

    async def stat(
        self, cid: str, layer_dirs: list[str], mounts: list[tuple[str, str, bool]], path: str, readonly: bool = False
    ) -> PathStat:
        async with self.mounted(cid, layer_dirs) as rootfs:
            try:
                return await asyncio.to_thread(stat_path, ContainerView(rootfs, mounts, readonly), path)
            except (FileNotFoundError, NotADirectoryError) as e:
                raise NotFound(str(e)) from e

    async def read_archive(
        self, cid: str, layer_dirs: list[str], mounts: list[tuple[str, str, bool]], path: str
    ) -> AsyncIterator[bytes]:
        async with self.mounted(cid, layer_dirs) as rootfs:
            view = ContainerView(rootfs, mounts)
            async for chunk in stream_from_thread(lambda out: write_archive(view, path, out)):
                yield chunk

    async def write_archive(
        self,
        cid: str,
        layer_dirs: list[str],
        mounts: list[tuple[str, str, bool]],
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        readonly: bool,
        no_overwrite_dir_nondir: bool,
        user: str | None,
    ) -> None:
        async with self.mounted(cid, layer_dirs) as rootfs:
            view = ContainerView(rootfs, mounts, readonly)
            owner = None
            if user is not None:
                ru = await asyncio.to_thread(overlay.resolve_user, rootfs, user)
                owner = (ru.uid, ru.gid)

            def run(src: IO[bytes]) -> None:
                try:
                    extract_archive(view, path, src, no_overwrite_dir_nondir=no_overwrite_dir_nondir, owner=owner)
                except (FileNotFoundError, NotADirectoryError) as e:
                    raise NotFound(str(e)) from e
                finally:
                    # drain what the client still sends, so it gets our answer rather than a reset
                    with contextlib.suppress(Exception):
                        while src.read(CHUNK):
                            pass

            await feed_thread(chunks, run)

    async def export(self, cid: str, layer_dirs: list[str]) -> AsyncIterator[bytes]:
        async with self.mounted(cid, layer_dirs) as rootfs:
            async for chunk in stream_from_thread(lambda out: export_rootfs(rootfs, out)):
                yield chunk

    async def changes(self, cid: str, layer_dirs: list[str]) -> list[tuple[str, int]]:
        return await asyncio.to_thread(changes, self._rt.upper_dir(cid), list(layer_dirs))
