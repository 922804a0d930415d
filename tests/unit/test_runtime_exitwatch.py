"""Unit: ExitWatcher wakes a waiter when the exit file appears (inotify on a temp dir)."""

from __future__ import annotations

import asyncio
import os

from shim.runtime.exitwatch import ExitWatcher


def read(path):
    try:
        with open(path) as f:
            return f.read() or None
    except FileNotFoundError:
        return None


async def test_wakes_on_rename(tmp_path):
    w = ExitWatcher(str(tmp_path))
    target = tmp_path / "cid"

    async def writer():
        await asyncio.sleep(0.05)
        (tmp_path / ".tmp").write_text("3")
        os.rename(tmp_path / ".tmp", target)  # conmon's g_file_set_contents does temp + rename

    task = asyncio.create_task(writer())
    result = None
    for _ in range(3):  # well under the 60 s timeout: only an event can wake it this fast
        result = await asyncio.wait_for(w.wait("cid", lambda: read(target), timeout=60), 5)
        if result:
            break
    await task
    assert result == "3"
    w.close()


async def test_returns_at_once_when_already_there(tmp_path):
    (tmp_path / "cid").write_text("0")
    w = ExitWatcher(str(tmp_path))
    assert await w.wait("cid", lambda: read(tmp_path / "cid"), timeout=60) == "0"
    w.close()


async def test_follow_wakes_when_the_monitor_dies_without_a_file(tmp_path):
    # no timer runs while the monitor lives: its pidfd is what wakes the waiter
    monitor = await asyncio.create_subprocess_exec("sleep", "60")
    w = ExitWatcher(str(tmp_path))
    gone_calls = []

    def alive():
        return monitor.pid if monitor.returncode is None else 0

    async def gone():
        gone_calls.append(1)
        return None if alive() else "lost"

    task = asyncio.create_task(w.follow("cid", lambda _: read(tmp_path / "cid"), lambda _: alive(), lambda _: gone()))
    await asyncio.sleep(0.2)
    assert not task.done() and gone_calls == []
    monitor.kill()
    await monitor.wait()
    assert await asyncio.wait_for(task, 5) == "lost"
    w.close()


async def test_follow_returns_the_file_the_monitor_writes(tmp_path):
    monitor = await asyncio.create_subprocess_exec("sh", "-c", f"sleep 0.1; echo 7 > {tmp_path}/cid")

    def alive():
        return monitor.pid if monitor.returncode is None else 0

    async def gone():
        return None

    w = ExitWatcher(str(tmp_path))
    follow = w.follow("cid", lambda _: read(tmp_path / "cid"), lambda _: alive(), lambda _: gone())
    result = await asyncio.wait_for(follow, 5)
    assert result.strip() == "7"
    await monitor.wait()
    w.close()
