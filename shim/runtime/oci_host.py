"""Runtime adapter: the host facts and device nodes an OCI spec depends on (the I/O of spec building).

shim/runtime/oci_spec.py builds config.json purely from a RunRequest and `HostFacts`; this
module reads what it needs from the host: shimd's own bounding set and hard rlimits, the
cgroup v1 features (swap accounting, blkio weights), the init binary, whether the kernel runs
x32 syscalls (seccomp.x32_abi: one status read and one syscall), which of dockerd's default
network sysctls the kernel has and whether shimd runs in a user namespace, and the device nodes
named by HostConfig (stat, /dev walk). Blocking: callers run it in a thread. Mirrors moby's
daemon/oci_linux.go (devices, blkio) and runc's HostDevices.
"""

from __future__ import annotations

import os
import posixpath
import resource
import stat as st
from typing import Any

from shim.errors import InvalidParameter
from shim.runtime import seccomp
from shim.runtime.oci_spec import ALL_CAPS, INIT_HOST_BINARY, NET_SYSCTL_DEFAULTS, ULIMIT_NAMES, HostFacts

_BLKIO_DEVICE_FIELDS = [
    ("BlkioWeightDevice", "weightDevice", "Weight", "weight"),
    ("BlkioDeviceReadBps", "throttleReadBpsDevice", "Rate", "rate"),
    ("BlkioDeviceWriteBps", "throttleWriteBpsDevice", "Rate", "rate"),
    ("BlkioDeviceReadIOps", "throttleReadIOPSDevice", "Rate", "rate"),
    ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice", "Rate", "rate"),
]


def resolve_blkio_devices(hc: dict[str, Any]) -> dict[str, Any]:
    """HostConfig Blkio*Device lists -> linux.resources.blockIO device entries (stats the paths)."""
    out: dict[str, Any] = {}
    for key, oci_key, field, oci_field in _BLKIO_DEVICE_FIELDS:
        for d in hc.get(key) or []:
            path = d.get("Path", "")
            try:
                rdev = os.stat(path).st_rdev
            except OSError as e:
                raise InvalidParameter(f"{path}: {(e.strerror or str(e)).lower()}") from e
            out.setdefault(oci_key, []).append(
                {"major": os.major(rdev), "minor": os.minor(rdev), oci_field: d.get(field, 0)}
            )
    return out


def held_caps() -> list[str]:
    """The capabilities in shimd's own bounding set: a process can't be given more (capset fails)."""
    try:
        with open("/proc/self/status") as f:
            bnd = next(line for line in f if line.startswith("CapBnd:"))
        mask = int(bnd.split()[1], 16)
    except (OSError, StopIteration):
        return list(ALL_CAPS)
    return [c for i, c in enumerate(ALL_CAPS) if mask >> i & 1]


def sysctl_exists(name: str) -> bool:
    """moby sysctlExists: the file under /proc/sys (of shimd's own namespaces) is there."""
    return os.path.exists(os.path.join("/proc/sys", name.replace(".", "/")))


def running_in_user_namespace(uid_map: str = "/proc/self/uid_map") -> bool:
    """moby's RunningInUserNS (containerd/sys): the first line of the uid map is anything but the
    full range `0 0 4294967295`; no such file (a kernel without user namespaces) or an empty one:
    not in one."""
    try:
        with open(uid_map) as f:
            line = f.readline()
    except OSError:
        return False
    if not line:
        return False
    fields: list[int] = []
    for word in line.split()[:3]:  # Go's Sscanf("%d %d %d") stops at the first non-number
        if not word.isdigit():
            break
        fields.append(int(word))
    return fields != [0, 0, 4294967295]


def read_host_facts(cgroup_root: str = "/shim") -> HostFacts:
    facts = HostFacts(cgroup_root=cgroup_root)
    facts.available_caps = held_caps()
    for name in ULIMIT_NAMES.values():
        num = getattr(resource, name, None)
        if num is not None:
            facts.hard_rlimits[name] = resource.getrlimit(num)[1]
    facts.swap_accounting = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    facts.blkio_weight = any(os.path.exists(f"/sys/fs/cgroup/blkio/{f}") for f in ("blkio.weight", "blkio.bfq.weight"))
    for candidate in (INIT_HOST_BINARY, "/usr/libexec/docker/docker-init", "/usr/bin/docker-init"):
        if os.path.exists(candidate):
            facts.init_binary = candidate
            break
    facts.x32_abi = seccomp.x32_abi()
    # once, not per start as dockerd: neither changes while shimd runs
    facts.net_sysctls = frozenset(n for n in NET_SYSCTL_DEFAULTS if sysctl_exists(n))
    facts.in_user_namespace = running_in_user_namespace()
    return facts


def _device_of(path: str, dest: str) -> dict[str, Any] | None:
    s = os.stat(path)
    if st.S_ISCHR(s.st_mode):
        kind = "c"
    elif st.S_ISBLK(s.st_mode):
        kind = "b"
    else:
        return None
    return {
        "path": dest,
        "type": kind,
        "major": os.major(s.st_rdev),
        "minor": os.minor(s.st_rdev),
        "fileMode": st.S_IMODE(s.st_mode),
        "uid": s.st_uid,
        "gid": s.st_gid,
    }


def host_devices() -> list[dict[str, Any]]:
    """Every device node under /dev (runc's HostDevices), for Privileged."""
    skip = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
    out = []
    for root, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = os.path.join(root, name)
            if path == "/dev/console":
                continue
            try:
                dev = _device_of(path, path)
            except OSError:
                continue
            if dev:
                out.append(dev)
    return out


def resolve_devices(devices: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """HostConfig.Devices -> OCI devices with their cgroup permissions (may raise)."""
    out = []
    for d in devices or []:
        src = d.get("PathOnHost", "")
        dest = d.get("PathInContainer") or src
        perms = d.get("CgroupPermissions") or "rwm"
        try:
            if os.path.isdir(src):
                for root, _dirs, files in os.walk(src):
                    for name in files:
                        p = os.path.join(root, name)
                        dev = _device_of(p, posixpath.join(dest, os.path.relpath(p, src)))
                        if dev:
                            out.append(dev | {"permissions": perms})
                continue
            dev = _device_of(src, dest)
        except OSError as e:
            reason = e.strerror.lower() if e.strerror else str(e)
            raise InvalidParameter(
                f'error gathering device information while adding custom device "{src}": {reason}'
            ) from e
        if dev is None:
            raise InvalidParameter(
                f'error gathering device information while adding custom device "{src}": not a device node'
            )
        out.append(dev | {"permissions": perms})
    return out
