"""Runtime adapter: the container root filesystem (overlayfs) and what dockerd resolves in it.

Blocking helpers: callers run them through asyncio.to_thread. The layout:
`<data-root>/containers/<id>/{diff,work}` (the container's own diff, kept across
restarts) mounted over the image layers at `<exec-root>/containers/<id>/rootfs`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import posixpath

from shim.errors import InvalidParameter, SystemFailure
from shim.runtime.fsutil import is_mounted, lazy_unmount, libc
from shim.runtime.oci_spec import ResolvedUser
from shim.runtime.rootpath import secure_join

MS_RDONLY = 1


def mount_overlay(layer_dirs: list[str], upper: str, work: str, target: str, readonly: bool = False) -> None:
    """Mount the layers (lowest first) with `upper` on top at `target`. Idempotent."""
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    os.makedirs(target, exist_ok=True)
    if is_mounted(target):
        return
    lowers = list(reversed(layer_dirs))  # overlayfs wants the topmost lower first
    if not lowers:
        # a scratch image: overlayfs needs at least one lower dir
        empty = os.path.join(os.path.dirname(upper), "empty")
        os.makedirs(empty, exist_ok=True)
        lowers = [empty]
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    flags = MS_RDONLY if readonly else 0
    if libc.mount(b"overlay", target.encode(), b"overlay", flags, data.encode()) != 0:
        err = ctypes.get_errno()
        raise SystemFailure(f"error creating overlay mount to {target}: {os.strerror(err).lower()}")


def unmount(target: str) -> None:
    """Lazy-unmount `target` if mounted. Idempotent."""
    err = lazy_unmount(target)
    if err:
        raise SystemFailure(f"error unmounting {target}: {os.strerror(err).lower()}")


# --- paths inside the rootfs, never escaping it (rootpath.py resolves them) -----


def setup_working_dir(rootfs: str, cwd: str) -> None:
    """moby container.SetupWorkingDirectory: create WorkingDir (0755, root) if missing."""
    if not cwd or cwd == "/":
        return
    path = secure_join(rootfs, posixpath.normpath(cwd))
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise SystemFailure(f"Cannot mkdir: {cwd} is not a directory")
        return
    try:
        os.makedirs(path, mode=0o755)
    except NotADirectoryError as e:
        raise SystemFailure(f"Cannot mkdir: {cwd} is not a directory") from e


# --- users (runc libcontainer/user.GetExecUser semantics, dockerd's wording) ---


def _read_db(rootfs: str, name: str) -> list[list[str]] | None:
    try:
        with open(secure_join(rootfs, f"/etc/{name}"), errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def resolve_user(rootfs: str, user: str, group_add: list[str] | None = None) -> ResolvedUser:
    """`name`, `uid`, `uid:gid`, `name:group` against the image's /etc/passwd and /etc/group."""
    user_arg, _, group_arg = (user or "").partition(":")
    passwd = _read_db(rootfs, "passwd")
    groups = _read_db(rootfs, "group")
    uid, gid, matched_name = 0, 0, ""

    entries = [e for e in passwd or [] if len(e) >= 4]
    if user_arg == "":
        user_arg = "0"  # the image default is root
    found = None
    if user_arg.isdigit():
        found = next((e for e in entries if e[2] == user_arg), None)
        uid = int(user_arg)
    else:
        found = next((e for e in entries if e[0] == user_arg), None)
        if found is None:
            raise InvalidParameter(f"unable to find user {user_arg}: no matching entries in passwd file")
    if found is not None:
        uid, matched_name = int(found[2]), found[0]
        gid = int(found[3]) if found[3].isdigit() else 0

    sgids: list[int] = []
    gentries = [e for e in groups or [] if len(e) >= 3]
    if group_arg:
        if group_arg.isdigit():
            gid = int(group_arg)
        else:
            g = next((e for e in gentries if e[0] == group_arg), None)
            if g is None:
                raise InvalidParameter(f"unable to find group {group_arg}: no matching entries in group file")
            gid = int(g[2])
    elif matched_name:
        for e in gentries:
            members = e[3].split(",") if len(e) > 3 and e[3] else []
            if matched_name in members and e[2].isdigit():
                sgids.append(int(e[2]))

    for extra in group_add or []:
        if extra.isdigit():
            sgids.append(int(extra))
            continue
        g = next((e for e in gentries if e[0] == extra), None)
        if g is None:
            raise InvalidParameter(f"Unable to find group {extra}: no matching entries in group file")
        sgids.append(int(g[2]))
    return ResolvedUser(uid=uid, gid=gid, additional_gids=sgids)
