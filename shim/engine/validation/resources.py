"""Engine layer (pure): HostConfig's resources against what the kernel's cgroups accept.

dockerd's verifyPlatformContainerResources (daemon_unix.go) and runconfig's validateQoS and
validateResources, with dockerd 20.10's wording; then what dockerd leaves to runc at start
(a negative CPU shares value, a CPU quota below -1, a cpuset of CPUs the host lacks — dockerd
checks that one too —, ulimits the kernel refuses), refused here so nothing is created.
"""

from __future__ import annotations

import re
from typing import Any

from shim.engine.ports import HostLimits
from shim.errors import InvalidParameter

LINUX_MIN_MEMORY = 6 * 1024 * 1024
# setrlimit's resources (HostConfig.Ulimits names, as go-units' ulimitNameMapping)
ULIMITS = frozenset(
    {
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    }
)
_BLKIO_DEVICES = (
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
)
_DEVICE_RULE = re.compile(r"([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})")


def items(values: Any) -> list[dict[str, Any]]:
    """A list of objects as Go decodes it: a null entry is the zero value (an empty object)."""
    return [v if isinstance(v, dict) else {} for v in values or []]


def _int(hc: dict[str, Any], key: str) -> int:
    value = hc.get(key)
    return value if isinstance(value, int) else 0


def check_resources(hc: dict[str, Any], host: HostLimits, *, update: bool = False) -> list[str]:
    """Memory, CPU, cpuset, blkio, pids, devices and ulimits; returns dockerd's warnings."""
    warnings: list[str] = []
    _memory(hc, update)
    _cpu(hc, host)
    _cpuset(hc, host)
    weight = _int(hc, "BlkioWeight")
    if weight > 0 and (weight < 10 or weight > 1000):
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    for key in ("BlkioWeightDevice",):
        for dev in items(hc.get(key)):
            w = dev.get("Weight") or 0
            if w and (w < 10 or w > 1000):
                raise InvalidParameter(f"invalid {key}: weight {w} is not in 10-1000")
    for key in (
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
    ):
        for dev in items(hc.get(key)):
            path = dev.get("Path") or ""
            if not path.startswith("/") or "\x00" in path:
                raise InvalidParameter(f"invalid {key}: the device path must be absolute: {path[:80]!r}")
    if _int(hc, "IOMaximumBandwidth"):
        raise InvalidParameter("Invalid QoS settings: linux does not support configuration of maximum bandwidth")
    if _int(hc, "IOMaximumIOps"):
        raise InvalidParameter("Invalid QoS settings: linux does not support configuration of maximum IOPs")
    if _int(hc, "CpuPercent") > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")
    _devices(hc)
    _ulimits(hc)
    return warnings


