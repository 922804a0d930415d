"""Runtime adapter: one sealed in-memory copy of runc for every `runc init`.

Each `runc init` (under `runc create` and `runc exec`) first makes sure it is not running
from a file a container could write (CVE-2019-5736): runc 1.1's nsexec.c `ensure_cloned_binary`
bind-mounts its own binary read-only in the host's mount namespace (mkstemp, mount, remount,
open, lazy umount, unlink), or copies it into a memfd, then re-executes itself from that. It
skips all of it when /proc/self/exe is already a memfd sealed with exactly F_SEAL_SEAL |
F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE (`is_self_cloned`: "an admin could bind-mount a
sealed memfd to /usr/bin/runc to allow re-use"; runc 1.2.0 shipped contrib/cmd/memfd-bind for it).

So shimd makes one such copy (one per process: `shared`) and runs create (by conmon) and
exec from it, through the path
/proc/<shimd's pid>/fd/<n>: no mount to undo, nothing left after a crash (the memfd ends with
shimd). conmon uses its runtime path for `runc create` only (conmon 2.1.6: runtime_args.c, the
one execv in conmon.c), so conmons that outlive shimd never need it again. The seals hold for
root too: nothing, container or host, can change the copy (tests/unit/test_runtime_runcexe.py).

When the copy can't be made or run (no memfd_create, vm.memfd_noexec=2, a kernel that adds
other seals), runc runs from its file, as before. A runc replaced on disk is copied again.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import threading

log = logging.getLogger("shim.runtime")

# what runc 1.1's is_self_cloned requires, exactly (RUNC_MEMFD_SEALS)
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
_MFD_EXEC = 0x0010  # linux/memfd.h: executable whatever vm.memfd_noexec says (6.3+); EINVAL before


class SealedRunc:
    """The path to run runc init from: the sealed copy's while it is current, else runc's own."""

    def __init__(self, runc: str) -> None:
        self.runc = runc
        self._fd = -1
        self._source: tuple[int, int, int, int] | None = None
        self._failed: tuple[int, int, int, int] | None = None
        self._old: list[int] = []  # copies of a replaced runc: a start may be exec'ing one right now
        self._lock = threading.Lock()  # starts prepare in parallel threads

    def path(self) -> str:
        """Blocking (a stat of runc, a copy when it changed): the executable for create and exec."""
        try:
            st = os.stat(self.runc)
        except OSError:
            return self.runc
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key != self._source and key != self._failed:
                fd = _copy(self.runc, st.st_size)
                if fd < 0:
                    self._failed = key
                else:
                    if self._fd >= 0:
                        self._old.append(self._fd)
                    self._fd, self._source = fd, key
            return _fd_path(self._fd) if key == self._source else self.runc

    def close(self) -> None:
        with self._lock:
            for fd in [self._fd, *self._old]:
                if fd >= 0:
                    os.close(fd)
            self._fd, self._source, self._old = -1, None, []


_shared: dict[str, SealedRunc] = {}
_shared_lock = threading.Lock()


def shared(runc: str) -> SealedRunc:
    """The process's copy of `runc` (one for every runtime adapter made: tests make many)."""
    with _shared_lock:
        if runc not in _shared:
            _shared[runc] = SealedRunc(runc)
        return _shared[runc]


def _fd_path(fd: int) -> str:
    # /proc/self would be the child's own fd table (where this close-on-exec fd is gone)
    return f"/proc/{os.getpid()}/fd/{fd}"


def _copy(src: str, size: int) -> int:
    """A sealed memfd holding `src`, checked to run; -1 when that can't be had."""
    fd = -1
    try:
        try:
            fd = os.memfd_create("runc", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | _MFD_EXEC)
        except OSError:  # a kernel before 6.3 has no MFD_EXEC: memfds are executable there
            fd = os.memfd_create("runc", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        with open(src, "rb") as f:
            sent = 0
            while sent < size:
                n = os.sendfile(fd, f.fileno(), sent, size - sent)
                if n <= 0:
                    raise OSError(f"short copy of {src}")
                sent += n
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        if fcntl.fcntl(fd, fcntl.F_GET_SEALS) != SEALS:
            raise OSError("the kernel added seals runc 1.1 does not accept")
        subprocess.run(
            [_fd_path(fd), "--version"], check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("runc runs from %s: no sealed copy (%s)", src, e)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        return -1
    return fd
