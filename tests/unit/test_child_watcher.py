"""shimd's subprocesses are awaited on pidfds by its event loop, not each in a thread of its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import asyncio, json, threading
from shim.__main__ import _pidfd_child_watcher
_pidfd_child_watcher()

async def run():
    p = await asyncio.create_subprocess_exec("sh", "-c", "exit 3")
    names = [t.name for t in threading.enumerate()]
    return await p.wait(), names

rc, names = asyncio.run(run())
print(json.dumps({"rc": rc, "threads": names}))
"""


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 picks pidfds by itself")
def test_a_subprocess_is_awaited_without_a_thread() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(r.stdout)
    assert out["rc"] == 3  # the exit code still arrives
    assert not [n for n in out["threads"] if "waitpid" in n]  # the threaded watcher: asyncio-waitpid-N
