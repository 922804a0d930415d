"""Runtime adapter helpers: blocking filesystem measurements shared by the adapters."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os


def tree_size(path: str) -> int:
    """Bytes in the files below `path` (as dockerd's SizeRw and volume UsageData count them)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MNT_DETACH = 2


def is_mounted(target: str) -> bool:
    target = os.path.realpath(target)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def lazy_unmount(target: str) -> int:
    """Detach every mount stacked on `target`; 0 when none is left, else the errno that stopped it
    (EINVAL/ENOENT, "not a mount point any more", count as done)."""
    while is_mounted(target):
        if libc.umount2(target.encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            return 0 if err in (errno.EINVAL, errno.ENOENT) else err
    return 0
