"""ContainerService against FakeRuntime / FakeImages and the real Store: lifecycle, errors, events."""

from __future__ import annotations

import asyncio
import json

import pytest

from shim.engine.containers import ContainerService, parse_signal
from shim.engine.events import Events
from shim.engine.model import CreateSpec
from shim.engine.ports import LogQuery
from shim.engine.store import Store
from shim.errors import Conflict, InvalidParameter, NotFound, NotImplementedYet, NotModified, SystemFailure
from tests.fakes import FakeImages, FakeRuntime, bad_executable


@pytest.fixture
def env(tmp_path):
    store, events, rt, images = Store(tmp_path), Events(), FakeRuntime(), FakeImages()
    svc = ContainerService(store=store, events=events, images=images, runtime=rt)
    return svc, rt, events, store


def spec(name="", **cfg):
    hc = cfg.pop("HostConfig", {})
    cfg.setdefault("Image", "busybox")
    return CreateSpec(name=name, config=cfg, host_config=hc, networking_config={})


def actions(events):
    return [e["Action"] for e in events.history(None, None)]


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_create_defaults_and_names(env):
    svc, _rt, events, store = env
    c, warnings = await svc.create(spec("web", Cmd=["echo", "hi"], HostConfig={"Memory": 64 * 1024 * 1024}))
    assert len(c.id) == 64 and c.name == "web" and warnings == []
    assert (c.path, c.args) == ("echo", ["hi"])
    assert c.config["Hostname"] == c.id[:12]
    assert c.host_config["MemorySwap"] == 128 * 1024 * 1024
    assert c.host_config["ShmSize"] == 64 * 1024 * 1024 and c.host_config["IpcMode"] == "private"
    assert c.state.status == "created"
    assert store.get("containers", c.id)["name"] == "web"
    assert actions(events) == ["create"]
    with pytest.raises(Conflict, match=rf'The container name "/web" is already in use by container "{c.id}"'):
        await svc.create(spec("web"))
    gen, _ = await svc.create(spec())
    assert "_" in gen.name
    assert gen.config["Cmd"] == ["sh"]  # image default


async def test_create_errors(env):
    svc, *_ = env
    with pytest.raises(InvalidParameter, match=r"Invalid container name \(bad/name\), only"):
        await svc.create(spec("bad/name"))
    with pytest.raises(NotFound, match="No such image: nosuch:latest"):
        await svc.create(spec(Image="nosuch:latest"))
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        await svc.create(spec(HostConfig={"Memory": 1024}))
    with pytest.raises(InvalidParameter, match="can't create 'AutoRemove' container with restart policy"):
        await svc.create(spec(HostConfig={"AutoRemove": True, "RestartPolicy": {"Name": "always"}}))


async def test_start_stop_lifecycle(env):
    svc, rt, events, store = env
    c, _ = await svc.create(spec("life", Cmd=["sleep", "100"], Env=["A=1"], Tty=True))
    waiter = svc.wait(c.id, "next-exit")  # registered before start, like the CLI
    await svc.start("life")
    req = rt.started[-1]
    assert req.args == ["sleep", "100"] and "A=1" in req.env and "TERM=xterm" in req.env
    assert any(e.startswith("HOSTNAME=") for e in req.env)
    assert c.state.running and c.state.pid > 0 and c.state.status == "running"
    with pytest.raises(NotModified):
        await svc.start("life")
    await svc.stop("life", timeout=1)
    assert (await waiter) == (143, "")
    assert c.state.status == "exited" and c.state.exit_code == 143 and not c.state.running
    assert store.get("containers", c.id)["state"]["exit_code"] == 143
    assert actions(events) == ["create", "start", "kill", "die", "stop"]
    with pytest.raises(NotModified):
        await svc.stop("life")


async def test_start_failure_rolls_back(env):
    svc, rt, events, store = env
    c, _ = await svc.create(spec("bad", Cmd=["nosuchcmd"]))
    rt.fail_next_start = bad_executable()
    with pytest.raises(InvalidParameter, match='exec: "nosuchcmd": executable file not found'):
        await svc.start(c.id)
    assert c.state.exit_code == 127 and "executable file not found" in c.state.error
    assert not c.state.running and rt.cleaned == [c.id]
    assert store.get("containers", c.id)["state"]["exit_code"] == 127
    assert actions(events)[-1] == "die"
    rt.fail_next_start = SystemFailure("mount failed")
    c2, _ = await svc.create(spec("bad2"))
    with pytest.raises(SystemFailure):
        await svc.start(c2.id)
    assert c2.state.exit_code == 128 and c2.state.error == "mount failed"


