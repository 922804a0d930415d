"""Issue 17's idle-memory cuts stay cut: what shimd's entry point and composition import."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from shim.app import _HeapTrim

PROBE = """
import json, sys
from shim import __main__ as m
m._defer_client_parts()
m._pure_python_frozenlist()
import shim.app
import frozenlist
maps = open("/proc/self/maps").read()
print(json.dumps({
    "modules": sorted(sys.modules),
    "pure_frozenlist": frozenlist.FrozenList is frozenlist.PyFrozenList,
    "libstdcxx": "libstdc++" in maps,
}))
"""


def test_the_daemon_imports_no_pyroute2_unittest_or_cxx_frozenlist() -> None:
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(r.stdout)
    modules = set(out["modules"])
    assert not {m for m in modules if m.split(".")[0] in ("pyroute2", "unittest", "jsonschema")}
    assert "aiohttp.client" not in modules  # aiohttp's client waits for the registry client's first session
    assert out["pure_frozenlist"] and not out["libstdcxx"]


def test_heap_trim_runs_once_after_a_burst_goes_quiet() -> None:
    calls: list[int] = []

    async def burst() -> None:
        trim = _HeapTrim()
        trim.QUIET = 0.05
        trim._trim = calls.append
        for _ in range(5):
            await trim.on_response(None, None)  # type: ignore[arg-type]
            await asyncio.sleep(0.01)
        while trim._armed:
            await asyncio.sleep(0.01)

    asyncio.run(burst())
    assert calls == [0]


FREEZE_PROBE = """
import gc, json, weakref
from shim.app import _freeze_heap
class Node:
    pass
a, b = Node(), Node()
a.peer, b.peer = b, a
dead = weakref.ref(a)
del a, b
_freeze_heap()
print(json.dumps({"frozen": gc.get_freeze_count(), "cycle_collected": dead() is None}))
"""


def test_the_start_heap_is_frozen_after_its_garbage_is_collected() -> None:
    # a full collection then walks only what came after the start (issue 17: ~36 ms each with the
    # whole daemon in it); garbage of the start is collected, not frozen for the daemon's life
    r = subprocess.run([sys.executable, "-c", FREEZE_PROBE], capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(r.stdout)
    assert out["cycle_collected"] and out["frozen"] > 10_000
