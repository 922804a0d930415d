"""Runtime adapter helper: paths inside a container root, resolved as the container sees them.

The one resolver of every path the daemon follows inside a root it does not trust: the
container's working dir and /etc/passwd (overlay.py), docker cp / export / copy-up
(rootfs_io.py), and every tar extraction — layers, `docker load`, `docker import`, cp's
uploads (tarsafe.py). moby's symlink.FollowSymlinkInScope, made mount-aware:

- a path is walked component by component; a symlink is followed *inside* the root (an
  absolute target restarts at the container's `/`, `..` stops at it), so no walk ever
  leaves the root, whatever the links say;
- a component that does not exist (yet) is taken literally: it is what a write will create;
- each resolved container path maps to the host through the container's mounts (volumes and
  binds, longest destination first) or else its root filesystem, so a link *into* a volume
  lands in the volume, as it would in the container.

Blocking (lstat/readlink): callers run it in a thread. Between resolution and use, a running
container could swap a directory for a symlink (as with dockerd before it chrooted); each
final open refuses to follow a symlink (O_NOFOLLOW) to narrow that window.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable

from shim.errors import InvalidParameter

MAX_SYMLINKS = 255  # moby's FollowSymlinkInScope gives up after this many links


def _absolute(path: str) -> str:
    """os.path.abspath without asking for the working directory when the path is absolute already
    (it always is from the engine: ContainerView is built on the event loop)."""
    return posixpath.normpath(path) if path.startswith("/") else os.path.abspath(path)


class ContainerView:
    """A container's filesystem from the host: its root plus (destination, host source, rw) mounts."""

    def __init__(
        self, rootfs: str, mounts: Iterable[tuple[str, str, bool]] = (), readonly_rootfs: bool = False
    ) -> None:
        self.rootfs = _absolute(rootfs)
        self.mounts = sorted(
            ((posixpath.normpath(d), _absolute(s), rw) for d, s, rw in mounts),
            key=lambda m: len(m[0]),
            reverse=True,
        )
        self.readonly_rootfs = readonly_rootfs

    def host_of(self, cpath: str) -> tuple[str, bool, bool]:
        """(host path, writable, in a mount) of a resolved container path (absolute, normalised)."""
        base, rel, rw, mounted = self.rootfs, cpath.lstrip("/"), not self.readonly_rootfs, False
        for dest, src, mount_rw in self.mounts:
            if cpath == dest or cpath.startswith(dest + "/"):
                base, rel, rw, mounted = src, cpath[len(dest) :].lstrip("/"), mount_rw, True
                break
        # Belt and braces: resolved paths have no `..`; one given by a caller must not climb out.
        if ".." in rel.split("/"):
            raise InvalidParameter(f"{cpath!r} is outside of {base!r}")
        return (os.path.join(base, rel) if rel else base), rw, mounted

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """The container path `path` (absolute, or relative to `/`) with every symlink followed
        inside the container; the last component only with follow_last."""
        pending = [p for p in path.split("/") if p not in ("", ".")]
        resolved = "/"
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                resolved = posixpath.dirname(resolved)
                continue
            cand = posixpath.join(resolved, part)
            host, _, _ = self.host_of(cand)
            try:
                st = os.lstat(host)
            except (FileNotFoundError, NotADirectoryError):
                resolved = cand  # not there (yet): taken literally
                continue
            if stat.S_ISLNK(st.st_mode) and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise InvalidParameter(f"too many levels of symbolic links in {path}")
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = "/"
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            resolved = cand
        return resolved

    def host_path(self, path: str, follow_last: bool = True) -> str:
        """Where `path`, resolved in the container, is on the host."""
        return self.host_of(self.resolve(path, follow_last))[0]


def secure_join(root: str, path: str) -> str:
    """`path` inside `root` (no mounts), symlinks followed as if root were `/`."""
    return ContainerView(root).host_path(path)
