"""engine/execs.py with a fake exec runtime: state checks, start once, release when the container stops."""

from __future__ import annotations

import asyncio
import types

import pytest

from shim.engine.events import Events
from shim.engine.execs import ExecService
from shim.errors import Conflict, InvalidParameter, NotFound


class FakeProc:
    def __init__(self) -> None:
        self.exit = asyncio.get_running_loop().create_future()
        self.runc_error = ""
        self.killed = False

    async def read_pid(self):
        return 42

    async def wait(self):
        return await asyncio.shield(self.exit)

    async def kill(self):
        self.killed = True
        if not self.exit.done():
            self.exit.set_result(137)


class FakeExecRuntime:
    def __init__(self) -> None:
        self.started = []

    async def start(self, cid, **kw):
        p = FakeProc()
        self.started.append((cid, kw, p))
        return p


class FakeContainers:
    def __init__(self) -> None:
        st = types.SimpleNamespace(running=True, paused=False, restarting=False)
        self.c = types.SimpleNamespace(
            id="c" * 64,
            name="box",
            state=st,
            exec_ids=[],
            image_id="sha256:x",
            config={"WorkingDir": "/w", "User": "nobody", "Image": "busybox"},
        )

    def get(self, ref):
        if ref not in ("box", self.c.id):
            raise NotFound(f"No such container: {ref}")
        return self.c

    def all(self):
        return [self.c]


@pytest.fixture
def svc():
    return ExecService(containers=FakeContainers(), events=Events(), runtime=FakeExecRuntime())


async def test_create_checks_state(svc):
    c = svc._containers.c
    with pytest.raises(InvalidParameter, match="No exec command specified"):
        await svc.create("box", {"Cmd": []})
    c.state.paused = True
    with pytest.raises(Conflict, match="Container box is paused, unpause the container before exec"):
        await svc.create("box", {"Cmd": ["true"]})
    c.state.paused, c.state.running = False, False
    with pytest.raises(Conflict, match=f"Container {c.id} is not running"):
        await svc.create("box", {"Cmd": ["true"]})


async def test_start_once_defaults_and_exit(svc):
    e = await svc.create("box", {"Cmd": ["sh", "-c", "exit 3"], "Env": ["A=1"]})
    assert svc._containers.c.exec_ids == [e.id]
    await svc.start(e.id)
    _cid, kw, proc = svc._runtime.started[0]
    assert (kw["cwd"], kw["user"], kw["env"], e.pid) == ("/w", "nobody", ["A=1"], 42)
    with pytest.raises(Conflict, match="is already running"):
        await svc.start(e.id)
    proc.exit.set_result(3)
    assert await svc.wait(e) == 3 and not e.running
    with pytest.raises(Conflict, match=f"Error: Exec command {e.id} has already run"):
        await svc.start(e.id)


async def test_released_when_container_dies(svc):
    await svc.restore()
    e = await svc.create("box", {"Cmd": ["sleep", "9"]})
    await svc.start(e.id)
    svc._events.publish("container", "die", svc._containers.c.id, {})
    for _ in range(50):
        await asyncio.sleep(0.01)
        if e.id not in svc._execs:
            break
    with pytest.raises(NotFound, match=f"No such exec instance: {e.id}"):
        svc.get(e.id)
    assert svc._containers.c.exec_ids == [] and svc._runtime.started[0][2].killed
    await svc.close()
