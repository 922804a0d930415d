"""Engine layer (containers): waiting for a container's exit or removal (POST /containers/{id}/wait).

dockerd's State.Wait: a waiter is registered the moment it is asked for, so the CLI's
wait-before-start sees the exit of the start that follows; `not-running` of a stopped container
answers at once, `next-exit` waits for the next exit, `removed` for the removal.
"""

from __future__ import annotations

import asyncio

from shim.engine.containers.record import Live, Registry, Waiter, WaitResult
from shim.engine.model import Container


class Waiters:
    def __init__(self, table: Registry) -> None:
        self._table = table

    def wait(self, c: Container, condition: str = "not-running") -> asyncio.Future[WaitResult]:
        """A future of (exit_code, error) for the condition."""
        fut: asyncio.Future[WaitResult] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.state.running:
            fut.set_result((c.state.exit_code, c.state.error))
            return fut
        live = self._table.live(c.id)
        live.waiters = [w for w in live.waiters if not w.future.done()]  # drop abandoned ones
        live.waiters.append(Waiter(condition, fut))
        return fut

    async def stopped(self, c: Container, timeout: float | None) -> bool:
        """Whether the process ended within `timeout` (None: no limit)."""
        if not c.state.running or c.state.restarting:
            return True
        fut = self.wait(c, "not-running")
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False

    def notify_exit(self, c: Container) -> None:
        live = self._table.live(c.id)
        keep = []
        for w in live.waiters:
            if w.future.done():
                continue
            if w.condition in ("not-running", "next-exit"):
                w.future.set_result((c.state.exit_code, c.state.error))
            else:
                keep.append(w)
        live.waiters = keep

    @staticmethod
    def notify_removed(c: Container, rec: Live) -> None:
        """Everyone still waiting: the removal is the end (attaches waiting for a start get nothing).
        `rec` is the record the container had: it has left the index by now."""
        for w in rec.waiters:
            if not w.future.done():
                w.future.set_result((c.state.exit_code, c.state.error))
        rec.waiters = []
        for fut in rec.start_waiters:
            if not fut.done():
                fut.set_result(None)
        rec.start_waiters = []
