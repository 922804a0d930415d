"""Engine layer (pure): what the validation pass needs to know about the host and the daemon.

Read once by the composition root (runtime/host.py `read_limits`); the defaults are a host the
pass knows nothing about (unit tests), where only the host-free rules apply.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class HostLimits:
    ncpu: int = 1
    cpus: str = ""  # the CPUs containers may use ("0-1"; sysinfo.Cpus); "" = 0..ncpu-1
    mems: str = "0"  # the memory nodes (sysinfo.Mems)
    cpu_realtime: bool = False  # cpu.rt_runtime_us exists (CONFIG_RT_GROUP_SCHED)
    capabilities: tuple[str, ...] = ()  # every capability the kernel knows (CAP_*); () = not checked
    runtimes: tuple[str, ...] = ("runc",)

    def cpu_list(self) -> str:
        return self.cpus or (f"0-{self.ncpu - 1}" if self.ncpu > 1 else "0")