def _memory(hc: dict[str, Any], update: bool) -> None:
    mem, swap = _int(hc, "Memory"), _int(hc, "MemorySwap")
    if mem != 0 and mem < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap < -1:
        raise InvalidParameter(f"invalid MemorySwap: {swap} (-1 means unlimited swap)")
    if mem > 0 and swap > 0 and swap < mem:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if mem == 0 and swap > 0 and not update:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    swappiness = hc.get("MemorySwappiness")
    if isinstance(swappiness, int) and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidParameter(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    res = _int(hc, "MemoryReservation")
    if res != 0 and res < LINUX_MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if mem > 0 and res > 0 and mem < res:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    for key in ("KernelMemory", "KernelMemoryTCP"):
        if _int(hc, key) < 0:
            raise InvalidParameter(f"invalid {key}: {_int(hc, key)} (a limit in bytes, 0 for none)")


def _cpu(hc: dict[str, Any], host: HostLimits) -> None:
    nano, period, quota = _int(hc, "NanoCpus"), _int(hc, "CpuPeriod"), _int(hc, "CpuQuota")
    if nano > 0 and period > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    n = host.ncpu
    if nano < 0 or nano > n * 10**9:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    shares = _int(hc, "CpuShares")
    if shares < 0:
        # cpu.shares is unsigned: the kernel would read a negative value as a huge one
        raise InvalidParameter(f"invalid CpuShares: {shares} (must not be negative)")
    if period != 0 and (period < 1000 or period > 1000000):
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota > 0 and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if quota < -1:
        raise InvalidParameter(f"invalid CpuQuota: {quota} (-1 means no quota)")
    rt_period, rt_runtime = _int(hc, "CpuRealtimePeriod"), _int(hc, "CpuRealtimeRuntime")
    if rt_period < 0 or rt_runtime < -1:
        raise InvalidParameter("invalid CPU real-time period or runtime: must not be negative")
    if (rt_period or rt_runtime) and not host.cpu_realtime:
        raise InvalidParameter("Your kernel does not support CPU real-time scheduler")
    if rt_period and rt_runtime and rt_runtime > rt_period:
        raise InvalidParameter("cpu real-time runtime cannot be higher than cpu real-time period")


def parse_uint_list(val: str, maximum: int = 0) -> set[int]:
    """moby parsers.ParseUintList: "0-2,4" → {0, 1, 2, 4}; ValueError with its wording."""
    if val == "":
        return set()
    out: set[int] = set()
    for part in val.split(","):
        lo, sep, hi = part.partition("-")
        if re.fullmatch(r"[0-9]+", lo) is None or (sep and re.fullmatch(r"[0-9]+", hi) is None):
            raise ValueError(f"invalid format: {val}")
        first = int(lo)
        last = int(hi) if sep else first
        if last < first:
            raise ValueError(f"invalid format: {val}")
        if maximum and last > maximum:
            raise ValueError(f"value of out range, maximum is {maximum}")
        out.update(range(first, last + 1))
    return out


def _cpuset(hc: dict[str, Any], host: HostLimits) -> None:
    for key, label, avail, what in (
        ("CpusetCpus", "cpus", host.cpu_list(), "CPUs"),
        ("CpusetMems", "mems", host.mems, "memory nodes"),
    ):
        asked = hc.get(key) or ""
        available = parse_uint_list(avail)
        try:
            wanted = parse_uint_list(asked, max(8192, *available) if available else 8192)
        except ValueError as e:
            raise InvalidParameter(f"Invalid value {asked} for cpuset {label}: {e}") from None
        if not wanted <= available:
            raise InvalidParameter(f"Requested {what} are not available - requested {asked}, available: {avail}")


def _devices(hc: dict[str, Any]) -> None:
    for dev in items(hc.get("Devices")):
        host_path = dev.get("PathOnHost") or ""
        if not host_path.startswith("/") or "\x00" in host_path:
            raise InvalidParameter(f"invalid device path on host: {host_path[:80]!r} (must be absolute)")
        target = dev.get("PathInContainer") or ""
        if target and (not target.startswith("/") or "\x00" in target):
            raise InvalidParameter(f"invalid device path in container: {target[:80]!r} (must be absolute)")
        perms = dev.get("CgroupPermissions") or ""
        if perms and (set(perms) - set("rwm") or len(perms) > 3):
            raise InvalidParameter(f"invalid device mode: {perms[:80]}")
    for rule in hc.get("DeviceCgroupRules") or []:
        if _DEVICE_RULE.fullmatch(rule) is None:
            raise InvalidParameter(f"invalid device cgroup format '{rule[:80]}'")
    for req in items(hc.get("DeviceRequests")):
        # no device driver (nvidia, cdi) is registered in shimd: dockerd's wording when none matches
        caps = req.get("Capabilities") or []
        raise InvalidParameter(f'could not select device driver "{req.get("Driver") or ""}" with capabilities: {caps}')


def _ulimits(hc: dict[str, Any]) -> None:
    for u in items(hc.get("Ulimits")):
        name = u.get("Name") or ""
        if name not in ULIMITS:
            raise InvalidParameter(f"invalid ulimit type: {name[:80]}")
        soft, hard = u.get("Soft") or 0, u.get("Hard") or 0
        if soft > hard and hard != -1:
            raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
