"""Runtime adapter: what the runtime holds on this host, read in one pass at daemon start.

A SIGKILL of shimd can fall between any two steps of a start, a stop or a removal, so what
runc and conmon hold may differ from the store: a container created in runc but never
recorded, a rootfs still mounted for a stopped one, a bundle of a removed one. The daemon's
start compares the two (docs/RELIABILITY.md); this module gathers the runtime's side with
blocking reads of runc's state directory (`runc_entries`; one `runc list`, run by the caller,
when those cannot tell), of /proc (the conmon processes and `runc exec` processes naming this
exec root), of /proc/self/mountinfo (rootfs mounts under it) and of the runtime's directories.
Only `drop_stale_exec_files` changes anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from typing import Any

from shim.runtime.fsutil import read_pid

_ID = re.compile(r"^[0-9a-f]{64}$")
_EXEC_FILE = re.compile(r"^exec-([0-9a-f]{16})\.(json|pid|log)$")


@dataclasses.dataclass(slots=True)
class Holdings:
    """Every container ID the runtime holds anything of, by kind of holding."""

    runc: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # `runc list` entries
    conmons: dict[str, int] = dataclasses.field(default_factory=dict)  # id -> conmon pid
    mounted: set[str] = dataclasses.field(default_factory=set)  # rootfs mounted
    bundles: set[str] = dataclasses.field(default_factory=set)
    data_dirs: set[str] = dataclasses.field(default_factory=set)
    exits: set[str] = dataclasses.field(default_factory=set)
    links: dict[str, str] = dataclasses.field(default_factory=dict)  # short id -> full id (from the link target)
    # exec sessions: (container id, token) of the files in bundles, and tokens whose runc still runs
    exec_files: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    exec_running: set[str] = dataclasses.field(default_factory=set)

    def ids(self) -> set[str]:
        return (
            set(self.runc)
            | set(self.conmons)
            | self.mounted
            | self.bundles
            | self.data_dirs
            | self.exits
            | set(self.links.values())
        )

    def held(self, cid: str) -> bool:
        """Whether anything a running container holds is still there (a cleanup is due once it is not)."""
        return cid in self.runc or cid in self.conmons or cid in self.mounted


def parse_runc_list(out: str) -> dict[str, dict[str, Any]]:
    """`runc list --format json` prints an array, or `null` when runc holds nothing."""
    try:
        entries = json.loads(out or "null")
    except ValueError:
        return {}
    return {e["id"]: e for e in entries or [] if isinstance(e, dict) and isinstance(e.get("id"), str)}


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounted_rootfs(mountinfo: str, containers_dir: str) -> set[str]:
    """IDs whose `<containers_dir>/<id>/rootfs` is a mount point."""
    prefix = containers_dir.rstrip("/") + "/"
    out = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        target = _unescape(fields[4])
        if target.startswith(prefix) and target.endswith("/rootfs"):
            cid = target[len(prefix) : -len("/rootfs")]
            if _ID.match(cid):
                out.add(cid)
    return out


def conmon_of(argv: list[str], exit_dir: str) -> str:
    """The container ID a conmon serves when it writes into our exit dir, else ""."""
    if not argv or os.path.basename(argv[0]) != "conmon":
        return ""
    try:
        if argv[argv.index("--exit-dir") + 1] != exit_dir:
            return ""
        cid = argv[argv.index("-c") + 1]
    except (ValueError, IndexError):
        return ""
    return cid if _ID.match(cid) else ""


def exec_token_of(argv: list[str], containers_dir: str) -> str:
    """The token of a `runc exec --process <bundle>/exec-<token>.json` of ours, else ""."""
    try:
        spec = argv[argv.index("--process") + 1]
    except (ValueError, IndexError):
        return ""
    if os.path.dirname(os.path.dirname(spec)) != containers_dir:
        return ""
    m = _EXEC_FILE.match(os.path.basename(spec))
    return m.group(1) if m else ""


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _processes() -> list[tuple[int, list[str]]]:
    out = []
    for name in _listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw:
            out.append((int(name), [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]))
    return out


def scan(exec_root: str, data_root: str, runc: dict[str, dict[str, Any]]) -> Holdings:
    """Blocking: the runtime's holdings under these roots (`runc` is the parsed `runc list`)."""
    containers = os.path.join(exec_root, "containers")
    exit_dir = os.path.join(exec_root, "exits")
    h = Holdings(runc=dict(runc))
    for pid, argv in _processes():
        cid = conmon_of(argv, exit_dir)
        if cid:
            h.conmons[cid] = pid
            continue
        token = exec_token_of(argv, containers)
        if token:
            h.exec_running.add(token)
    try:
        with open("/proc/self/mountinfo") as f:
            h.mounted = mounted_rootfs(f.read(), containers)
    except OSError:
        pass
    for cid in _listdir(containers):
        if not _ID.match(cid):
            continue
        h.bundles.add(cid)
        for name in _listdir(os.path.join(containers, cid)):
            m = _EXEC_FILE.match(name)
            if m:
                h.exec_files.add((cid, m.group(1)))
    h.data_dirs = {n for n in _listdir(os.path.join(data_root, "containers")) if _ID.match(n)}
    h.exits = {n for n in _listdir(exit_dir) if _ID.match(n)}
    sock_dir = os.path.join(exec_root, "s")
    for short in _listdir(sock_dir):
        try:
            target = os.readlink(os.path.join(sock_dir, short))
        except OSError:
            continue
        cid = os.path.basename(target.rstrip("/"))
        if _ID.match(cid):
            h.links[short] = cid
    return h


