"""Runtime adapter: safe tar extraction (blocking; call it through asyncio.to_thread).

Every archive the daemon unpacks (image load and import, layers, docker cp's uploads, and
later build contexts) goes through one loop here. Guarantees:
- no entry lands outside the target: a relative `..` that climbs out is refused, an absolute
  name is taken inside the target; paths are resolved component by component *inside* the
  root by the one resolver (rootpath.ContainerView), so a symlink in the archive (or already
  in the target) is followed as if the root were `/` (chroot semantics), never onto the host,
  and into a container's volumes only where the container would see them;
- hard links must name an existing entry inside the target;
- a hostile archive raises InvalidParameter, and everything this call created is removed.

Symlink *targets* are stored as given (`/bin/busybox` is legitimate inside a rootfs);
only writes through them are confined.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable
from typing import IO

from shim.errors import Forbidden, InvalidParameter
from shim.runtime.rootpath import ContainerView

# Called with (tarinfo, resolved host path); returns True when it handled the entry itself
# (the layer store uses it to turn AUFS whiteouts into overlayfs form).
EntryHook = Callable[[tarfile.TarInfo, str], bool]


def _breakout(name: str, root: str) -> InvalidParameter:
    return InvalidParameter(f"{name!r} is outside of {root!r}")


def _reason(e: BaseException) -> str:
    """What went wrong, without the host path of the file (an OSError names it: the data root is
    none of the client's business; issue 16) and without Python's `[Errno n]`."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return str(e)[:300]


def clean_member_name(name: str, root: str) -> str:
    """The member's path relative to the target, normalised; refuses anything escaping it.

    As dockerd's filepath.Clean + Join: an absolute name is taken inside the target (testcontainers
    puts `/tmp/x` with path=/) and `/../` is `/`; only a relative `..` that climbs out is refused.
    """
    absolute = name.startswith("/")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                if absolute:
                    continue
                raise _breakout(name, root)
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


class _Undo:
    """What this extraction created, so a failure can remove it again."""

    def __init__(self) -> None:
        self.created: list[str] = []

    def note(self, path: str) -> None:
        self.created.append(path)

    def rollback(self) -> None:
        for path in reversed(self.created):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def extract(fileobj: IO[bytes], dest: str, *, hook: EntryHook | None = None, same_owner: bool = True) -> int:
    """Unpack a tar stream (plain or compressed) into the existing directory `dest`.

    Returns the apparent size of the content as dockerd's overlay2 reports it: regular
    files and symlinks (hard links counted once), not directories.
    On any error (hostile or corrupt archive) everything created is removed and
    InvalidParameter is raised.
    """
    dest = os.path.abspath(dest)
    return extract_into(fileobj, ContainerView(dest), "/", hook=hook, same_owner=same_owner, root_name=dest)


def extract_into(
    fileobj: IO[bytes],
    view: ContainerView,
    cdest: str,
    *,
    hook: EntryHook | None = None,
    same_owner: bool = True,
    owner: tuple[int, int] | None = None,
    no_overwrite_dir_nondir: bool = False,
    root_name: str = "",
) -> int:
    """Unpack into the directory `cdest` of a container view (docker cp's PUT archive, or a
    plain directory as `/` of a view without mounts): every entry and hard link target is
    resolved in the view (rootpath.py), so `..`, absolute names and symlinks stay inside it,
    and an entry under a read-only mount is refused. `owner` replaces every entry's uid/gid;
    `root_name` names the target in errors (`cdest` when empty). Returns the content size."""
    shown = root_name or cdest
    undo = _Undo()
    size = 0
    dir_times: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for ti in tar:
                rel = clean_member_name(ti.name, shown)
                if not rel:  # the target itself ("./"): its times, nothing to create
                    if ti.isdir() and root_name:
                        dir_times.append((view.host_of(cdest)[0], ti))
                    continue
                parent_c = view.resolve(posixpath.join(cdest, posixpath.dirname(rel)), follow_last=True)
                target, writable, _ = view.host_of(posixpath.join(parent_c, posixpath.basename(rel)))
                if not writable:
                    raise Forbidden("mounted volume is marked read-only")
                _make_parents(view, parent_c, rel, undo)
                if hook is not None and hook(ti, target):
                    continue
                if no_overwrite_dir_nondir:
                    _check_overwrite(target, ti)
                if owner is not None:
                    ti.uid, ti.gid = owner
                link_src = ""
                if ti.islnk():
                    link_rel = clean_member_name(ti.linkname, shown)
                    link_src = view.host_path(posixpath.join(cdest, link_rel), follow_last=False)
                size += _create(tar, ti, target, undo, same_owner, link_src)
                if ti.isdir():
                    dir_times.append((target, ti))
        # Directory mtimes last: creating entries inside them changes them.
        for path, ti in reversed(dir_times):
            _set_times(path, ti)
    except (InvalidParameter, Forbidden):
        undo.rollback()
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as e:
        undo.rollback()
        raise InvalidParameter(f"invalid tar archive: {_reason(e)}") from e
    return size


def _make_parents(view: ContainerView, cdir: str, rel: str, undo: _Undo) -> None:
    """Create the missing directories of the resolved container directory `cdir`."""
    missing = []
    c = cdir
    while True:
        host, _, _ = view.host_of(c)
        if os.path.lexists(host):
            if not os.path.isdir(host) or os.path.islink(host):
                raise InvalidParameter(f"not a directory: {posixpath.dirname(rel)!r}")
            break
        if c == "/":  # the root itself is never created here
            break
        missing.append(host)
        c = posixpath.dirname(c)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        undo.note(d)


def _check_overwrite(target: str, ti: tarfile.TarInfo) -> None:
    """docker cp's NoOverwriteDirNonDir: neither a directory for a file nor a file for a directory."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) and not ti.isdir():
        raise InvalidParameter(f'cannot overwrite directory "{target}" with non-directory "{ti.name}"')
    if not stat.S_ISDIR(st.st_mode) and ti.isdir():
        raise InvalidParameter(f'cannot overwrite non-directory "{target}" with directory "{ti.name}"')


def _remove_existing(path: str, new_is_dir: bool) -> bool:
    """Make room for an entry; returns True if an existing directory is kept (dir over dir)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if new_is_dir:
            return True
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return False


def _create(
    tar: tarfile.TarFile, ti: tarfile.TarInfo, path: str, undo: _Undo, same_owner: bool, link_src: str = ""
) -> int:
    kept_dir = _remove_existing(path, ti.isdir())
    size = 0
    if ti.isdir():
        if not kept_dir:
            os.mkdir(path, 0o700)
            undo.note(path)
    elif ti.isreg():
        src = tar.extractfile(ti)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        undo.note(path)
        with os.fdopen(fd, "wb") as out:
            if src is not None:
                shutil.copyfileobj(src, out, 1 << 20)
        size = ti.size
    elif ti.issym():
        os.symlink(ti.linkname, path)
        undo.note(path)
        size = len(ti.linkname.encode())  # dockerd's layer size counts a symlink's own size
    elif ti.islnk():  # link_src: the link's target, already resolved inside the root
        if not link_src or not os.path.lexists(link_src):
            raise InvalidParameter(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}: no such entry")
        os.link(link_src, path, follow_symlinks=False)
        undo.note(path)
        return 0
    elif ti.ischr() or ti.isblk():
        kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(ti.devmajor, ti.devminor))
        undo.note(path)
    elif ti.isfifo():
        os.mkfifo(path, 0o600)
        undo.note(path)
    else:
        return 0  # other types (sockets, GNU sparse leftovers) are skipped, as dockerd does
    _set_meta(path, ti, same_owner)
    return size


def _set_meta(path: str, ti: tarfile.TarInfo, same_owner: bool) -> None:
    if same_owner:
        try:
            os.lchown(path, ti.uid, ti.gid)
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EINVAL):
                raise
    for key, value in (ti.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(
                    path, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"), follow_symlinks=False
                )
            except OSError:
                pass  # xattrs the filesystem refuses are dropped, like dockerd on such filesystems
    if not ti.issym():
        os.chmod(path, ti.mode & 0o7777)
    if not ti.isdir():
        _set_times(path, ti)


def _set_times(path: str, ti: tarfile.TarInfo) -> None:
    try:
        os.utime(path, (ti.mtime, ti.mtime), follow_symlinks=False)
    except OSError:
        pass
