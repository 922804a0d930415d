"""Engine layer (containers): attach sessions and log readers, and the accounting the removal needs.

Every attach session and log reader counts as a reader of its container: the removal lets them
read the last output before the container's files go (dockerd: attach EOF precedes the wait
body, and a follower keeps its log file open; docker-py's run(remove=True) reads the followed
logs only after its DELETE). Attaches made before start (docker run) wait for the start, which
connects them before anything can clean the process up.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from shim.engine import logconfig
from shim.engine.container_io import AttachSession, read_logs, share_attach
from shim.engine.containers.core import Core
from shim.engine.containers.record import Live
from shim.engine.model import Container
from shim.engine.ports import AttachHandle, LogChunk, LogQuery
from shim.errors import NotImplementedYet, ShimError

log = logging.getLogger("shim.containers")


class Streams:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def attach(self, c: Container, *, stream: bool) -> AttachSession:
        """Connect to the container's stdio; attached before start, it connects at start."""
        core = self._core
        core.event(c, "attach")
        live = core.table.live(c.id)
        done = self._reader(live)
        handle = None
        try:
            if stream:
                if not c.state.running or c.state.restarting:
                    fut: asyncio.Future[AttachHandle | None] = asyncio.get_running_loop().create_future()
                    live.start_waiters.append(fut)
                    handle = await fut  # connected by connect_waiting (None: removed, or no stdio)
                else:
                    handle = await core.runtime.attach(c.id)
        except BaseException:
            done()
            raise
        return AttachSession(c, handle, bool(c.config.get("Tty")), bool(c.config.get("StdinOnce")), done)

    def logs(self, c: Container, query: LogQuery) -> AsyncIterator[LogChunk]:
        """dockerd's ContainerLogs: `none` (and any driver that can't be read) refused; `--details`
        gets the attributes the log options name; a stopped container is not followed."""
        lc = c.host_config.get("LogConfig") or {}
        if not logconfig.readable(lc):
            raise NotImplementedYet("configured logging driver does not support reading")
        if query.details is not None:
            query.details = logconfig.details_prefix(self._attributes(c, lc))
        query.follow = query.follow and c.state.running
        return self._counted(self._core.table.live(c.id), read_logs(self._core.runtime, c.id, query))

    @staticmethod
    def _attributes(c: Container, lc: dict[str, Any]) -> dict[str, str]:
        cfg = c.config
        info = {
            "ID": c.id[:12],
            "FullID": c.id,
            "ContainerID": c.id,
            "Name": c.name.lstrip("/"),
            "ContainerName": "/" + c.name.lstrip("/"),
            "ImageID": c.image_id.removeprefix("sha256:")[:12],
            "ImageFullID": c.image_id,
            "ContainerImageID": c.image_id,
            "ImageName": cfg.get("Image") or "",
            "ContainerImageName": cfg.get("Image") or "",
            "Command": " ".join([c.path, *c.args]),
            "ContainerEntrypoint": c.path,
            "Hostname": os.uname().nodename,
            "DaemonName": "docker",
        }
        try:
            return logconfig.attributes(lc, cfg.get("Labels") or {}, cfg.get("Env") or [], info)
        except ValueError:
            return {}

    async def _counted(self, live: Live, items: AsyncIterator[LogChunk]) -> AsyncIterator[LogChunk]:
        live.readers += 1
        try:
            async for e in items:
                yield e
        finally:
            _read(live)

    @staticmethod
    def _reader(live: Live) -> Callable[[], None]:
        """Count one reader; the function returned ends it (once, however often it is called)."""
        live.readers += 1
        called = False

        def done() -> None:
            nonlocal called
            if not called:
                called = True
                _read(live)

        return done

    @staticmethod
    async def drain(live: Live, timeout: float = 2.0) -> None:
        """Let attach sessions and log followers read the container's last output before its files
        go; woken by the last one's end (at an exit, `docker run`'s attach often ends just after)."""
        if not live.readers:
            return
        live.read_all = asyncio.Event()
        try:
            await asyncio.wait_for(live.read_all.wait(), timeout)
        except TimeoutError:
            pass

    async def connect_waiting(self, c: Container) -> None:
        """At start, before the exit watcher exists: a process that prints and exits at once must
        not be cleaned up before the attaches made before start claim its output. Several of them
        (compose v1 `run`: stdin, stdout, stderr apart) share that one connection."""
        live = self._core.table.live(c.id)
        waiters = [fut for fut in live.start_waiters if not fut.done()]
        live.start_waiters = []
        handle = None
        if waiters:
            try:
                handle = await self._core.runtime.attach(c.id)
            except ShimError as e:
                log.warning("attach to %s at start: %s", c.id, e)
        for fut, shared in zip(waiters, share_attach(handle, len(waiters)), strict=False):
            if fut.done():
                if shared is not None:
                    await shared.close()
            else:
                fut.set_result(shared)


def _read(live: Live) -> None:
    """One reader of `live` has ended; a drain waiting for the last one is woken."""
    live.readers = max(0, live.readers - 1)
    if not live.readers and live.read_all is not None:
        live.read_all.set()
