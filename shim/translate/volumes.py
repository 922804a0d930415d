"""Translate layer: volumes, exec sessions and archive stats in their wire shapes (pure)."""

from __future__ import annotations

import base64
import json
import stat as _stat
from typing import Any

from shim.filters import FilterInput, Filters
from shim.times import rfc3339, rfc3339_nano
from shim.translate.versions import Version


def volume_out(v: Any, mountpoint: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """GET /volumes/{name}: dockerd's field order; Options null when none were given."""
    out: dict[str, Any] = {
        "CreatedAt": rfc3339(v.created),
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": mountpoint,
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    }
    if usage is not None:
        out["UsageData"] = usage
    return out


def volume_list_out(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Volumes": items, "Warnings": None}


def prune_anonymous_only(filters: FilterInput, version: Version) -> bool:
    """From API 1.42 `volume prune` removes anonymous volumes only, unless the `all` filter is true."""
    if version.lt("1.42"):
        return False
    return not Filters.of(filters).bool("all")


def volume_prune_out(deleted: list[str], reclaimed: int) -> dict[str, Any]:
    # dockerd: make([]string, 0, …): an empty list, never null (clients iterate it)
    return {"VolumesDeleted": list(deleted), "SpaceReclaimed": reclaimed}


# --- archive ---------------------------------------------------------------------------

# Go os.FileMode type bits
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    if _stat.S_ISDIR(st_mode):
        mode |= MODE_DIR
    elif _stat.S_ISLNK(st_mode):
        mode |= MODE_SYMLINK
    elif _stat.S_ISFIFO(st_mode):
        mode |= MODE_NAMED_PIPE
    elif _stat.S_ISSOCK(st_mode):
        mode |= MODE_SOCKET
    elif _stat.S_ISBLK(st_mode):
        mode |= MODE_DEVICE
    elif _stat.S_ISCHR(st_mode):
        mode |= MODE_DEVICE | MODE_CHAR_DEVICE
    if st_mode & _stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & _stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & _stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def path_stat_header(name: str, size: int, st_mode: int, mtime_ns: int, link_target: str) -> str:
    """X-Docker-Container-Path-Stat: base64 of {name,size,mode,mtime,linkTarget}."""
    body = {
        "name": name,
        "size": size,
        "mode": go_file_mode(st_mode),
        "mtime": rfc3339_nano(mtime_ns),
        "linkTarget": link_target,
    }
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


# --- exec --------------------------------------------------------------------------------


def exec_inspect_out(e: Any) -> dict[str, Any]:
    """GET /exec/{id}/json in dockerd's field order; ExitCode null until the process ended."""
    pc: dict[str, Any] = {
        "tty": e.tty,
        "entrypoint": e.cmd[0] if e.cmd else "",
        "arguments": list(e.cmd[1:]),
        "privileged": e.privileged,
    }
    if e.user:
        pc["user"] = e.user
    return {
        "ID": e.id,
        "Running": e.running,
        "ExitCode": e.exit_code,
        "ProcessConfig": pc,
        "OpenStdin": e.attach_stdin,
        "OpenStderr": e.attach_stderr,
        "OpenStdout": e.attach_stdout,
        "CanRemove": False,
        "ContainerID": e.container_id,
        "DetachKeys": e.detach_keys_raw,
        "Pid": e.pid,
    }
