"""The rendered list rows and inspect bodies kept between requests (api/rendercache.py): every change
of the engine's state shows in the next answer, the list's Status follows the clock, and an
unchanged container is not rendered again."""

from __future__ import annotations

import time

import pytest

from shim.api import rendercache
from shim.api.server import make_app
from shim.engine import intents, volumes
from shim.engine.containers import core, revisions
from shim.engine.containers.facts import Facts
from shim.engine.execs import ExecService
from shim.engine.health import HealthMonitor
from shim.engine.model import Health
from shim.engine.networks import state as netstate
from shim.translate import containers as trc
from tests.unit.test_containers_api import _engine, create
from tests.unit.test_execs import FakeExecRuntime


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    engine, _rt = _engine(tmp_path)
    client = await aiohttp_client(make_app(engine))
    client.svc = engine.containers
    client.svc_events = engine.events
    client.store = engine.store
    return client


@pytest.fixture
def renders(monkeypatch):
    """How many list rows and inspect bodies were rendered (not taken from the cache)."""
    count = {"rows": 0, "inspect": 0, "status": 0}
    list_item_out, inspect_out, status_until = trc.list_item_out, trc.inspect_out, trc.status_until

    def counted_row(*args, **kwargs):
        count["rows"] += 1
        return list_item_out(*args, **kwargs)

    def counted_inspect(*args, **kwargs):
        count["inspect"] += 1
        return inspect_out(*args, **kwargs)

    def counted_status(*args, **kwargs):
        count["status"] += 1
        return status_until(*args, **kwargs)

    monkeypatch.setattr(rendercache.tr, "list_item_out", counted_row)
    monkeypatch.setattr(rendercache.tr, "inspect_out", counted_inspect)
    monkeypatch.setattr(rendercache.tr, "status_until", counted_status)
    return count


async def ps(api, version="1.41"):
    r = await api.get(f"/v{version}/containers/json?all=1")
    assert r.status == 200 and r.content_type == "application/json"
    return {item["Names"][0]: item for item in await r.json()}


async def inspect(api, name, version="1.41"):
    r = await api.get(f"/v{version}/containers/{name}/json")
    assert r.status == 200
    return await r.json()


async def test_unchanged_containers_are_not_rendered_again(api, renders):
    await create(api, "aa", Labels={"k": "v"})
    await create(api, "bb")
    first = await ps(api)
    assert renders["rows"] == 2 and first["/aa"]["Labels"] == {"k": "v"}
    assert await ps(api) == first and renders["rows"] == 2
    # per API version: another version renders its own rows once
    assert "Health" in (await ps(api, "1.52"))["/bb"] and renders["rows"] == 4
    assert "Health" not in (await ps(api))["/bb"] and renders["rows"] == 4
    body = await inspect(api, "aa")
    assert await inspect(api, "aa") == body and renders["inspect"] == 1


async def test_every_state_change_shows_at_once(api):
    cid = await create(api, "web", Cmd=["sleep", "300"])
    assert (await ps(api))["/web"]["State"] == "created"
    assert (await inspect(api, "web"))["State"]["Status"] == "created"

    assert (await api.post("/v1.41/containers/web/start")).status == 204
    row = (await ps(api))["/web"]
    assert row["State"] == "running" and row["Status"].startswith("Up ")
    assert (await inspect(api, "web"))["State"]["Running"] is True

    assert (await api.post("/v1.41/containers/web/pause")).status == 204
    assert (await ps(api))["/web"]["Status"].endswith("(Paused)")
    assert (await inspect(api, cid))["State"]["Paused"] is True
    assert (await api.post("/v1.41/containers/web/unpause")).status == 204

    assert (await api.post("/v1.41/containers/web/rename?name=site")).status == 204
    rows = await ps(api)
    assert "/web" not in rows and rows["/site"]["Id"] == cid
    assert (await inspect(api, cid))["Name"] == "/site"

    r = await api.post("/v1.41/containers/site/update", json={"RestartPolicy": {"Name": "always"}})
    assert r.status == 200
    assert (await inspect(api, cid))["HostConfig"]["RestartPolicy"]["Name"] == "always"

    assert (await api.post("/v1.41/containers/site/stop?t=1")).status == 204
    row = (await ps(api))["/site"]
    assert row["State"] == "exited" and row["Status"].startswith("Exited (")
    assert (await inspect(api, cid))["State"]["Running"] is False

    await create(api, "new", Labels={"team": "blue"})
    assert (await ps(api))["/new"]["Labels"] == {"team": "blue"}

    assert (await api.delete("/v1.41/containers/site")).status == 204
    assert "/site" not in await ps(api)
    assert (await api.get(f"/v1.41/containers/{cid}/json")).status == 404


