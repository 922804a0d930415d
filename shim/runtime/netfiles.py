"""Runtime adapter: the small files of container networking (hosts files, the host's resolv.conf)."""

from __future__ import annotations

import os
import shutil


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
        os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def remove_tree(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
