"""Daemon start after a crash (engine/containers/recovery.py): the store reconciled with what the
runtime, networking and volumes hold, and cut operations finished or undone through their intents.

A "restart" is a second ContainerService on the same Store and the same FakeRuntime (whose
processes, like conmon's, outlive the service)."""

from __future__ import annotations

import asyncio
import json
import types

from shim.engine.containers import ContainerService
from shim.engine.events import Events
from shim.engine.intents import Journal
from shim.engine.model import CreateSpec
from shim.engine.ports import ExitInfo, MountSpec, RunRequest
from shim.engine.store import Store
from tests.fakes import FakeImages, FakeRuntime


class Volumes:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def plans_mounts(self, c):
        return True

    async def register(self, c, lookup):
        self.calls.append(("register", c.id))

    async def start_mounts(self, c) -> list[MountSpec]:
        return []

    async def release(self, cid):
        self.calls.append(("release", cid))

    async def forget(self, cid, remove_anonymous=False):
        self.calls.append(("forget", cid, remove_anonymous))

    def inspect_mounts(self, cid):
        return []

    def drop_stale(self, known):
        self.calls.append(("drop_stale", sorted(known)))

    def claim_running(self, running):
        self.calls.append(("claim_running", sorted(running)))


class Network:
    def __init__(self, owners: dict[str, bool] | None = None) -> None:
        self.calls: list[tuple] = []
        self._owners = owners or {}

    def validate(self, c):
        pass

    async def connect(self, c):
        self.calls.append(("connect", c.id))
        return types.SimpleNamespace(netns_path="/run/netns/x", mounts=[], env=[], wired=None)

    async def release(self, cid):
        self.calls.append(("release", cid))

    async def forget(self, cid):
        self.calls.append(("forget", cid))

    def inspect(self, c):
        return {}

    def paths(self, c):
        return {}

    async def rename(self, cid, name):
        pass

    async def stats(self, cid):
        return {}

    def owners(self):
        return dict(self._owners)


def service(store, rt, volumes=None, network=None) -> tuple[ContainerService, Events]:
    events = Events()
    svc = ContainerService(
        store=store, events=events, images=FakeImages(), runtime=rt, volumes=volumes or Volumes(), network=network
    )
    return svc, events


async def restart(store, rt, **kw) -> tuple[ContainerService, Events]:
    svc, events = service(store, rt, **kw)
    await svc.restore()
    await svc.after_restore()
    return svc, events


def spec(name: str) -> CreateSpec:
    return CreateSpec(
        name=name, config={"Image": "busybox", "Cmd": ["sleep", "1000"]}, host_config={}, networking_config={}
    )


def actions(events: Events) -> list[str]:
    return [e["Action"] for e in events.history(None, None)]


async def run_in_runtime(rt: FakeRuntime, cid: str) -> int:
    """The runtime's start happened; the service never learnt it (cut before its save)."""
    req = RunRequest(
        id=cid,
        name="x",
        layer_dirs=[],
        args=["sleep"],
        env=[],
        cwd="/",
        user="",
        hostname="x",
        domainname="",
        tty=False,
        open_stdin=False,
        stdin_once=False,
        config={},
        host_config={},
    )
    return await rt.start(req)


async def test_a_process_the_record_does_not_know_of_is_adopted(tmp_path):
    store, rt = Store(tmp_path), FakeRuntime()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("cut"))
    await Journal(store).begin("start", c.id)
    pid = await run_in_runtime(rt, c.id)
    svc, events = await restart(store, rt)
    got = svc.get("cut")
    assert got.state.running and got.state.status == "running" and got.state.pid == pid
    assert store.get("containers", c.id)["state"]["running"] is True
    assert "start" in actions(events)
    assert store.load_all("intents") == {}
    rt.exit(c.id, 3)  # watched again: its exit is applied
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not got.state.running:
            break
    assert got.state.status == "exited" and got.state.exit_code == 3


async def test_a_start_cut_before_its_process_ran_is_torn_down(tmp_path):
    store, rt, net = Store(tmp_path), FakeRuntime(), Network()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("half"))
    await Journal(store).begin("start", c.id)
    rt.created_only.add(c.id)  # `runc create` done, `runc start` not
    vols = Volumes()
    net = Network(owners={c.id: True})
    svc, _ = await restart(store, rt, volumes=vols, network=net)
    got = svc.get("half")
    assert got.state.status == "created" and not got.state.running and not got.has_been_started
    assert c.id in rt.cleaned and ("release", c.id) in net.calls and ("release", c.id) in vols.calls
    assert store.load_all("intents") == {}


