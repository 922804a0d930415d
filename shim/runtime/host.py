"""Runtime adapter: facts about the host for /info and /version (read from /proc and /etc), and the
limits create requests are checked against (read from /sys)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess

from shim.engine.ports import HostFacts, HostLimits
from shim.platforms import go_arch
from shim.runtime.cgroups import host_memory_total
from shim.runtime.oci_spec import ALL_CAPS


def _os_release() -> tuple[str, str]:
    fields: dict[str, str] = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                fields[k] = v.strip('"')
    except OSError:
        pass
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


def _cgroup_version() -> str:
    # A pure v2 host mounts cgroup2 at /sys/fs/cgroup; hybrid hosts (these machines) keep v1 controllers.
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _runc_version(runc: str) -> str:
    path = shutil.which(runc) or runc
    try:
        out = subprocess.run([path, "--version"], check=False, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    first = out.splitlines()[0] if out else ""
    return first.split()[-1] if first else ""


def read_host_facts(runc: str = "runc") -> HostFacts:
    """Blocking: called once at daemon start, before the event loop serves requests."""
    uname = os.uname()
    pretty, version_id = _os_release()
    return HostFacts(
        kernel_version=uname.release,
        operating_system=pretty,
        os_version=version_id,
        architecture=go_arch(),
        ncpu=os.cpu_count() or 1,
        mem_total=host_memory_total(),
        cgroup_driver="cgroupfs",
        cgroup_version=_cgroup_version(),
        hostname=uname.nodename,
        runc_version=_runc_version(runc),
        nofile_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
    )


def _first_line(*paths: str) -> str:
    for path in paths:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text:
            return text
    return ""


def read_limits() -> HostLimits:
    """What create requests are checked against (engine/validation): the CPUs and memory nodes the
    daemon's cgroup may give (dockerd's sysinfo.Cpus/Mems), CPU real-time support, the capabilities
    this shimd knows. Blocking: called once at daemon start."""
    cpus = _first_line(
        "/sys/fs/cgroup/cpuset/cpuset.effective_cpus",
        "/sys/fs/cgroup/cpuset/cpuset.cpus",
        "/sys/fs/cgroup/cpuset.cpus.effective",
        "/sys/devices/system/cpu/online",
    )
    mems = _first_line(
        "/sys/fs/cgroup/cpuset/cpuset.effective_mems",
        "/sys/fs/cgroup/cpuset/cpuset.mems",
        "/sys/fs/cgroup/cpuset.mems.effective",
        "/sys/devices/system/node/online",
    )
    return HostLimits(
        ncpu=os.cpu_count() or 1,
        cpus=cpus,
        mems=mems or "0",
        cpu_realtime=os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"),
        capabilities=tuple(ALL_CAPS),
    )
