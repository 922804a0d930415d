"""Engine layer, networks: one asyncio lock per key (a container ID), kept only while in use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable


class KeyedLocks:
    """`async with locks.hold(key)`: one holder per key at a time, in arrival order; a key's lock
    is dropped once nobody holds or waits for it (no table that grows with every container).
    `acquire(key)` holds it until the returned release is called (from any task: a start's
    wiring finishes in a task of its own, still holding the container's lock)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        release = await self.acquire(key)
        try:
            yield
        finally:
            release()

    async def acquire(self, key: str) -> Callable[[], None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave(key)
            raise
        done = False

        def release() -> None:
            nonlocal done
            if not done:
                done = True
                lock.release()
                self._leave(key)

        return release

    def _leave(self, key: str) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)
