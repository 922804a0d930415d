"""The rendered list rows and inspect bodies kept between requests (api/rendercache.py): every change
of the engine's state shows in the next answer, the list's Status follows the clock, and an
unchanged container is not rendered again."""

from __future__ import annotations

import time

import pytest

from shim.api import rendercache
from shim.api.server import make_app
from shim.engine.health import HealthMonitor
from shim.engine.model import Health
from shim.translate import containers as trc
from tests.unit.test_containers_api import _engine, create


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    engine, _rt = _engine(tmp_path)
    client = await aiohttp_client(make_app(engine))
    client.svc = engine.containers
    client.svc_events = engine.events
    return client


@pytest.fixture
def renders(monkeypatch):
    """How many list rows and inspect bodies were rendered (not taken from the cache)."""
    count = {"rows": 0, "inspect": 0}
    list_item_out, inspect_out = trc.list_item_out, trc.inspect_out

    def counted_row(*args, **kwargs):
        count["rows"] += 1
        return list_item_out(*args, **kwargs)

    def counted_inspect(*args, **kwargs):
        count["inspect"] += 1
        return inspect_out(*args, **kwargs)

    monkeypatch.setattr(rendercache.tr, "list_item_out", counted_row)
    monkeypatch.setattr(rendercache.tr, "inspect_out", counted_inspect)
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
