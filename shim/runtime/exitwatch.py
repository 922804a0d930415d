"""Runtime adapter: wake exit waiters when conmon writes `<exit-dir>/<id>` (inotify).

One inotify watch on the exit dir serves every container, so an exit is seen at once
instead of at the next poll. Waiters still re-check the file on a slow timer: that
covers a monitor that died without writing it, and any missed event. The check reads a
file, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
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
            _wd, _mask, _cookie, length = _EVENT.unpack_from(data, off)
            name = data[off + _EVENT.size : off + _EVENT.size + length].rstrip(b"\0").decode(errors="replace")
            off += _EVENT.size + length
            for fut in self._waiters.pop(name, ()):
                if not fut.done():
                    fut.set_result(None)

    async def wait(self, cid: str, check: Callable[[], T | None], timeout: float) -> T | None:
        """Return check() once it is truthy, waking on the exit file's events or after `timeout`;
        None when it is not by then. `check` blocks (it reads the file): it runs in a thread."""
        if not self._ensure():
            result = await asyncio.to_thread(check)
            if not result:
                await asyncio.sleep(min(timeout, 0.25))
            return result
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(cid, set()).add(fut)
        try:
            result = await asyncio.to_thread(check)  # after registering: an exit between the two is not missed
            if result:
                return result
            await asyncio.wait([fut], timeout=timeout)
            return None
        finally:
            waiters = self._waiters.get(cid)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    self._waiters.pop(cid, None)

    def close(self) -> None:
        if self._fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                try:
                    self._loop.remove_reader(self._fd)
                except Exception:
                    pass
            os.close(self._fd)
        self._fd, self._loop = -1, None
