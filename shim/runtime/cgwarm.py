"""The kernel's wait at a container's first cgroup move, paid while conmon and runc start (issue 17).

`runc create` moves its init into the container's cgroups (a pid written to cgroup.procs) before
nsexec goes on. Every such move takes the kernel's global `cgroup_threadgroup_rwsem` for writing,
and `percpu_down_write` first waits for an RCU grace period, unless another writer left the rwsem
in its slow mode less than a grace period ago (kernel/rcu/sync.c: GP_PASSED/GP_EXIT). On this
machine that wait is ~8–10 ms of wall time, no CPU, inside every start that is not part of a burst
(docs/PERFORMANCE.md, "Issue 17, fifth pass: runc's share"); dockerd's starts pay it too.

`Warmer` pays it earlier, beside conmon's and runc's own start-up: from when conmon is spawned
until runc create has reported, a thread writes shimd's own pid to shimd's own cgroup.procs every
few ms (the path read from /proc/self/cgroup once per spell). Nothing moves: the process is
already in that cgroup (kernel/cgroup/cgroup.c, cgroup_migrate_prepare_dst: "If src cset equals
dst, it's noop"), so no controller's attach runs. But each write enters and leaves the rwsem's
write side, so runc's move finds it in its slow mode and does not wait again. Costs a few µs of
CPU per write. Where the write is refused (a read-only cgroupfs, a cgroup namespace without the
path), the warmer turns itself off.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

PERIOD = 0.004  # s: under one grace period (~8 ms here), so the slow mode never lapses between writes
SPELL = 1.0  # s: the path is looked up again at least this often (a burst keeps one spell going)
LIMIT = 5.0  # s: a hold lapses then (a lost release); a create that slow gains nothing from this anyway
_V2_MOUNTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


def own_procs_file(proc_cgroup: str, exists: Callable[[str], bool] = os.path.exists) -> str | None:
    """cgroup.procs of the cgroup this process is in, in one hierarchy (the rwsem is global, any
    will do), from /proc/self/cgroup's text: the v2 one (pure or hybrid) first, else a v1 one."""
    v1: list[str] = []
    for line in proc_cgroup.splitlines():
        hid, ctrls, path = [*line.split(":", 2), "", ""][:3]
        if not path.startswith("/"):
            continue
        if hid == "0" and ctrls == "":
            for mount in _V2_MOUNTS:
                candidate = f"{mount}{path.rstrip('/')}/cgroup.procs"
                if exists(f"{mount}/cgroup.controllers") and exists(candidate):
                    return candidate
        elif ctrls and "=" not in ctrls:  # name=systemd and the like have no mount of that name
            v1.append(f"/sys/fs/cgroup/{ctrls}{path.rstrip('/')}/cgroup.procs")
    return next((c for c in v1 if exists(c)), None)


@contextlib.contextmanager
def own_cgroup_writer() -> Iterator[Callable[[], bool] | None]:
    """For one warm spell (one create, tens of ms): a writer of this process's pid into its own
    cgroup.procs, the path read once; None where there is none or it can't be opened."""
    try:
        with open("/proc/self/cgroup") as f:
            path = own_procs_file(f.read())
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC) if path else -1
    except OSError:
        fd = -1
    if fd < 0:
        yield None
        return
    pid = str(os.getpid()).encode()

    def write() -> bool:
        try:
            os.write(fd, pid)
        except OSError:
            return False
        return True

    try:
        yield write
    finally:
        os.close(fd)


Spell = Callable[[], contextlib.AbstractContextManager[Callable[[], bool] | None]]


class Warmer:
    """One thread per daemon, writing every PERIOD while any start holds it (hold() … release());
    a hold not released within LIMIT lapses, so a lost release can't keep the thread busy."""

    def __init__(self, spell: Spell = own_cgroup_writer) -> None:
        self._spell = spell
        self._lock = threading.Lock()
        self._holds: dict[int, float] = {}  # token -> deadline (monotonic)
        self._next = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused = False

    def hold(self) -> int:
        with self._lock:
            self._next += 1
            if self._refused:
                return self._next
            self._holds[self._next] = time.monotonic() + LIMIT
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cgwarm", daemon=True)
                self._thread.start()
            self._wake.set()
            return self._next

    def release(self, token: int) -> None:
        with self._lock:
            self._holds.pop(token, None)

    def _held(self) -> bool:
        with self._lock:
            now = time.monotonic()
            for token in [t for t, deadline in self._holds.items() if deadline <= now]:
                del self._holds[token]
            if not self._holds:
                self._wake.clear()
            return bool(self._holds)

    def _run(self) -> None:
        while self._wake.wait():
            with self._spell() as write:
                ends = time.monotonic() + SPELL
                while self._held() and time.monotonic() < ends:
                    if write is None or not write():
                        with self._lock:
                            self._refused = True
                            self._holds.clear()
                        return
                    time.sleep(PERIOD)
