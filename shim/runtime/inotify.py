"""Runtime adapter: a minimal inotify binding (libc through ctypes), for the log keeper and followers.

Only what they need: an instance, watches added and removed, events read as (wd, mask, name).
The exit watcher (exitwatch.py) has its own few lines of the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000

_EVENT = struct.Struct("iIII")

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    _libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
except OSError:  # pragma: no cover - glibc is always there on Linux
    _libc = None


class Inotify:
    """One inotify instance. `blocking=False` for an event loop reader."""

    def __init__(self, *, blocking: bool = True) -> None:
        if _libc is None:
            raise OSError("inotify is not available")
        flags = os.O_CLOEXEC | (0 if blocking else os.O_NONBLOCK)
        fd = _libc.inotify_init1(flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd = fd

    def add(self, path: str, mask: int) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask) if _libc is not None else -1
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(wd)

    def remove(self, wd: int) -> None:
        if _libc is not None:
            _libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[tuple[int, int, bytes]]:
        """The events waiting (blocks in blocking mode until there is one): (wd, mask, name)."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        return parse(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def parse(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    off = 0
    while off + _EVENT.size <= len(data):
        wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
        name = data[off + _EVENT.size : off + _EVENT.size + length].rstrip(b"\0")
        off += _EVENT.size + length
        out.append((wd, mask, name))
    return out
