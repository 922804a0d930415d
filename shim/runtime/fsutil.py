"""Runtime adapter helpers: blocking filesystem measurements shared by the adapters."""

from __future__ import annotations

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
