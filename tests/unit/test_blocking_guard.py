"""The blocking-call guard of the unit tests (tests/unit/conftest.py, shim/blockguard.py) is on, and
refuses what it should: a handler that reads a file on the loop fails; the same read through
asyncio.to_thread passes; a test body's own synchronous call into shim is scaffolding."""

import asyncio
import logging
import time

import pytest
from aiohttp import web
from blockbuster import BlockingError

from shim import blockguard
from shim.api import routes
from shim.api.server import make_app
from shim.config import Settings
from shim.engine import observe
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.store import Store


@pytest.fixture
async def client(aiohttp_client, tmp_path, monkeypatch):
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 4096)

    async def reads_on_the_loop(request):
        with open(data, "rb") as f:
            return web.Response(body=f.read())

    async def reads_in_a_thread(request):
        return web.Response(body=await asyncio.to_thread(data.read_bytes))

    async def sleeps_on_the_loop(request):
        time.sleep(0.001)
        return web.Response()

    extra = [
        ("GET", "/t/blocking-read", reads_on_the_loop),
        ("GET", "/t/threaded-read", reads_in_a_thread),
        ("GET", "/t/blocking-sleep", sleeps_on_the_loop),
    ]
    real = routes.collect
    monkeypatch.setattr(routes, "collect", lambda: real() + extra)
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(settings=Settings(data_root=str(tmp_path)), store=Store(tmp_path), events=Events(), host=host)
    return await aiohttp_client(make_app(engine))


@pytest.mark.parametrize(
    ("path", "call"), [("/t/blocking-read", "io.BufferedReader.read"), ("/t/blocking-sleep", "time.sleep")]
)
async def test_a_handler_that_blocks_the_loop_fails(client, caplog, path, call):
    caplog.set_level(logging.ERROR, "shim.api")
    r = await client.get(path)
    # shim's middleware turns the BlockingError into a 500 and logs it with its traceback
    assert r.status == 500
    assert any(
        isinstance(rec.exc_info[1], BlockingError) and call in str(rec.exc_info[1])
        for rec in caplog.records
        if rec.exc_info
    )


async def test_the_same_work_in_a_thread_passes(client):
    r = await client.get("/t/threaded-read")
    assert r.status == 200 and len(await r.read()) == 4096


async def test_an_engine_coroutine_that_blocks_fails(tmp_path):
    store = Store(tmp_path)  # the test's own call: scaffolding, let through

    @observe.timed("test", "restore")  # a coroutine of shim's (observe.run_async) around the call
    async def restore():
        return store.load_all("things")

    with pytest.raises(BlockingError, match=r"os\.(listdir|mkdir|stat)"):
        await restore()
    assert await asyncio.to_thread(store.load_all, "things") == {}


def test_the_allow_list_is_short_and_says_why():
    assert len(blockguard.ALLOWED) <= 4
    assert all(why for _, _, why in blockguard.ALLOWED)


async def test_the_daemons_mode_logs_the_call_with_its_stack_and_lets_it_run(tmp_path, caplog):
    # SHIM_BLOCKING_GUARD=1 in shimd (tests/integration/test_blocking_guard.py reads these lines)
    store = Store(tmp_path)

    @observe.timed("test", "restore")
    async def restore():
        return store.load_all("things")

    guard = blockguard.make(report=True)
    guard.activate()
    try:
        assert await restore() == {}
    finally:
        guard.deactivate()
    lines = [r.getMessage() for r in caplog.records if r.name == "shim.blockguard"]
    assert lines and all(blockguard.MARK in line and "engine/store.py" in line for line in lines), lines