async def test_a_cut_start_whose_process_exited_meanwhile_gets_its_exit(tmp_path):
    store, rt = Store(tmp_path), FakeRuntime()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("ran"))
    await Journal(store).begin("start", c.id)
    await run_in_runtime(rt, c.id)
    rt.exit(c.id, 7)
    rt.held.add(c.id)  # nobody cleaned up after it
    svc, events = await restart(store, rt)
    got = svc.get("ran")
    assert got.state.status == "exited" and got.state.exit_code == 7 and got.has_been_started
    assert "die" in actions(events) and c.id in rt.cleaned


async def test_an_exit_already_applied_is_not_applied_again(tmp_path):
    """A `docker cp` cut while it had a stopped container's rootfs mounted: cleaned, nothing more."""
    store, rt = Store(tmp_path), FakeRuntime()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("done"))
    await old.start(c.id)
    rt.exit(c.id, 1)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not c.state.running:
            break
    rt.held.add(c.id)
    svc, events = await restart(store, rt)
    assert c.id in rt.cleaned[-1:] and "die" not in actions(events)
    assert svc.get("done").state.exit_code == 1


async def test_containers_no_record_claims_are_removed_unreadable_ones_left_alone(tmp_path):
    store, rt, net = Store(tmp_path), FakeRuntime(), None
    stranger, torn = "a" * 64, "b" * 64
    await run_in_runtime(rt, stranger)
    await run_in_runtime(rt, torn)
    (tmp_path / "db" / "containers").mkdir(parents=True, exist_ok=True)
    (tmp_path / "db" / "containers" / f"{torn}.json").write_text('{"id": "' + torn + '", "na')
    net = Network(owners={stranger: True})
    svc, _ = await restart(store, rt, network=net)
    assert rt.discarded == [stranger] and rt.running(torn)
    assert ("forget", stranger) in net.calls
    assert svc.all() == []


async def test_a_create_cut_before_its_record_is_undone(tmp_path):
    store, rt, vols = Store(tmp_path), FakeRuntime(), Volumes()
    cid = "c" * 64
    await Journal(store).begin("create", cid)
    svc, _ = await restart(store, rt, volumes=vols)
    assert ("forget", cid, True) in vols.calls and svc.all() == []
    assert store.load_all("intents") == {}


async def test_a_create_without_mounts_writes_its_record_only(tmp_path):
    """Issue 17: nothing for a crash to leave behind but the record itself, so no intent (and no
    mounts record): one store write. One with mounts: intent, mounts (the volume service's), record."""
    store, rt = Store(tmp_path), FakeRuntime()
    writes: list[tuple[str, str]] = []
    store.on_write(lambda kind, oid: writes.append((kind, oid)))
    bare = Volumes()
    bare.plans_mounts = lambda c: False  # type: ignore[method-assign]
    svc, _ = service(store, rt, volumes=bare)
    c, _ = await svc.create(spec("bare"))
    assert sorted(set(writes)) == [("containers", c.id)] and ("register", c.id) not in bare.calls
    writes.clear()
    svc, _ = service(store, rt)
    c, _ = await svc.create(spec("mounted"))
    assert [k for k, _ in dict.fromkeys(writes)] == ["intents", "containers"]  # begin, record (end: a delete)
    assert store.load_all("intents") == {}


async def test_a_removal_cut_halfway_is_finished_with_its_volumes_flag(tmp_path):
    store, rt, vols = Store(tmp_path), FakeRuntime(), Volumes()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("going"))
    await Journal(store).begin("remove", c.id, volumes=True)
    svc, events = await restart(store, rt, volumes=vols)
    assert svc.all() == [] and store.get("containers", c.id) is None
    assert ("forget", c.id, True) in vols.calls and "destroy" in actions(events)
    assert store.load_all("intents") == {}


async def test_a_running_record_whose_process_is_gone_exits_with_255(tmp_path):
    store, rt = Store(tmp_path), FakeRuntime()
    old, _ = service(store, rt)
    c, _ = await old.create(spec("lost"))
    await old.start(c.id)
    rt.procs.pop(c.id)  # gone without an exit file (host reboot, conmon killed)
    svc, _ = await restart(store, rt)
    assert svc.get("lost").state.status == "exited" and svc.get("lost").state.exit_code == 255


