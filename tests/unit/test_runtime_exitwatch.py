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
