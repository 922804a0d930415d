"""Runtime adapter: wake exit waiters when conmon writes `<exit-dir>/<id>` (inotify).

One inotify watch on the exit dir serves every container, so an exit is seen at once
instead of at the next poll. A monitor that dies without writing the file is seen through
a pidfd of it (readable once the process has ended), so a waiter costs nothing while its
container runs: no timer per container (issue 17: idle CPU flat with 500 running). Without
a pidfd the waiter re-checks on a slow timer. An inotify queue overflow wakes every waiter
to re-check. The check reads a file, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import select
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
_IN_Q_OVERFLOW = 0x00004000
_EVENT = struct.Struct("iIII")

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
except OSError:  # pragma: no cover - glibc is always there on Linux
    _libc = None


class ExitWatcher:
    def __init__(self, exit_dir: str) -> None:
        self.exit_dir = exit_dir
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def _ensure(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._fd >= 0 and self._loop is loop:
            return True
        self.close()
        self._waiters = {}  # futures of a previous (closed) loop are moot
        if _libc is None:
            return False
        fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return False
        os.makedirs(self.exit_dir, exist_ok=True)
        if _libc.inotify_add_watch(fd, self.exit_dir.encode(), _IN_CLOSE_WRITE | _IN_MOVED_TO) < 0:
            os.close(fd)
            return False
        loop.add_reader(fd, self._on_readable)
        self._fd, self._loop = fd, loop
        return True

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        off = 0
        while off + _EVENT.size <= len(data):
            _wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
            name = data[off + _EVENT.size : off + _EVENT.size + length].rstrip(b"\0").decode(errors="replace")
            off += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:  # events were lost: every waiter checks its file again
                for futs in self._waiters.values():
                    for fut in futs:
                        if not fut.done():
                            fut.set_result(None)
                self._waiters = {}
                continue
            for fut in self._waiters.pop(name, ()):
                if not fut.done():
                    fut.set_result(None)

    async def wait(
        self, cid: str, check: Callable[[], T | None], timeout: float, pidfd: int | Callable[[], int] = -1
    ) -> T | None:
        """Return check() once it is truthy, waking on the exit file's events, on `pidfd` (the
        monitor's, or a function giving it after check() ran) becoming readable, or after `timeout`
        when there is no pidfd; None when it is not by then. `check` blocks (it reads the file):
        it runs in a thread."""
        if not self._ensure():
            result = await asyncio.to_thread(check)
            if not result:
                await asyncio.sleep(min(timeout, 0.25))
            return result
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(cid, set()).add(fut)
        fd = -1
        try:
            result = await asyncio.to_thread(check)  # after registering: an exit between the two is not missed
            if result:
                return result
            fd = pidfd() if callable(pidfd) else pidfd
            if fd >= 0:  # level-triggered: a monitor that has already ended wakes us at once
                loop.add_reader(fd, _wake, fut)
            await asyncio.wait([fut], timeout=None if fd >= 0 else timeout)
            return None
        finally:
            if fd >= 0:
                loop.remove_reader(fd)
            waiters = self._waiters.get(cid)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    self._waiters.pop(cid, None)

    async def follow(
        self,
        cid: str,
        read: Callable[[str], T | None],
        live_monitor: Callable[[str], int],
        gone: Callable[[str], Awaitable[T | None]],
        prepare: Callable[[str], None] | None = None,
    ) -> T:
        """read(cid) once it is truthy: the exit of a running container. `live_monitor(cid)`
        (blocking) is the PID of its live monitor or 0; `gone(cid)` the exit to report when the
        monitor ended without a file, None if the container still runs (then it is followed
        further). `prepare(cid)` (blocking) runs in the first thread hop, with the pidfd's opening
        and the first check: one hop per watcher (500 at a daemon start with 500 running)."""
        fd = [-1]

        def check() -> T | None:
            return read(cid)

        def monitor() -> int:
            return live_monitor(cid)

        def first() -> T | None:
            if prepare is not None:
                prepare(cid)
            fd[0] = _open_pidfd(monitor)
            return check()

        try:
            result = await self.wait(cid, first, 1.0, lambda: fd[0])
            while not result:
                if fd[0] < 0 or _ended(fd[0]):  # else an inotify overflow woke every waiter
                    result = await gone(cid)
                    if result:
                        return result
                    if fd[0] >= 0:  # ended, yet the container runs: follow its monitor now, if any
                        os.close(fd[0])
                        fd[0] = -1
                        fd[0] = await asyncio.to_thread(_open_pidfd, monitor)
                result = await self.wait(cid, check, 1.0, fd[0])
            return result
        finally:
            if fd[0] >= 0:
                os.close(fd[0])

    def close(self) -> None:
        if self._fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                try:
                    self._loop.remove_reader(self._fd)
                except Exception:
                    pass
            os.close(self._fd)
        self._fd, self._loop = -1, None


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _open_pidfd(monitor: Callable[[], int]) -> int:
    """Blocking: a pidfd of the live monitor, or -1 (none running, or no pidfd support)."""
    pid = monitor()
    if not pid:
        return -1
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return -1
    if monitor() != pid:  # it ended, and the PID may be another process's, between the two
        os.close(fd)
        return -1
    return fd


def _ended(fd: int) -> bool:
    """Whether the process behind a pidfd has ended (the pidfd polls readable then)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
