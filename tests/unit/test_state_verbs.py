"""Every container verb answers through engine/state.py's table: for each (status, action) the table
refuses, the verb raises that refusal; and editing a row changes what the verb answers."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from shim.engine import state
from shim.engine.archive import ArchiveService
from shim.engine.containers import ContainerService
from shim.engine.events import Events
from shim.engine.execs import ExecService
from shim.engine.model import CreateSpec
from shim.engine.state import Status
from shim.engine.store import Store
from shim.errors import Conflict, ShimError
from tests.fakes import FakeImages, FakeRuntime

NAME = "box"

VERBS = {
    "start": lambda svc, ref: svc.start(ref),
    "stop": lambda svc, ref: svc.stop(ref, 0),
    "kill": lambda svc, ref: svc.kill(ref),
    "restart": lambda svc, ref: svc.restart(ref, 0),
    "pause": lambda svc, ref: svc.pause(ref),
    "unpause": lambda svc, ref: svc.unpause(ref),
    "remove": lambda svc, ref: svc.remove(ref),
    "force-remove": lambda svc, ref: svc.remove(ref, force=True),
    "rename": lambda svc, ref: svc.rename(ref, "renamed"),
    "update": lambda svc, ref: svc.update(ref, {"CpuShares": 512}),
    "top": lambda svc, ref: svc.top(ref),
    "resize": lambda svc, ref: svc.resize(ref, 10, 20),
    "attach": lambda svc, ref: svc.check_attachable(ref),
    "exec": lambda svc, ref: svc.add_exec(ref, "e1"),
}


@pytest.fixture
def env(tmp_path):
    rt = FakeRuntime()
    svc = ContainerService(store=Store(tmp_path), events=Events(), images=FakeImages(), runtime=rt)
    return svc, rt


async def _call(fn, *args):
    out = fn(*args)
    if inspect.isawaitable(out):
        out = await out
    return out


async def in_status(svc: ContainerService, rt: FakeRuntime, status: Status):
    """A container named NAME in `status` (the rare ones set by hand, as the service would)."""
    c, _ = await svc.create(CreateSpec(name=NAME, config={"Image": "busybox"}, host_config={}, networking_config={}))
    if status == Status.CREATED:
        return c
    await svc.start(c.id)
    if status == Status.PAUSED:
        await svc.pause(c.id)
    elif status == Status.RESTARTING:
        c.state.status, c.state.restarting = status.value, True
    elif status in (Status.EXITED, Status.REMOVING, Status.DEAD):
        rt.exit(c.id, 3)
        for _ in range(100):
            if not c.state.running:
                break
            await asyncio.sleep(0.01)
        if status == Status.REMOVING:
            c.state.status, c.state.removal_in_progress = status.value, True
        elif status == Status.DEAD:
            c.state.status, c.state.dead = status.value, True
    assert c.state.status == status.value
    return c


REFUSALS = sorted(
    (st.value, action)
    for (st, action), outcome in state.TRANSITIONS.items()
    if action in VERBS and not isinstance(outcome, Status)
)


@pytest.mark.parametrize("status,action", REFUSALS)
async def test_verb_answers_the_tables_refusal(env, status, action):
    svc, rt = env
    c = await in_status(svc, rt, Status(status))
    refusal = state.TRANSITIONS[(Status(status), action)]
    expected = refusal(c.id, NAME)
    with pytest.raises(ShimError) as got:
        await _call(VERBS[action], svc, NAME)
    assert type(got.value) is type(expected)
    assert expected.message in got.value.message  # kill and update wrap it as dockerd does


ALLOWED_FROM = {
    "start": Status.CREATED,
    "remove": Status.EXITED,
    "force-remove": Status.RUNNING,
    "unpause": Status.PAUSED,
}


@pytest.mark.parametrize("action", sorted(VERBS))
async def test_editing_the_table_changes_the_answer(env, monkeypatch, action):
    svc, rt = env
    st = ALLOWED_FROM.get(action, Status.RUNNING)
    assert isinstance(state.TRANSITIONS[(st, action)], Status)  # allowed as shipped
    await in_status(svc, rt, st)
    monkeypatch.setitem(state.TRANSITIONS, (st, action), lambda cid, ref: Conflict(f"no {action} today for {ref}"))
    with pytest.raises(Conflict, match=f"no {action} today for {NAME}"):
        await _call(VERBS[action], svc, NAME)


async def test_exec_and_commit_ask_the_table(env, monkeypatch):
    svc, rt = env
    c = await in_status(svc, rt, Status.RUNNING)
    execs = ExecService(containers=svc, events=Events(), runtime=None)
    archive = ArchiveService(containers=svc, volumes=None, rootfs=None, images=None, events=Events())
    monkeypatch.setitem(state.TRANSITIONS, (Status.RUNNING, "exec"), lambda cid, ref: Conflict(f"no exec in {ref}"))
    monkeypatch.setitem(state.TRANSITIONS, (Status.RUNNING, "commit"), lambda cid, ref: Conflict(f"no commit {cid}"))
    with pytest.raises(Conflict, match=f"no exec in {NAME}"):
        await execs.create(NAME, {"Cmd": ["true"]})
    with pytest.raises(Conflict, match=f"no commit {c.id}"):
        await archive.commit(NAME)


def test_every_status_has_a_row_for_every_verb():
    for action in VERBS:
        for st in Status:
            assert (st, action) in state.TRANSITIONS, (st, action)
