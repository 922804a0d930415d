"""Engine layer (containers): ending a container's process, dockerd's daemon/stop.go and kill.go.

Stop: the stop signal, up to the timeout for the exit, then SIGKILL (containerStop). Kill: one
signal, under the container's lock, a paused process thawed so it can die (killWithSignal). A
removal's kill (`rm -f`): SIGKILL and up to 30 s for the exit. Each settles the restart policy
first, so no policy restarts what the user ended (Lifecycle.reset_restarts).
"""

from __future__ import annotations

import signal as _signal

from shim.engine.containers.core import Core
from shim.engine.containers.lifecycle import Lifecycle
from shim.engine.containers.waiters import Waiters
from shim.engine.model import Container
from shim.engine.signals import parse_signal
from shim.engine.state import Status
from shim.errors import ShimError, SystemFailure

DEFAULT_STOP_TIMEOUT = 10


class Stopping:
    def __init__(self, core: Core, life: Lifecycle, waiters: Waiters) -> None:
        self._core = core
        self._life = life
        self._waiters = waiters

    @staticmethod
    def stop_signal(c: Container) -> int:
        return parse_signal(c.config.get("StopSignal") or "SIGTERM", _signal.SIGTERM)

    async def stop(self, c: Container, timeout: int | None, sig: str | None = None) -> None:
        if c.state.restarting and await self._life.cancel_restart(c):
            return
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            timeout = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
        signum = parse_signal(sig, self.stop_signal(c))
        await self._life.reset_restarts(c)
        try:
            await self.signal(c, signum)
        except ShimError:
            pass
        if signum != _signal.SIGKILL and await self._waiters.stopped(c, None if timeout < 0 else timeout):
            return
        try:
            await self.signal(c, _signal.SIGKILL)
        except ShimError:
            pass
        await self._waiters.stopped(c, None)

    async def kill(self, c: Container, signum: int) -> None:
        """The kill verb's signal, its state checked by the caller."""
        if signum in (_signal.SIGKILL, self.stop_signal(c)):
            await self._life.reset_restarts(c)  # ExitOnNext: no restart after a kill
        await self.signal(c, signum)
        if signum == _signal.SIGKILL:  # dockerd's Kill: then up to 2 s for the exit to be applied
            await self._waiters.stopped(c, 2)

    async def signal(self, c: Container, signum: int) -> None:
        # Under the container's lock: a pause in flight could otherwise freeze the process after
        # the signal went out but before `paused` was set, and a SIGKILL would never land (a
        # `rm -f` racing a `pause` then waited in vain and answered 500).
        async with self._core.table.live(c.id).lock:
            await self._core.runtime.kill(c.id, signum)
            self._core.event(c, "kill", signal=str(signum))
            if c.state.paused and signum in (_signal.SIGKILL, self.stop_signal(c)):
                # A frozen process never sees the signal: thaw it so it can die (dockerd unpauses too).
                await self._core.runtime.resume(c.id)  # no unpause event: dockerd resumes silently here
                c.state.paused = False
                c.state.status = Status.RUNNING.value

    async def kill_for_removal(self, c: Container) -> None:
        if c.state.restarting:  # before any cancel: a restart's start in flight finishes first
            await self.stop(c, 0)
            return
        await self._life.reset_restarts(c, save=False)
        try:
            await self.signal(c, _signal.SIGKILL)
        except ShimError:
            pass
        if not await self._waiters.stopped(c, 30):
            raise SystemFailure(f"Could not kill running container {c.id}, cannot remove")