async def test_health_results_show_without_an_event(api):
    """A failed probe changes FailingStreak and the Log in memory only (no event, no save, while
    the status stays "starting"): the next list and inspect show them."""
    await create(api, "hc", Healthcheck={"Test": ["CMD", "true"], "Retries": 3})
    assert (await api.post("/v1.41/containers/hc/start")).status == 204
    c = api.svc.get("hc")
    c.state.health = Health()  # what HealthMonitor.start does
    assert (await ps(api, "1.52"))["/hc"]["Health"] == {"Status": "starting", "FailingStreak": 0}
    assert (await inspect(api, "hc"))["State"]["Health"]["Log"] == []
    events = api.svc_events.published

    async def no_change(_c, _status):
        raise AssertionError("the status did not change")

    now = time.time_ns()
    await HealthMonitor(probe=None, on_change=no_change).record(c, now, now, 1, "nope", 3, False)  # type: ignore[arg-type]
    assert api.svc_events.published == events
    assert (await ps(api, "1.52"))["/hc"]["Health"] == {"Status": "starting", "FailingStreak": 1}
    health = (await inspect(api, "hc"))["State"]["Health"]
    assert health["FailingStreak"] == 1 and [e["Output"] for e in health["Log"]] == ["nope"]


async def test_status_follows_the_clock_while_the_row_is_kept(api, renders, monkeypatch):
    await create(api, "up", Cmd=["sleep", "300"])
    assert (await api.post("/v1.41/containers/up/start")).status == 204
    assert (await ps(api))["/up"]["Status"] == "Up Less than a second"
    rendered = renders["rows"]
    later = time.time_ns() + 125 * 1_000_000_000
    monkeypatch.setattr(rendercache.time, "time_ns", lambda: later)
    assert (await ps(api))["/up"]["Status"] == "Up 2 minutes"
    assert renders["rows"] == rendered


async def test_a_row_holding_the_status_mark_is_rendered_per_request(api, renders):
    await create(api, "odd", Labels={"mark": rendercache._MARK})
    for _ in range(2):
        row = (await ps(api))["/odd"]
        assert row["Labels"] == {"mark": rendercache._MARK} and row["Status"] == "Created"
    assert renders["rows"] == 2


async def test_a_change_re_renders_that_containers_answers_only(api, renders):
    """Revisions are per container (engine/containers/revisions.py): a verb on one container
    renders its row and inspect body again, not those of the others; what it changed shows."""
    for i in range(4):
        await create(api, f"c{i}", Cmd=["sleep", "300"])
    await ps(api)
    await inspect(api, "c1")
    assert renders["rows"] == 4 and renders["inspect"] == 1

    assert (await api.post("/v1.41/containers/c0/start")).status == 204
    rows = await ps(api)
    assert rows["/c0"]["State"] == "running" and renders["rows"] == 5
    assert (await inspect(api, "c0"))["State"]["Running"] is True
    await inspect(api, "c1")
    assert renders["inspect"] == 2  # c0's, rendered for the first time; c1's kept

    assert (await api.post("/v1.41/containers/c1/rename?name=d1")).status == 204
    assert (await api.delete("/v1.41/containers/c3")).status == 204
    await create(api, "c4")
    rows = await ps(api)
    assert set(rows) == {"/c0", "/d1", "/c2", "/c4"} and rows["/c0"]["Status"].startswith("Up ")
    assert renders["rows"] == 7  # d1 and c4
    assert (await inspect(api, "d1"))["Name"] == "/d1" and renders["inspect"] == 3


async def test_changes_that_are_no_containers_re_render_every_row(api, renders):
    """An image, network or volume change (store writes and events of other kinds) may show in
    any container's answers: every row is rendered again (over-invalidation is safe)."""
    for name in ("aa", "bb", "cc"):
        await create(api, name)
    await ps(api)
    api.svc_events.publish("image", "tag", "sha256:" + "1" * 64, {"name": "busybox:other"})
    await ps(api)
    assert renders["rows"] == 6
    api.store.put("volumes", "data", {"name": "data"})
    await ps(api)
    assert renders["rows"] == 9
    # a network or volume event about one container is that container's
    a = api.svc.get("aa").id
    api.svc_events.publish("network", "connect", "n" * 64, {"container": a, "name": "front", "type": "bridge"})
    api.svc_events.publish("volume", "mount", "data", {"container": a, "destination": "/d", "driver": "local"})
    await ps(api)
    assert renders["rows"] == 10


async def test_an_exec_shows_in_its_containers_inspect_at_once(api):
    """ExecIDs change in memory with the exec's events (exec_create, exec_die), not with a save."""
    execs = ExecService(containers=api.svc, events=api.svc_events, runtime=FakeExecRuntime())
    await create(api, "box", Cmd=["sleep", "300"])
    assert (await api.post("/v1.41/containers/box/start")).status == 204
    assert (await inspect(api, "box"))["ExecIDs"] is None
    e = await execs.create("box", {"Cmd": ["true"]})
    assert (await inspect(api, "box"))["ExecIDs"] == [e.id]