async def test_paused_and_removal_refusals(env):
    svc, _rt, *_ = env
    c, _ = await svc.create(spec("pz"))
    with pytest.raises(Conflict, match=f"Container {c.id} is not running"):
        await svc.pause("pz")
    await svc.start("pz")
    await svc.pause("pz")
    with pytest.raises(Conflict, match="cannot start a paused container, try unpause instead"):
        await svc.start("pz")
    with pytest.raises(Conflict, match="You cannot remove a paused container"):
        await svc.remove("pz")
    await svc.unpause("pz")
    with pytest.raises(Conflict, match=f"You cannot remove a running container {c.id}. Stop the container"):
        await svc.remove("pz")
    c.state.running = False
    c.state.status = "dead"
    c.state.dead = True
    with pytest.raises(Conflict, match="container is marked for removal and cannot be started"):
        await svc.start("pz")


async def test_kill_wording_and_signals(env):
    svc, rt, events, _ = env
    with pytest.raises(NotFound, match="Cannot kill container: nosuch: No such container: nosuch"):
        await svc.kill("nosuch")
    c, _ = await svc.create(spec("kk"))
    with pytest.raises(Conflict, match=f"Cannot kill container: kk: Container {c.id} is not running"):
        await svc.kill("kk")
    await svc.start("kk")
    await svc.kill("kk", "HUP")
    assert rt.signals[-1] == (c.id, 1)
    assert events.history(None, None)[-1]["Actor"]["Attributes"]["signal"] == "1"
    with pytest.raises(InvalidParameter, match="Invalid signal: NOPE"):
        await svc.kill("kk", "NOPE")
    assert parse_signal("sigterm") == 15 and parse_signal("9") == 9


async def test_wait_conditions_and_autoremove(env):
    svc, rt, events, store = env
    c, _ = await svc.create(spec("rm", HostConfig={"AutoRemove": True}))
    removed = svc.wait(c.id, "removed")
    await svc.start(c.id)
    rt.exit(c.id, 3)
    assert (await asyncio.wait_for(removed, 5)) == (3, "")
    with pytest.raises(NotFound):
        svc.get(c.id)
    assert store.get("containers", c.id) is None
    assert actions(events)[-2:] == ["die", "destroy"]
    await svc.close()  # awaits the removal's background half: the runtime's release
    assert rt.removed == [c.id]