async def test_a_full_disk_when_saving_a_start_stops_the_process_again(tmp_path):
    from shim.errors import SystemFailure

    store, rt = Store(tmp_path), FakeRuntime()
    svc, events = service(store, rt)
    c, _ = await svc.create(spec("full"))
    real_write = store._write  # every put and aput ends there, with the object's encoded file

    def write(kind, oid, data):
        if kind == "containers" and json.loads(data)["state"]["running"]:
            raise SystemFailure("failed to save containers x: no space left on device")
        real_write(kind, oid, data)

    store._write = write  # type: ignore[method-assign]
    try:
        await svc.start(c.id)
    except SystemFailure as e:
        assert "no space left on device" in str(e)
    else:
        raise AssertionError("the start should have failed")
    assert not c.state.running and c.id in rt.cleaned
    assert store.get("containers", c.id)["state"]["running"] is False
    assert store.load_all("intents") == {}
    assert "start" not in actions(events)


async def test_intents_survive_as_files_and_torn_ones_are_dropped(tmp_path):
    store = Store(tmp_path)
    j = Journal(store)
    await j.begin("start", "x" * 64, extra=1)
    (tmp_path / "db" / "intents" / "start.torn.json").write_text("{")
    (tmp_path / "db" / "intents" / "start.odd.json").write_text("[]")
    got = await j.pending()
    assert [(i.op, i.oid, i.facts) for i in got] == [("start", "x" * 64, {"extra": 1})]
    assert sorted(store.load_all("intents")) == ["start." + "x" * 64]


def test_exit_info_rounding_is_tolerated():
    from shim.engine.containers.recovery import _exit_applied

    c = types.SimpleNamespace(state=types.SimpleNamespace(finished_at=int(1700000000.123456 * 1e9)))
    assert _exit_applied(c, ExitInfo(exit_code=0, finished_at=1700000000.123456))  # type: ignore[arg-type]
    assert not _exit_applied(c, ExitInfo(exit_code=0, finished_at=1700000001.0))  # type: ignore[arg-type]


async def test_a_removal_intent_on_a_running_record_does_not_wait_for_a_watcher(tmp_path):
    store, rt = Store(tmp_path), FakeRuntime()
    rt.exit_on_signal = False  # nothing would report the exit of a kill
    old, _ = service(store, rt)
    c, _ = await old.create(spec("busy"))
    await old.start(c.id)
    await Journal(store).begin("remove", c.id, volumes=False)
    svc, _ = await asyncio.wait_for(restart(store, rt), 10)
    assert svc.all() == [] and c.id in rt.cleaned and c.id in rt.removed


def autoremove(name: str) -> CreateSpec:
    return CreateSpec(
        name=name,
        config={"Image": "busybox", "Cmd": ["true"]},
        host_config={"AutoRemove": True},
        networking_config={},
    )


async def test_a_crash_while_an_autoremove_container_releases_its_runtime(tmp_path):
    """Killed after the removal at exit answered, before its background half released the
    runtime: the intent and no record; the next start's survey removes what the runtime holds."""
    store, rt, vols = Store(tmp_path), FakeRuntime(), Volumes()
    old, _ = service(store, rt, volumes=vols)
    c, _ = await old.create(autoremove("quick"))
    removed = old.wait(c.id, "removed")
    released = asyncio.Event()
    rt.remove = lambda cid: released.wait()  # type: ignore[method-assign]  # never released: "killed"
    await old.start(c.id)
    rt.exit(c.id, 0)
    assert (await asyncio.wait_for(removed, 5)) == (0, "")
    assert ("forget", c.id, True) in vols.calls and store.get("containers", c.id) is None
    assert list(store.load_all("intents")) == [f"remove.{c.id}"]
    svc, _ = await restart(store, rt)
    assert svc.all() == [] and rt.discarded == [c.id]
    assert store.load_all("intents") == {}


async def test_a_crash_between_an_autoremove_exit_and_its_removal(tmp_path):
    """Killed after the process ended, before its exit was applied (the record says running): the
    next start applies the exit, and the AutoRemove removal with it (dockerd removes the
    AutoRemove containers it finds exited at its start)."""
    store, rt, vols = Store(tmp_path), FakeRuntime(), Volumes()
    old, _ = service(store, rt)
    c, _ = await old.create(autoremove("cut"))
    await old.start(c.id)
    rt.end_unreported(c.id, 2)  # conmon's exit file is there; the old daemon never applied it
    assert store.get("containers", c.id)["state"]["running"] is True
    svc, events = await restart(store, rt, volumes=vols)
    assert svc.all() == [] and store.get("containers", c.id) is None
    assert ("forget", c.id, True) in vols.calls
    assert [a for a in actions(events) if a in ("die", "destroy")] == ["die", "destroy"]
    await svc.close()
    assert c.id in rt.removed and store.load_all("intents") == {}