async def test_the_status_is_written_again_when_its_text_changes(api, renders, monkeypatch):
    await create(api, "up", Cmd=["sleep", "300"])
    assert (await api.post("/v1.41/containers/up/start")).status == 204
    started = api.svc.get("up").state.started_at
    clock = [started + 500_000_000]
    monkeypatch.setattr(rendercache.time, "time_ns", lambda: clock[0])
    assert (await ps(api))["/up"]["Status"] == "Up Less than a second"
    written = renders["status"]
    clock[0] = started + 900_000_000
    assert (await ps(api))["/up"]["Status"] == "Up Less than a second" and renders["status"] == written
    clock[0] = started + 1_000_000_000
    assert (await ps(api))["/up"]["Status"] == "Up 1 second" and renders["status"] == written + 1
    clock[0] = started + 61_500_000_000
    assert (await ps(api))["/up"]["Status"] == "Up About a minute"
    clock[0] = started + 119_000_000_000
    assert (await ps(api))["/up"]["Status"] == "Up About a minute" and renders["status"] == written + 2
    clock[0] = started + 120_000_000_000
    assert (await ps(api))["/up"]["Status"] == "Up 2 minutes" and renders["rows"] == 1


async def test_these_tests_fail_with_a_constant_revision(aiohttp_client, tmp_path, monkeypatch):
    """The proofs above prove something: with a revision that never moves they fail."""
    monkeypatch.setattr(Facts, "revision", lambda self, c: 0)
    for test in (test_every_state_change_shows_at_once, test_health_results_show_without_an_event):
        engine, _rt = _engine(tmp_path / test.__name__)
        client = await aiohttp_client(make_app(engine))
        client.svc, client.svc_events = engine.containers, engine.events
        with pytest.raises(AssertionError):
            await test(client)
    engine, _rt = _engine(tmp_path / "exec")
    client = await aiohttp_client(make_app(engine))
    client.svc, client.svc_events = engine.containers, engine.events
    with pytest.raises(AssertionError):
        await test_an_exec_shows_in_its_containers_inspect_at_once(client)


def test_the_kinds_a_container_owns_are_the_stores():
    assert {core.KIND, netstate.ENDPOINTS, volumes.MOUNTS_KIND} == revisions._OWN_KINDS
    assert revisions._INTENTS == intents.KIND and intents.Journal._key("start", "abc") == "start.abc"


def test_revisions_classify_each_change():
    alive = {"a", "b"}
    r = revisions.Revisions(lambda cid: cid in alive)
    a, b = r.of("a"), r.of("b")
    for kind, oid in (("containers", "a"), ("endpoints", "a"), ("mounts", "a"), ("intents", "remove.a")):
        r.stored(kind, oid)
        assert r.of("a") != a and r.of("b") == b
        a = r.of("a")
    for ev in (
        {"Type": "container", "Action": "exec_die", "Actor": {"ID": "a", "Attributes": {}}},
        {"Type": "network", "Action": "disconnect", "Actor": {"ID": "n", "Attributes": {"container": "a"}}},
        {"Type": "volume", "Action": "unmount", "Actor": {"ID": "v", "Attributes": {"container": "a"}}},
    ):
        r.published(ev)
        assert r.of("a") != a and r.of("b") == b
        a = r.of("a")
    seen = {a, b}
    for change in (
        lambda: r.stored("networks", "n"),
        lambda: r.stored("intents", "odd"),
        lambda: r.published({"Type": "network", "Action": "create", "Actor": {"ID": "n", "Attributes": {}}}),
        lambda: r.published({"Type": "container", "Action": "prune", "Actor": {"ID": "", "Attributes": {}}}),
        lambda: r.published({"Type": "daemon", "Action": "reload", "Actor": {"ID": "d", "Attributes": {}}}),
    ):
        change()
        assert r.of("a") not in seen and r.of("b") not in seen
        seen |= {r.of("a"), r.of("b")}
    # removed containers' entries are dropped once the map doubles; a live one keeps its own
    for i in range(2000):
        r.stored("containers", f"gone{i}")
    assert len(r._own) < 1100 and r.of("a")[1] == a[1]


async def test_kept_list_bodies_follow_each_query_and_change(api):
    """Whole bodies are kept per API version for the last few row sets: alternating queries each
    get their own rows, and a change shows in each at once."""
    await create(api, "run1", Cmd=["sleep", "300"])
    await create(api, "new1")
    assert (await api.post("/v1.41/containers/run1/start")).status == 204

    async def names(query):
        r = await api.get("/v1.41/containers/json" + query)
        return sorted(item["Names"][0] for item in await r.json())

    for _ in range(2):
        assert await names("") == ["/run1"]
        assert await names("?all=1") == ["/new1", "/run1"]
        assert await names('?all=1&filters={"status":["created"]}') == ["/new1"]
        assert await names("?limit=1") == ["/new1"]
    assert (await api.post("/v1.41/containers/new1/start")).status == 204
    assert await names("") == ["/new1", "/run1"]
    assert await names('?all=1&filters={"status":["created"]}') == []
    assert (await api.post("/v1.41/containers/new1/rename?name=new2")).status == 204
    assert await names("?all=1") == ["/new2", "/run1"]
    assert await names("") == ["/new2", "/run1"]
