"""Runtime adapter: the `local` volume driver's disk side (blocking; call through asyncio.to_thread).

`<data-root>/volumes/<name>/_data` is a volume's content, as dockerd's. A volume made
with DriverOpts (`type`/`device`/`o`, e.g. tmpfs or a bind of a host dir) has its
filesystem mounted on `_data` while some container uses it (local driver Mount/Unmount),
never otherwise: nothing stays mounted when no container runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess

from shim.errors import SystemFailure, host_fault
from shim.runtime.fsutil import is_mounted, lazy_unmount, libc, tree_size

# mount(8) flag words the local driver's `o` may carry (moby's mount.ParseOptions subset)
_FLAGS = {
    "ro": (1, True),
    "rw": (1, False),
    "nosuid": (2, True),
    "suid": (2, False),
    "nodev": (4, True),
    "dev": (4, False),
    "noexec": (8, True),
    "exec": (8, False),
    "sync": (16, True),
    "async": (16, False),
    "noatime": (1024, True),
    "atime": (1024, False),
    "nodiratime": (2048, True),
    "bind": (4096, True),
    "rbind": (4096 | 16384, True),
    "relatime": (1 << 21, True),
    "strictatime": (1 << 24, True),
}


class LocalVolumeFS:
    def __init__(self, data_root: str) -> None:
        self.root = os.path.join(os.path.abspath(data_root), "volumes")

    def path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def create(self, name: str) -> str:
        data = self.path(name)
        try:
            os.makedirs(os.path.dirname(data), mode=0o701, exist_ok=True)
        except OSError as e:  # the local driver's words (a full disk)
            raise host_fault(e, f"error while creating volume root path '{os.path.dirname(data)}'", "mkdir") from e
        try:
            os.makedirs(data, mode=0o755, exist_ok=True)
        except OSError as e:
            shutil.rmtree(os.path.dirname(data), ignore_errors=True)
            raise host_fault(e, f"error while creating volume data path '{data}'", "mkdir") from e
        return data

    def names(self) -> list[str]:
        """The volumes that have a directory."""
        try:
            return [n for n in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, n))]
        except FileNotFoundError:
            return []

    def remove(self, name: str) -> None:
        data = self.path(name)
        self.unmount(name)
        # a bind device's data must never be deleted through the mount point
        if is_mounted(data):
            raise SystemFailure(f"remove {name}: volume is still mounted")
        shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)

    def mount(self, name: str, opts: dict[str, str]) -> None:
        """Mount the volume's filesystem (DriverOpts) on _data; idempotent."""
        data = self.create(name)
        if is_mounted(data):
            return
        fstype = opts.get("type") or ""
        device = opts.get("device") or ""
        flags, rest = 0, []
        for o in (opts.get("o") or "").split(","):
            if not o:
                continue
            if o in _FLAGS:
                bit, on = _FLAGS[o]
                flags = flags | bit if on else flags & ~bit
            else:
                rest.append(o)
        if (
            fstype == "none"
            or "bind" in (opts.get("o") or "").split(",")
            or "rbind" in (opts.get("o") or "").split(",")
        ):
            fstype = ""
            if not os.path.isdir(device):
                raise SystemFailure(
                    f"error while mounting volume '{data}': failed to mount local volume: "
                    f"mount {device}:{data}, flags: 0x{flags:x}: no such file or directory"
                )
        if not fstype and not (flags & 4096):
            raise SystemFailure(
                f"error while mounting volume '{data}': failed to mount local volume: "
                f"mount {device}:{data}, flags: 0x{flags:x}: invalid argument"
            )
        src = device or fstype
        rc = libc.mount(
            src.encode(),
            data.encode(),
            fstype.encode() if fstype else None,
            flags,
            ",".join(rest).encode() if rest else None,
        )
        if rc != 0:
            err = ctypes.get_errno()
            raise SystemFailure(
                f"error while mounting volume '{data}': failed to mount local volume: "
                f"mount {device}:{data}, flags: 0x{flags:x}, data: {','.join(rest)}: "
                f"{os.strerror(err).lower()}"
            )

    def unmount(self, name: str) -> None:
        data = self.path(name)
        err = lazy_unmount(data)
        if err:
            raise SystemFailure(f"error while unmounting volume {name}: {os.strerror(err).lower()}")

    def is_empty(self, name: str) -> bool:
        try:
            return not os.listdir(self.path(name))
        except FileNotFoundError:
            return True

    def size(self, name: str) -> int:
        return tree_size(self.path(name))

    @staticmethod
    def copy_up(src: str, dst: str) -> None:
        """Copy an image directory's content into a fresh volume, owners, modes, times and links kept."""
        if not os.path.isdir(src) or os.path.islink(src):
            return
        if os.listdir(src):
            subprocess.run(["cp", "-a", "--", src + "/.", dst + "/"], check=True, capture_output=True)
        st = os.stat(src)
        os.chown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, st.st_mode & 0o7777)

    @staticmethod
    def ensure_bind_source(path: str) -> None:
        """`-v /missing:/x`: dockerd creates the host directory (0755); an existing file stays a file."""
        if not os.path.lexists(path):
            os.makedirs(path, mode=0o755, exist_ok=True)

    @staticmethod
    def exists(path: str) -> bool:
        return os.path.lexists(path)
