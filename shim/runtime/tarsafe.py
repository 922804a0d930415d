"""Runtime adapter: safe tar extraction (blocking; call it through asyncio.to_thread).

Every archive the daemon unpacks (image load and import, layers, and later cp and build
contexts) goes through here. Guarantees:
- no entry lands outside the target: `..` that climbs out and absolute member names are
  refused; paths are resolved component by component *inside* the target, so a symlink
  in the archive (or already in the target) is followed as if the target were `/`
  (chroot semantics), never onto the host;
- hard links must name an existing entry inside the target;
- a hostile archive raises InvalidParameter, and everything this call created is removed.

Symlink *targets* are stored as given (`/bin/busybox` is legitimate inside a rootfs);
only writes through them are confined.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable
from typing import IO

from shim.errors import InvalidParameter

MAX_SYMLINKS = 40  # Linux's ELOOP limit

# Called with (tarinfo, resolved host path); returns True when it handled the entry itself
# (the layer store uses it to turn AUFS whiteouts into overlayfs form).
EntryHook = Callable[[tarfile.TarInfo, str], bool]


def _breakout(name: str, root: str) -> InvalidParameter:
    return InvalidParameter(f"{name!r} is outside of {root!r}")


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


def resolve_in_root(root: str, rel: str, *, follow_last: bool = False) -> str:
    """Host path of `rel` inside `root`, following symlinks as if `root` were `/`.

    Components that don't exist yet are taken literally. The result always lies inside
    `root`; with follow_last=False the final component is not followed (it is what the
    entry will replace or create).
    """
    root = os.path.abspath(root)
    pending = [p for p in rel.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        is_last = not pending
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode) and (not is_last or follow_last):
            hops += 1
            if hops > MAX_SYMLINKS:
                raise InvalidParameter(f"too many levels of symbolic links: {rel!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    path = os.path.join(root, *resolved)
    # Belt and braces: nothing above can produce a path outside root.
    if os.path.commonpath([root, path]) != root:
        raise _breakout(rel, root)
    return path


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
    undo = _Undo()
    size = 0
    dir_times: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
            for ti in tar:
                rel = clean_member_name(ti.name, dest)
                if not rel:  # the root itself ("./"): apply its mode, nothing to create
                    if ti.isdir():
                        dir_times.append((dest, ti))
                    continue
                parent_rel, _, base = rel.rpartition("/")
                parent = resolve_in_root(dest, parent_rel, follow_last=True)
                _make_parents(dest, parent, undo)
                path = os.path.join(parent, base)
                if hook is not None and hook(ti, path):
                    continue
                size += _create(tar, ti, path, dest, undo, same_owner)
                if ti.isdir():
                    dir_times.append((path, ti))
        # Directory mtimes last: creating entries inside them changes them.
        for path, ti in reversed(dir_times):
            _set_times(path, ti)
    except InvalidParameter:
        undo.rollback()
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as e:
        undo.rollback()
        raise InvalidParameter(f"invalid tar archive: {e}") from e
    return size


def _make_parents(root: str, parent: str, undo: _Undo) -> None:
    missing = []
    p = parent
    while p != root and not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    if os.path.lexists(p) and not os.path.isdir(p):
        raise InvalidParameter(f"not a directory: {os.path.relpath(p, root)!r}")
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        undo.note(d)


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


def _create(tar: tarfile.TarFile, ti: tarfile.TarInfo, path: str, root: str, undo: _Undo, same_owner: bool) -> int:
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
    elif ti.islnk():
        rel = clean_member_name(ti.linkname, root)
        target = resolve_in_root(root, rel)
        if not os.path.lexists(target):
            raise InvalidParameter(f"invalid hardlink {ti.name!r} -> {ti.linkname!r}: no such entry")
        os.link(target, path, follow_symlinks=False)
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
