"""Engine layer: healthchecks, dockerd's daemon/health.go.

A probe runs the Healthcheck's Test inside the container every Interval (StartInterval during
StartPeriod, API 1.44); the result goes to State.Health (last 5 results, output capped at
4 KiB); `Retries` consecutive failures make the container unhealthy, failures during the
start period don't count while it is still starting. Each status change is a
`health_status: <status>` event. Probes run through an exec function the exec service
provides (`run_probe(cid, argv, timeout) -> (exit_code, output)`): without one, health is
not monitored and State.Health stays absent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shim.engine.model import Container, Health, HealthLogEntry
from shim.engine.ports import ExecRuntimePort

log = logging.getLogger("shim.health")

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096

ProbeFn = Callable[[str, list[str], float], Awaitable[tuple[int, str]]]


def probe_argv(test: list[str] | None) -> list[str] | None:
    """["CMD", …] → argv; ["CMD-SHELL", cmd] → /bin/sh -c cmd; ["NONE"] or nothing → None."""
    if not test:
        return None
    kind = test[0]
    if kind == "CMD":
        return list(test[1:]) or None
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return None


def _seconds(ns: Any, default: float) -> float:
    return (ns / 1e9) if ns else default


class HealthMonitor:
    """One probe loop per running container with a healthcheck."""

    def __init__(self, probe: ProbeFn, on_change: Callable[[Container, str], Awaitable[None]]) -> None:
        self._probe = probe
        self._on_change = on_change
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, c: Container) -> None:
        """initHealthMonitor: (re)set to starting and begin probing."""
        hc = c.config.get("Healthcheck") or {}
        argv = probe_argv(hc.get("Test"))
        if argv is None:
            return
        if c.state.health is None:
            c.state.health = Health()
        c.state.health.status = "starting"
        c.state.health.failing_streak = 0
        self.stop(c.id)
        self._tasks[c.id] = asyncio.get_running_loop().create_task(self._loop(c, argv, hc))

    def stop(self, cid: str) -> None:
        task = self._tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    def stop_all(self) -> None:
        for cid in list(self._tasks):
            self.stop(cid)

    async def _loop(self, c: Container, argv: list[str], hc: dict[str, Any]) -> None:
        interval = _seconds(hc.get("Interval"), DEFAULT_INTERVAL)
        timeout = _seconds(hc.get("Timeout"), DEFAULT_TIMEOUT)
        start_period = _seconds(hc.get("StartPeriod"), 0.0)
        start_interval = _seconds(hc.get("StartInterval"), DEFAULT_START_INTERVAL)
        retries = hc.get("Retries") or DEFAULT_RETRIES
        started = time.monotonic()
        while True:
            in_start = time.monotonic() - started < start_period
            await asyncio.sleep(
                start_interval if in_start and c.state.health and c.state.health.status == "starting" else interval
            )
            if not c.state.running or c.state.paused:
                continue
            begin = time.time_ns()
            try:
                code, output = await asyncio.wait_for(self._probe(c.id, argv, timeout), timeout)
            except TimeoutError:
                code, output = -1, f"Health check exceeded timeout ({timeout:g}s)"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the probe could not run: a failure, as dockerd records it
                code, output = -1, str(e)
            await self.record(
                c,
                begin,
                time.time_ns(),
                code,
                output[:MAX_OUTPUT_LEN],
                retries,
                time.monotonic() - started < start_period,
            )

    async def record(
        self, c: Container, begin: int, end: int, code: int, output: str, retries: int, in_start_period: bool
    ) -> None:
        h = c.state.health
        if h is None:
            return
        h.log = ([*h.log, HealthLogEntry(start=begin, end=end, exit_code=code, output=output)])[-MAX_LOG_ENTRIES:]
        old = h.status
        if code == 0:
            h.failing_streak = 0
            h.status = "healthy"
        elif not (in_start_period and h.status == "starting"):
            h.failing_streak += 1
            if h.failing_streak >= retries:
                h.status = "unhealthy"
        if h.status != old:
            await self._on_change(c, h.status)


def exec_probe(exec_runtime: ExecRuntimePort) -> ProbeFn:
    """A probe on the exec runtime (runtime/execproc.ExecRuntime): run `argv` in the container
    with its own user, env and working dir, collect stdout+stderr, return (exit code, output)."""

    async def probe(cid: str, argv: list[str], timeout: float) -> tuple[int, str]:
        proc = await exec_runtime.start(
            cid, cmd=argv, env=[], cwd="", user="", tty=False, privileged=False, attach_stdin=False
        )
        out = bytearray()
        try:
            while True:
                item = await proc.read()
                if item is None:
                    break
                if len(out) < MAX_OUTPUT_LEN:
                    out.extend(item[1])
            code = await proc.wait()
        except asyncio.CancelledError:
            await proc.kill()
            raise
        finally:
            await proc.close()
        return code, out.decode(errors="replace")

    return probe
