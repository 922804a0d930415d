"""Issue 17's idle-memory cuts stay cut: what shimd's entry point and composition import."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import threading
import time

from shim.app import DEFAULT_THREADS, _default_executor, _QuietSpell

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


SECCOMP_PROBE = """
import json, sys
from shim.runtime import seccomp
before = set(sys.modules)
rendered = seccomp._builtin_oci(("CAP_CHOWN", "CAP_KILL"), seccomp.x32_abi())
print(json.dumps({"rules": len(rendered["syscalls"]), "new": sorted(set(sys.modules) - before)}))
"""


def test_the_seccomp_profile_is_rendered_without_importlib_resources_or_zipfile() -> None:
    r = subprocess.run([sys.executable, "-c", SECCOMP_PROBE], capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(r.stdout)
    assert out["rules"] > 0
    assert not {m for m in out["new"] if m == "zipfile" or m.startswith("importlib.")}


SCHEMA_PROBE = """
import json, sys
from shim.api import validate
before = set(sys.modules)
validate.validate({"Image": "busybox", "Cmd": ["true"]}, "container_create")
print(json.dumps({"new": sorted(set(sys.modules) - before)}))
"""


def test_a_request_body_is_checked_without_importlib_resources_or_zipfile() -> None:
    r = subprocess.run([sys.executable, "-c", SCHEMA_PROBE], capture_output=True, text=True, timeout=120, check=True)
    new = json.loads(r.stdout)["new"]
    assert not {m for m in new if m == "zipfile" or m.startswith("importlib.")}
    assert "jsonschema" not in new  # a valid body is answered by the fast check (api/schemafast.py)


def test_a_quiet_spell_trims_once_and_lets_the_executors_threads_go() -> None:
    calls: list[int] = []
    seen: dict[str, object] = {}

    async def burst() -> None:
        loop = asyncio.get_running_loop()
        first = _default_executor()
        loop.set_default_executor(first)
        spell = _QuietSpell(first)
        spell.QUIET = 0.05
        spell._trim = calls.append
        # a burst: parallel blocking calls make the executor's threads, and responses keep coming
        await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.05) for _ in range(6)))
        workers = [t for t in threading.enumerate() if t.name.startswith("asyncio_")]
        for _ in range(5):
            await spell.on_response(None, None)  # type: ignore[arg-type]
            await asyncio.sleep(0.01)
        while spell._armed:
            await asyncio.sleep(0.01)
        seen["workers"] = workers
        seen["first"] = first
        seen["now"] = loop._default_executor  # type: ignore[attr-defined]
        # the fresh executor works, and makes its threads on demand
        assert await asyncio.to_thread(lambda: 7) == 7

    asyncio.run(burst())
    workers = seen["workers"]
    assert isinstance(workers, list) and len(workers) >= 2
    for t in workers:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in workers)  # ThreadPoolExecutor alone keeps them for good
    assert calls == [0]  # malloc_trim once, after the burst
    now = seen["now"]
    assert isinstance(now, concurrent.futures.ThreadPoolExecutor) and now is not seen["first"]
    assert now._max_workers == DEFAULT_THREADS


PROBE_OO = """
import sys
from shim.__main__ import _without_docstrings
_without_docstrings()
print(sys.flags.optimize, _without_docstrings.__doc__ is None)
"""


def test_the_command_line_runs_again_without_docstrings() -> None:
    # shimd's console script, `python -m shim` and `python -c` all come back through sys.orig_argv with -OO
    r = subprocess.run([sys.executable, "-c", PROBE_OO], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.split() == ["2", "True"]
    # an interpreter given -O by its user is left as it is
    r = subprocess.run([sys.executable, "-O", "-c", PROBE_OO], capture_output=True, text=True, timeout=120, check=True)
    assert r.stdout.split() == ["1", "False"]


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
