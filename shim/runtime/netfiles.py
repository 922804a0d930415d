"""Runtime adapter: the small files of container networking (hosts files, the host's resolv.conf)."""

from __future__ import annotations

import contextlib
import os
import shutil

from shim.errors import host_fault


class NetFiles:
    def __init__(self, resolv_conf: str = "/etc/resolv.conf") -> None:
        self.resolv_conf = resolv_conf

    def read_host_resolv_conf(self) -> str:
        try:
            with open(self.resolv_conf) as f:
                return f.read()
        except OSError:
            return ""

    def read_host_file(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def write(self, path: str, content: str) -> None:
        tmp = path + ".tmp"
        try:
            os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
            with open(tmp, "w") as f:
                f.write(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as e:  # a full disk: the start fails cleanly, no half-written file left
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise host_fault(e, f"error writing {os.path.basename(path)}") from e

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