class GatedRuntime(FakeRuntime):
    """A runtime whose release of a container (runc delete, unmount, files) waits for `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def remove(self, cid):
        await self.gate.wait()
        await super().remove(cid)


async def test_autoremove_is_gone_for_clients_before_the_runtime_is_released(tmp_path):
    store, events, rt = Store(tmp_path), Events(), GatedRuntime()
    svc = ContainerService(store=store, events=events, images=FakeImages(), runtime=rt)
    saved = []
    real_write = store._write  # every put and aput ends there, with the object's encoded file
    store._write = lambda kind, oid, data: (saved.append((kind, json.loads(data))), real_write(kind, oid, data))[1]
    c, _ = await svc.create(spec("ar", Cmd=["true"], HostConfig={"AutoRemove": True}))
    removed, next_exit = svc.wait(c.id, "removed"), svc.wait(c.id, "next-exit")
    await svc.start(c.id)
    rt.exit(c.id, 3)
    assert (await asyncio.wait_for(removed, 5)) == (3, "") and next_exit.result() == (3, "")
    # what a client sees: gone, its name free, die then destroy; the runtime not released yet
    with pytest.raises(NotFound):
        svc.get("ar")
    assert store.get("containers", c.id) is None and svc.all() == []
    assert [a for a in actions(events) if a in ("die", "destroy")] == ["die", "destroy"]
    assert rt.removed == [] and rt.cleaned == []
    assert list(store.load_all("intents")) == [f"remove.{c.id}"]  # cleared by the background half
    # no "exited" record was written for a record deleted right after
    assert [o["state"]["status"] for k, o in saved if k == "containers"] == ["created", "running"]
    again, _ = await svc.create(spec("ar"))
    assert again.name == "ar"
    closing = asyncio.create_task(svc.close())
    await settle()
    assert not closing.done()  # shimd's stop waits for the release
    rt.gate.set()
    await asyncio.wait_for(closing, 5)
    assert rt.removed == [c.id] and store.load_all("intents") == {}


async def test_restart_policy_on_failure(env):
    svc, rt, _events, _ = env
    c, _ = await svc.create(spec("rp", HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}))
    await svc.start(c.id)
    for expected_count in (1, 2):
        rt.exit(c.id, 1)
        for _ in range(100):
            await asyncio.sleep(0.02)
            if c.restart_count == expected_count and c.state.status == "running":
                break
        assert c.restart_count == expected_count and c.state.status == "running"
    rt.exit(c.id, 1)
    await settle()
    await asyncio.sleep(0.3)
    assert c.state.status == "exited" and c.restart_count == 2


async def test_stop_cancels_restart_always(env):
    svc, _rt, *_ = env
    c, _ = await svc.create(spec("al", HostConfig={"RestartPolicy": {"Name": "always"}}))
    await svc.start(c.id)
    await svc.stop(c.id, timeout=1)
    await asyncio.sleep(0.3)
    assert c.state.status == "exited" and c.manually_stopped


async def test_rename_update_prune(env):
    svc, rt, events, _ = env
    c, _ = await svc.create(spec("old"))
    await svc.create(spec("taken"))
    with pytest.raises(Conflict):
        await svc.rename("old", "taken")
    await svc.rename("old", "new")
    assert svc.get("new") is c and events.history(None, None)[-1]["Actor"]["Attributes"]["oldName"] == "/old"
    await svc.start("new")
    await svc.update("new", {"Memory": 32 * 1024 * 1024, "MemorySwap": -1, "RestartPolicy": {"Name": "unless-stopped"}})
    assert c.host_config["Memory"] == 32 * 1024 * 1024 and rt.updated[-1][0] == c.id
    assert c.host_config["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    with pytest.raises(InvalidParameter, match=f"Cannot update container {c.id}: Minimum memory limit"):
        await svc.update("new", {"Memory": 10})
    deleted, _ = await svc.prune(lambda c: False)
    assert [svc.get("new").id] == [c.id] and len(deleted) == 1  # only the stopped "taken"


async def test_legacy_host_config_replaces(env):
    svc, rt, *_ = env
    c, _ = await svc.create(
        spec("leg", HostConfig={"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    )
    await svc.start("leg", host_config={"Binds": ["/tmp:/mnt:ro"], "NetworkMode": "default"})
    hc = c.host_config
    assert hc["Memory"] == 0 and hc["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    assert hc["Binds"] == ["/tmp:/mnt:ro"] and hc["IpcMode"] == "private" and hc["ShmSize"] == 67108864
    assert rt.started[-1].mounts[0].destination == "/mnt"


async def test_windows_refuses_start_host_config(tmp_path):
    svc = ContainerService(
        store=Store(tmp_path), events=Events(), images=FakeImages(), runtime=FakeRuntime(platform="windows")
    )
    c, _ = await svc.create(spec("win"))
    with pytest.raises(InvalidParameter, match="Supplying a hostconfig on start is not supported"):
        await svc.start("win", host_config={"Memory": 0})
    assert c.state.status == "created"
    await svc.start("win")  # without one it starts


async def test_restore_reconciles(tmp_path):
    store, rt, images = Store(tmp_path), FakeRuntime(), FakeImages()
    svc = ContainerService(store=store, events=Events(), images=images, runtime=rt)
    alive, _ = await svc.create(spec("alive"))
    gone, _ = await svc.create(spec("gone"))
    await svc.start("alive")
    await svc.start("gone")
    await svc.close()
    rt.exit(gone.id, 7)  # exits while "shimd" is down
    svc2 = ContainerService(store=store, events=Events(), images=images, runtime=rt)
    await svc2.restore()
    await svc2.after_restore()
    assert svc2.get("alive").state.running
    g = svc2.get("gone")
    assert g.state.status == "exited" and g.state.exit_code == 7
    waiter = svc2.wait("alive", "not-running")
    rt.exit(alive.id, 0)
    assert (await asyncio.wait_for(waiter, 5)) == (0, "")


async def test_logs_tail_across_streams(env):
    svc, rt, *_ = env
    c, _ = await svc.create(spec("lg"))
    await svc.start(c.id)
    rt.log(c.id, "stdout", b"out 1\n")
    rt.log(c.id, "stderr", b"err 2\n")
    rt.log(c.id, "stdout", b"out 3\n")
    rt.log(c.id, "stderr", b"err 4\n")
    it = await svc.logs(c.id, LogQuery(tail=1))
    assert [(e.stream, e.data) async for e in it] == [(2, b"err 4\n")]
    it = await svc.logs(c.id, LogQuery(stderr=False))
    assert b"".join([e.data async for e in it]) == b"out 1\nout 3\n"
    with pytest.raises(InvalidParameter, match="you must choose at least one stream"):
        await svc.logs(c.id, LogQuery(stdout=False, stderr=False))


async def test_logs_of_the_none_driver_are_refused(env):
    svc, *_ = env
    c, _ = await svc.create(spec("ln", HostConfig={"LogConfig": {"Type": "none"}}))
    with pytest.raises(NotImplementedYet, match=r"^configured logging driver does not support reading$"):
        await svc.logs(c.id, LogQuery())


async def test_log_config_merged_with_the_daemon_default_at_create(env):
    svc, *_ = env
    svc.log_defaults = {"Type": "json-file", "Config": {"max-size": "10m"}}
    c, _ = await svc.create(spec("lm", HostConfig={"LogConfig": {"Config": {"max-file": "3"}}}))
    assert c.host_config["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    c, _ = await svc.create(spec("ll", HostConfig={"LogConfig": {"Type": "local"}}))
    assert c.host_config["LogConfig"] == {"Type": "local", "Config": {}}  # another driver: not the defaults


async def test_bad_log_options_create_nothing(env):
    svc, *_ = env
    before = len(svc.all())
    for lc, msg in (
        ({"Type": "bogus"}, 'error looking up logging plugin bogus: plugin "bogus" not found'),
        ({"Type": "json-file", "Config": {"max-size": "banana"}}, "invalid size: 'banana'"),
        ({"Type": "json-file", "Config": {"max-file": "0"}}, "max-file cannot be less than 1"),
        ({"Type": "json-file", "Config": {"syslog-address": "x"}}, "unknown log opt 'syslog-address' for json-file"),
    ):
        with pytest.raises(InvalidParameter, match=msg):
            await svc.create(spec("bad", HostConfig={"LogConfig": lc}))
    assert len(svc.all()) == before


async def test_attach_before_start_and_stdin_once(env):
    svc, rt, *_ = env
    c, _ = await svc.create(spec("at", OpenStdin=True, StdinOnce=True, AttachStdin=True))
    task = asyncio.ensure_future(svc.attach(c.id))
    await settle()
    assert not task.done()
    await svc.start(c.id)
    session = await asyncio.wait_for(task, 5)
    rt.log(c.id, "stdout", b"hi\n")
    await session.write(b"in\n")
    await session.stdin_closed()
    assert rt.procs[c.id].stdin == b"in\n" and rt.procs[c.id].stdin_closed
    rt.exit(c.id, 0)
    assert [x async for x in session.output()] == [(1, b"hi\n")]
    await session.close()


async def test_attach_right_after_a_quick_exit_waits_for_the_next_start(env):
    """compose v1 `run` attaches right after its start. A process that has ended but whose exit
    the monitor has not reported yet still reads as running: the attach's check waits for the
    exit to be applied, so the client's next inspect says exited (compose then starts it again)
    and the attach waits for that start and gets that run's output, as an attach to a stopped
    container does with dockerd, instead of joining the run that is over."""
    svc, rt, *_ = env
    c, _ = await svc.create(spec("qx", OpenStdin=True))
    await svc.start(c.id)
    rt.end_unreported(c.id, 6)
    check = asyncio.ensure_future(svc.check_attachable(c.id))
    await settle()
    assert not check.done() and c.state.running
    rt.exit(c.id, 6)  # the monitor's report
    assert await asyncio.wait_for(check, 5) is c
    assert (c.state.running, c.state.exit_code) == (False, 6)
    attach = asyncio.ensure_future(svc.attach(c.id))
    await settle()
    assert not attach.done()
    await svc.start(c.id)
    session = await asyncio.wait_for(attach, 5)
    rt.log(c.id, "stdout", b"out\n")
    rt.exit(c.id, 6)
    assert [x async for x in session.output()] == [(1, b"out\n")]
    await session.close()
    await asyncio.wait_for(svc.wait(c.id), 5)
    await svc.start(c.id)  # a process still running: answered at once
    assert await asyncio.wait_for(svc.check_attachable(c.id), 5) is c


async def test_image_usage_hook(env):
    svc, _rt, *_ = env
    c, _ = await svc.create(spec("uu"))
    assert svc._images.usage(FakeImages.BUSYBOX_ID) == [(c.id, False)]


async def test_stats_stopped_and_running(env):
    svc, _rt, *_ = env
    c, _ = await svc.create(spec("st"))
    [only] = [s async for s in svc.stats(c.id, stream=False)]
    assert only["read"] == "0001-01-01T00:00:00Z" and only["name"] == "/st"
    await svc.start(c.id)
    [one] = [s async for s in svc.stats(c.id, stream=False, one_shot=True)]
    assert one["memory_stats"]["usage"] == 786432 and one["id"] == c.id
    assert one["preread"] == "0001-01-01T00:00:00Z"


class _RecVolumes:
    def __init__(self):
        self.calls = []

    def plans_mounts(self, c):
        return True

    async def register(self, c, lookup):
        self.calls.append(("register", c.id))

    async def start_mounts(self, c):
        from shim.engine.ports import MountSpec

        self.calls.append(("start_mounts", c.id))
        return [MountSpec(destination="/data", source="/vol/x", options=["rbind", "rw"])]

    async def release(self, cid):
        self.calls.append(("release", cid))

    async def forget(self, cid, remove_anonymous=False):
        self.calls.append(("forget", cid, remove_anonymous))

    def inspect_mounts(self, cid):
        return [{"Type": "volume", "Destination": "/data"}]

    def drop_stale(self, known):
        self.calls.append(("drop_stale", len(known)))

    def claim_running(self, running):
        self.calls.append(("claim_running", len(running)))


class _RecNetwork:
    def __init__(self):
        self.calls = []

    async def connect(self, c):
        import types

        self.calls.append(("connect", c.id))
        return types.SimpleNamespace(netns_path="/run/netns/x", mounts=[], env=[], wired=None)

    async def release(self, cid):
        self.calls.append(("release", cid))

    async def forget(self, cid):
        self.calls.append(("forget", cid))

    def inspect(self, c):
        return {"Networks": {"bridge": {"IPAddress": "172.18.0.2"}}}

    # the rest of the networking port (engine/ports.NetworkingPort), unused here
    def validate(self, c):
        pass

    def paths(self, c):
        return {}

    async def rename(self, cid, name):
        pass

    async def stats(self, cid):
        return {}

    def owners(self):
        return {}


async def test_volumes_and_network_participate_in_the_lifecycle(tmp_path):
    vols, net, rt = _RecVolumes(), _RecNetwork(), FakeRuntime()
    svc = ContainerService(
        store=Store(tmp_path), events=Events(), images=FakeImages(), runtime=rt, volumes=vols, network=net
    )
    c, _ = await svc.create(spec("vn"))
    await svc.start(c.id)
    assert rt.started[-1].netns_path == "/run/netns/x" and rt.started[-1].mounts[0].destination == "/data"
    assert svc.extra(c)["mounts"] == [{"Type": "volume", "Destination": "/data"}]
    assert svc.extra(c)["network_settings"]["Networks"]["bridge"]["IPAddress"] == "172.18.0.2"
    rt.exit(c.id, 0)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if ("release", c.id) in vols.calls:
            break
    rt.fail_next_start = SystemFailure("boom")
    with pytest.raises(SystemFailure):
        await svc.start(c.id)
    await svc.remove(c.id, volumes=True)
    assert vols.calls == [
        ("register", c.id),
        ("start_mounts", c.id),
        ("release", c.id),
        ("start_mounts", c.id),
        ("release", c.id),
        ("release", c.id),
        ("forget", c.id, True),
    ]
    assert net.calls == [
        ("connect", c.id),
        ("release", c.id),
        ("connect", c.id),
        ("release", c.id),
        ("release", c.id),
        ("forget", c.id),
    ]


async def test_healthcheck_through_an_injected_probe(env):
    svc, _rt, events, _ = env
    results = [1, 1, 0, 1, 1]

    async def probe(cid, argv, timeout):
        assert argv == ["/bin/sh", "-c", "check"]
        return (results.pop(0) if results else 1), "out"

    svc.set_health_probe(probe)
    c, _ = await svc.create(
        spec("hh", Healthcheck={"Test": ["CMD-SHELL", "check"], "Interval": 10_000_000, "Retries": 2})
    )
    await svc.start(c.id)
    assert c.state.health.status == "starting"
    seen = []
    for _ in range(300):
        await asyncio.sleep(0.01)
        h = c.state.health.status
        if not seen or seen[-1] != h:
            seen.append(h)
        if len(seen) >= 4:
            break
    assert seen[:4] == ["starting", "unhealthy", "healthy", "unhealthy"]
    assert len(c.state.health.log) <= 5 and c.state.health.log[-1].output == "out"
    assert "health_status: healthy" in actions(events)
    await svc.stop(c.id, timeout=1)


async def test_exec_registration(env):
    svc, _rt, *_ = env
    c, _ = await svc.create(spec("ex"))
    with pytest.raises(Conflict, match=f"Container {c.id} is not running"):
        await svc.add_exec(c.id, "e1")
    dropped = []

    async def hook(cid):
        dropped.append(cid)

    svc.add_cleanup_hook(hook)
    await svc.start(c.id)
    await svc.add_exec(c.id, "e1")
    assert c.exec_ids == ["e1"]
    await svc.pause(c.id)
    with pytest.raises(Conflict, match="is paused, unpause the container before exec"):
        await svc.add_exec(c.id, "e2")
    await svc.unpause(c.id)
    await svc.stop(c.id, timeout=1)
    assert c.exec_ids == [] and dropped == [c.id]


async def test_restart_keeps_an_autoremove_container(env):
    svc, _rt, events, _ = env
    c, _ = await svc.create(spec("ar", HostConfig={"AutoRemove": True}))
    await svc.start(c.id)
    await svc.restart(c.id, timeout=1)
    assert svc.get(c.id).state.running and actions(events)[-1] == "restart"
    await svc.stop(c.id, timeout=1)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if c.id not in [x.id for x in svc.all()]:
            break
    assert c.id not in [x.id for x in svc.all()]


async def test_failed_start_removes_an_autoremove_container(env):
    svc, rt, events, _ = env
    c, _ = await svc.create(spec("fr", Cmd=["nosuchcmd"], HostConfig={"AutoRemove": True}))
    removed = svc.wait(c.id, "removed")
    rt.fail_next_start = bad_executable()
    with pytest.raises(InvalidParameter):
        await svc.start(c.id)
    assert (await asyncio.wait_for(removed, 5))[0] == 127
    assert actions(events)[-2:] == ["die", "destroy"]


async def test_concurrent_creates_with_one_name(env):
    svc, *_ = env
    results = await asyncio.gather(*(svc.create(spec("same")) for _ in range(5)), return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))


async def test_logs_follow_ends_at_until(env):
    import time as _time

    svc, rt, *_ = env
    c, _ = await svc.create(spec("lu"))
    await svc.start(c.id)
    rt.log(c.id, "stdout", b"early\n")
    it = await svc.logs(c.id, LogQuery(follow=True, until=_time.time_ns() + 300_000_000))
    got = await asyncio.wait_for(_collect(it), 5)  # ends although the container keeps running silently
    assert got == [b"early\n"] and c.state.running


async def _collect(it):
    return [e.data async for e in it]
