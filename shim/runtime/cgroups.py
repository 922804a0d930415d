"""Runtime adapter: cgroup v1 figures in the shape of Docker's stats body, and `top`.

Blocking file reads: callers use asyncio.to_thread.
"""

from __future__ import annotations

import os
import re
from typing import Any

from shim.errors import InvalidParameter

CGROUP_ROOT = "/sys/fs/cgroup"
UNLIMITED_MEMORY = 1 << 62  # v1 reports "no limit" as a huge page-aligned number


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def host_memory_total() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def system_cpu_usage() -> int:
    """Sum of /proc/stat's first line in nanoseconds (Docker's system_cpu_usage)."""
    line = (_read("/proc/stat") or "cpu 0").splitlines()[0]
    ticks = sum(int(x) for x in line.split()[1:8])
    return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _blkio(path: str) -> list[dict[str, int | str]]:
    out: list[dict[str, int | str]] = []
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


# The memory.stat keys dockerd reports on cgroup v1 (containerd cgroups v1 MemoryStat), with and
# without total_: others the kernel adds (shmem, swap, workingset_*) are not in dockerd's stats.
_MEMORY_STAT_BASE = (
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
)
_MEMORY_STAT_KEYS = frozenset(
    (
        *_MEMORY_STAT_BASE,
        *(f"total_{k}" for k in _MEMORY_STAT_BASE),
        "hierarchical_memory_limit",
        "hierarchical_memsw_limit",
    )
)


def stats(cgpath: str) -> dict[str, Any]:
    """memory_stats, cpu_stats, pids_stats, blkio_stats for the cgroup `cgpath` (e.g. /shim/<id>)."""
    rel = cgpath.lstrip("/")
    mem_dir = os.path.join(CGROUP_ROOT, "memory", rel)
    cpu_dir = os.path.join(CGROUP_ROOT, "cpuacct", rel)
    cpu_ctl = os.path.join(CGROUP_ROOT, "cpu", rel)
    pids_dir = os.path.join(CGROUP_ROOT, "pids", rel)
    blk_dir = os.path.join(CGROUP_ROOT, "blkio", rel)

    memory: dict[str, Any] = {}
    usage = _int(os.path.join(mem_dir, "memory.usage_in_bytes"))
    if usage is not None:
        limit = _int(os.path.join(mem_dir, "memory.limit_in_bytes")) or 0
        total = host_memory_total()
        # dockerd reports the host's memory when the cgroup has no (or a larger) limit
        if not limit or limit >= UNLIMITED_MEMORY or (total and limit > total):
            limit = total
        memory = {
            "usage": usage,
            "max_usage": _int(os.path.join(mem_dir, "memory.max_usage_in_bytes")) or 0,
            "stats": {k: v for k, v in _kv(os.path.join(mem_dir, "memory.stat")).items() if k in _MEMORY_STAT_KEYS},
            "limit": limit,
        }
        failcnt = _int(os.path.join(mem_dir, "memory.failcnt")) or 0
        if failcnt:  # omitempty in dockerd's MemoryStats
            memory["failcnt"] = failcnt

    cpu: dict[str, Any] = {}
    total_usage = _int(os.path.join(cpu_dir, "cpuacct.usage"))
    if total_usage is not None:
        percpu = [int(x) for x in (_read(os.path.join(cpu_dir, "cpuacct.usage_percpu")) or "").split()]
        ticks = _kv(os.path.join(cpu_dir, "cpuacct.stat"))
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        throttle = _kv(os.path.join(cpu_ctl, "cpu.stat"))
        cpu = {
            "cpu_usage": {
                "total_usage": total_usage,
                "percpu_usage": percpu,
                "usage_in_kernelmode": ticks.get("system", 0) * tick_ns,
                "usage_in_usermode": ticks.get("user", 0) * tick_ns,
            },
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": os.cpu_count() or len(percpu),
            "throttling_data": {
                "periods": throttle.get("nr_periods", 0),
                "throttled_periods": throttle.get("nr_throttled", 0),
                "throttled_time": throttle.get("throttled_time", 0),
            },
        }

    pids: dict[str, int] = {}
    current = _int(os.path.join(pids_dir, "pids.current"))
    if current is not None:
        pids["current"] = current
        limit_text = (_read(os.path.join(pids_dir, "pids.max")) or "max").strip()
        if limit_text.isdigit():
            pids["limit"] = int(limit_text)

    blkio = {
        "io_service_bytes_recursive": _blkio(os.path.join(blk_dir, "blkio.throttle.io_service_bytes_recursive")),
        "io_serviced_recursive": _blkio(os.path.join(blk_dir, "blkio.throttle.io_serviced_recursive")),
        # dockerd on cgroup v1 (containerd's cgroups metrics): empty lists, never null
        "io_queue_recursive": [],
        "io_service_time_recursive": [],
        "io_wait_time_recursive": [],
        "io_merged_recursive": [],
        "io_time_recursive": [],
        "sectors_recursive": [],
    }
    return {
        "memory_stats": memory,
        "cpu_stats": cpu,
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
    }


def frozen(cgpath: str) -> bool | None:
    """Whether the cgroup is frozen (a paused container, as runc tells it): v1's freezer.state,
    else v2's cgroup.freeze; None when neither says (a systemd-style path, a freeze in progress)."""
    if ":" in cgpath:
        return None
    rel = cgpath.lstrip("/")
    state = _read(os.path.join(CGROUP_ROOT, "freezer", rel, "freezer.state"))
    if state is not None:
        return {"THAWED": False, "FROZEN": True}.get(state.strip())
    flag = _read(os.path.join(CGROUP_ROOT, rel, "cgroup.freeze"))
    if flag is not None:
        return {"0": False, "1": True}.get(flag.strip())
    return None


def cgroup_pids(cgpath: str) -> list[int]:
    text = _read(os.path.join(CGROUP_ROOT, "pids", cgpath.lstrip("/"), "cgroup.procs"))
    if text is None:
        text = _read(os.path.join(CGROUP_ROOT, "memory", cgpath.lstrip("/"), "cgroup.procs")) or ""
    return [int(x) for x in text.split()]


_PS_ARG = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def validate_ps_args(ps_args: str) -> None:
    """moby validatePSArgs (and no NUL byte: it can't be passed to ps)."""
    if "\x00" in ps_args:
        raise InvalidParameter("invalid ps_args: contains a NUL byte")
    for key, val in _PS_ARG.findall(ps_args):
        if key != "pid":
            raise InvalidParameter(f'specifying "{key}={val}" is not allowed')


def parse_ps_output(output: str, pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """moby parsePSOutput: keep rows whose PID is in the container; the last column takes the rest."""
    lines = output.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise InvalidParameter("Couldn't find PID field in ps output") from None
    wanted = set(pids)
    procs = []
    for line in lines[1:]:
        if not line.strip():
            continue
        fields = line.split()
        try:
            pid = int(fields[pid_index])
        except (ValueError, IndexError):
            continue
        if pid in wanted:
            n = len(titles)
            procs.append([*fields[: n - 1], " ".join(fields[n - 1 :])])
    return titles, procs