def runc_entries(
    runc_root: str, h: Holdings, containers_dir: str, frozen: Callable[[str], bool | None]
) -> dict[str, dict[str, Any]] | None:
    """Blocking: the `runc list` entries (id, status, pid) of every container runc holds, told from
    what the monitors leave, or None when any one needs runc's own word (issue 17, fourth pass:
    `runc list` decodes each container's 30 KB state.json, ~0.5 s of CPU at 500 containers, most
    of a restart's runtime survey). runc's status is: "stopped" once the init process is gone,
    "created" while its exec fifo is in the state dir, "paused" when the cgroup is frozen, else
    "running". The monitor tells the first: conmon outlives the container's process, and writes
    the exit file after reaping it. So a live conmon without an exit file and no exec fifo is
    "running" or "paused" (the freezer, `frozen`), with the PID from conmon's pidfile; an exit
    file without a live conmon is "stopped". Anything else (a state dir without state.json, a
    created container, a monitor that died without an exit file, a monitor writing it now, a
    freezer that cannot be read) is None: the caller asks runc, as before."""
    out: dict[str, dict[str, Any]] = {}
    for cid in _listdir(runc_root):
        if not _ID.match(cid):
            continue
        state_dir = os.path.join(runc_root, cid)
        if not os.path.exists(os.path.join(state_dir, "state.json")):
            return None
        if os.path.lexists(os.path.join(state_dir, "exec.fifo")):
            return None
        live, exited = cid in h.conmons, cid in h.exits
        if exited and not live:
            out[cid] = {"id": cid, "status": "stopped", "pid": 0}
            continue
        if not live or exited:
            return None
        paused = frozen(cid)
        pid = read_pid(os.path.join(containers_dir, cid, "pidfile"))
        if paused is None or pid <= 0:
            return None
        out[cid] = {"id": cid, "status": "paused" if paused else "running", "pid": pid}
    return out


def scan_without_runc(
    exec_root: str, data_root: str, runc_root: str, frozen: Callable[[str], bool | None]
) -> Holdings | None:
    """Blocking: `scan` with runc's entries told from its state dir (`runc_entries`), or None."""
    h = scan(exec_root, data_root, {})
    entries = runc_entries(runc_root, h, os.path.join(exec_root, "containers"), frozen)
    if entries is None:
        return None
    h.runc = entries
    return h


def drop_stale_exec_files(h: Holdings, exec_root: str) -> None:
    """Blocking: the spec, pid and log files of exec sessions whose `runc exec` is gone (exec
    sessions do not outlive shimd; a SIGKILL leaves their files in the bundle)."""
    containers = os.path.join(exec_root, "containers")
    for cid, token in h.exec_files:
        if token in h.exec_running:
            continue
        for ext in ("json", "pid", "log"):
            try:
                os.unlink(os.path.join(containers, cid, f"exec-{token}.{ext}"))
            except OSError:
                pass
