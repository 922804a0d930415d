"""Engine layer (containers): `docker update` (POST /containers/{id}/update), dockerd's daemon/update.go.

A container's resources (the HostConfig fields of container.UpdateConfig) and its restart policy,
checked as at create, given to the runtime when a process runs, then saved; a save that fails (a
full disk) puts the old ones back, in the runtime too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from shim.engine import validation
from shim.engine.containers.core import Core
from shim.engine.model import Container
from shim.engine.state import check
from shim.errors import Conflict, InvalidParameter, ShimError

# HostConfig fields `docker update` may change (container.UpdateConfig's Resources).
UPDATABLE = (
    "BlkioWeight",
    "CpuPeriod",
    "CpuQuota",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpuShares",
    "CpusetCpus",
    "CpusetMems",
    "Memory",
    "MemoryReservation",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "KernelMemory",
    "KernelMemoryTCP",
    "CpuCount",
    "CpuPercent",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "Devices",
    "DeviceCgroupRules",
    "Ulimits",
    "OomKillDisable",
    "MemorySwappiness",
)


async def apply(core: Core, limits: validation.HostLimits, c: Container, ref: str, body: dict[str, Any]) -> list[str]:
    """The update's warnings; every refusal worded as dockerd's "Cannot update container <id>: …"."""
    try:
        return await _apply(core, limits, c, ref, body)
    except ShimError as e:
        raise type(e)(f"Cannot update container {c.id}: {e.message}") from None


async def _apply(core: Core, limits: validation.HostLimits, c: Container, ref: str, body: dict[str, Any]) -> list[str]:
    async with core.table.live(c.id).lock:
        check(c.state.status, "update", c.id, ref)
        hc = dict(c.host_config)
        for key in UPDATABLE:
            val = body.get(key)
            if val not in (None, 0, "", []):
                hc[key] = val
        rp = body.get("RestartPolicy")
        if rp and rp.get("Name") is not None and (rp.get("Name") or rp.get("MaximumRetryCount")):
            if c.host_config.get("AutoRemove") and rp.get("Name") not in ("", "no"):
                raise InvalidParameter(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                )
            hc["RestartPolicy"] = {
                "Name": rp.get("Name") or "",
                "MaximumRetryCount": rp.get("MaximumRetryCount") or 0,
            }
        warnings = validation.container_update(hc, limits)
        mem, swap = body.get("Memory") or 0, body.get("MemorySwap") or 0
        # dockerd's UpdateContainer compares with the current MemorySwap even when that is 0 (no
        # limit): `docker update --memory` alone fails on a container created without one.
        if mem and not swap and mem > (c.host_config.get("MemorySwap") or 0):
            raise Conflict(
                "Memory limit should be smaller than already set memoryswap limit, "
                "update the memoryswap at the same time"
            )
        live, before = c.state.running and not c.state.restarting, c.host_config
        if live:
            await core.runtime.update(c.id, hc)
        c.host_config = hc

        async def undo() -> None:  # the old resources again (a full disk kept them from being saved)
            c.host_config = before
            await (core.runtime.update(c.id, before) if live else asyncio.sleep(0))

        await core.save_or_undo(c, undo)
        core.event(c, "update")
        return warnings
