"""Engine layer: a container's streams: attach sessions, log reading with dockerd's filters,
stats samples, and the small helpers around them (pure or off-loop)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from shim.engine.model import Container
from shim.engine.ports import AttachHandle, LogChunk, LogQuery, MountSpec, NetworkingPort, Runtime
from shim.errors import ShimError
from shim.times import now_rfc3339_nano


@dataclasses.dataclass(slots=True)
class AttachSession:
    """An attach for the API layer: output chunks (stream, bytes), stdin in, and how to end."""

    container: Container
    handle: AttachHandle | None
    tty: bool
    stdin_once: bool
    done: Callable[[], None]

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self.handle is None:
            return
        while True:
            item = await self.handle.read()
            if item is None:
                return
            yield item

    async def write(self, data: bytes) -> None:
        if self.handle is not None:
            await self.handle.write(data)

    async def stdin_closed(self) -> None:
        """The client half-closed: StdinOnce closes the container's stdin (`run -i` → cat ends)."""
        if self.handle is not None and self.stdin_once:
            await self.handle.close_stdin()

    async def close(self) -> None:
        try:
            if self.handle is not None:
                await self.handle.close()
        finally:
            self.done()


class _FanoutView:
    """One attach's share of a fanned-out monitor connection (an AttachHandle)."""

    def __init__(self, fanout: AttachFanout) -> None:
        self._fanout = fanout
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=AttachFanout.QUEUE)
        self.closed = False

    async def read(self) -> tuple[int, bytes] | None:
        if self.closed:
            return None
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        await self._fanout.handle.write(data)

    async def close_stdin(self) -> None:
        await self._fanout.handle.close_stdin()

    async def close(self) -> None:
        await self._fanout.release(self)


class AttachFanout:
    """The attaches made before start share the one monitor connection that has the process's
    output from its first byte: dockerd copies a container's stdout/stderr to every attached
    client, and docker-compose v1 (`run` without the CLI) attaches stdin, stdout and stderr on
    three separate connections before it starts the container. The slowest reader paces the copy.
    """

    QUEUE = 64

    def __init__(self, handle: AttachHandle, n: int) -> None:
        self.handle = handle
        self.views = [_FanoutView(self) for _ in range(n)]
        self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while True:
            try:
                item = await self.handle.read()
            except Exception:  # a broken monitor connection ends every view's output
                item = None
            for v in self.views:
                if not v.closed:
                    await v.queue.put(item)
            if item is None:
                return

    async def release(self, view: _FanoutView) -> None:
        view.closed = True
        while not view.queue.empty():  # unblock the pump if it waits on this view
            view.queue.get_nowait()
        if all(v.closed for v in self.views):
            self._pump_task.cancel()
            try:
                await self._pump_task
            except (asyncio.CancelledError, Exception):
                pass
            await self.handle.close()


def share_attach(handle: AttachHandle | None, n: int) -> list[AttachHandle | None]:
    """`n` handles over one connection: itself for one, a fan-out for several."""
    if handle is None or n <= 1:
        return [handle] * n
    return list(AttachFanout(handle, n).views)


async def read_logs(runtime: Runtime, cid: str, query: LogQuery) -> AsyncIterator[LogChunk]:
    """The runtime's reader does json-file's ReadLogs (tail, then since/until, then the streams)
    in bulk; a followed read with an `until` in the future also ends then, even while silent."""
    it = runtime.logs(cid, query).__aiter__()
    try:
        while True:
            if query.follow and query.until:
                left = query.until / 1e9 - time.time()
                if left <= 0:
                    return
                try:
                    chunk = await asyncio.wait_for(it.__anext__(), left)
                except TimeoutError:
                    return
            else:
                chunk = await it.__anext__()
            yield chunk
    except StopAsyncIteration:
        return
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


def _running(c: Container) -> bool:
    """Read afresh each time (the exit handler changes it while a stream waits)."""
    return c.state.running


async def stats_samples(
    runtime: Runtime, c: Container, stream: bool, one_shot: bool, network: NetworkingPort | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Stats bodies as dockerd sends them: a stopped container gets one empty StatsJSON; stream=0
    takes two samples a second apart so precpu_stats is filled; stream=1 one per second."""
    if not c.state.running:
        yield empty_stats(c)
        return
    prev: dict[str, Any] | None = None
    prev_read = "0001-01-01T00:00:00Z"
    if not stream and not one_shot:
        prev = await _sample(runtime, c, network)
        prev_read = prev["read"]
        await asyncio.sleep(1.0)
    while True:
        if not _running(c):
            return
        try:
            cur = await _sample(runtime, c, network)
        except ShimError:
            return
        cur["preread"] = prev_read
        cur["precpu_stats"] = prev["cpu_stats"] if prev else zero_cpu()
        yield cur
        if not stream:
            return
        prev, prev_read = cur, cur["read"]
        await asyncio.sleep(1.0)


async def _sample(runtime: Runtime, c: Container, network: NetworkingPort | None = None) -> dict[str, Any]:
    raw = dict(await runtime.stats(c.id))
    if network is not None:
        nets = await network.stats(c.id)
        if nets:  # dockerd leaves `networks` out for a container without interfaces (--network none)
            raw["networks"] = nets
    raw.setdefault("read", now_rfc3339_nano())
    raw["name"] = "/" + c.name
    raw["id"] = c.id
    return raw


def bind_mounts(binds: list[str]) -> list[MountSpec]:
    """Host-path binds (`/src:/dst[:ro]`); named volumes are the volume service's."""
    out = []
    for b in binds:
        parts = b.split(":")
        if len(parts) < 2 or not parts[0].startswith("/"):
            continue
        src, dst = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        opts = ["rbind", "ro" if "ro" in mode.split(",") else "rw"]
        out.append(MountSpec(destination=dst, source=src, type="bind", options=opts))
    return out


def mount_points(binds: list[str]) -> list[dict[str, Any]]:
    out = []
    for b in binds:
        parts = b.split(":")
        if len(parts) < 2 or not parts[0].startswith("/"):
            continue
        mode = parts[2] if len(parts) > 2 else ""
        out.append(
            {
                "Type": "bind",
                "Source": parts[0],
                "Destination": parts[1],
                "Mode": mode,
                "RW": "ro" not in mode.split(","),
                "Propagation": "rprivate",
            }
        )
    return out


def zero_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def empty_stats(c: Container) -> dict[str, Any]:
    zero = "0001-01-01T00:00:00Z"
    blk = dict.fromkeys(
        (
            "io_service_bytes_recursive",
            "io_serviced_recursive",
            "io_queue_recursive",
            "io_service_time_recursive",
            "io_wait_time_recursive",
            "io_merged_recursive",
            "io_time_recursive",
            "sectors_recursive",
        )
    )
    return {
        "read": zero,
        "preread": zero,
        "pids_stats": {},
        "blkio_stats": blk,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu(),
        "precpu_stats": zero_cpu(),
        "memory_stats": {},
        "name": "/" + c.name,
        "id": c.id,
    }
