"""GET /containers/{id}/attach/ws (aiodocker's container.websocket()) on the fake runtime."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from shim.api.server import make_app
from tests.unit.test_containers_api import _engine, create


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    engine, rt = _engine(tmp_path)
    client = await aiohttp_client(make_app(engine))
    client.rt = rt
    return client


async def _started(api, name, **body):
    cid = await create(api, name, OpenStdin=True, **body)
    assert (await api.post(f"/v1.41/containers/{cid}/start")).status == 204
    return cid


async def _wait(cond):
    for _ in range(200):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_raw_binary_frames_and_stdin_all_streams_before_142(api):
    cid = await _started(api, "ws1")
    # before 1.42 dockerd attaches stdin, stdout and stderr whatever the query says
    ws = await api.ws_connect(f"/v1.41/containers/{cid}/attach/ws?stream=1")
    await _wait(lambda: api.rt.outputs.get(cid) is not None)
    await ws.send_bytes(b"typed\n")
    await _wait(lambda: api.rt.procs[cid].stdin == b"typed\n")
    api.rt.log(cid, "stderr", b"err\n")
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"err\n")  # never stdcopy-framed
    api.rt.exit(cid, 0)
    assert (await asyncio.wait_for(ws.receive(), 5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()


async def test_stream_choice_from_142(api):
    cid = await _started(api, "ws2")
    ws = await api.ws_connect(f"/v1.42/containers/{cid}/attach/ws?stream=1&stdout=1")
    await _wait(lambda: api.rt.outputs.get(cid) is not None)
    api.rt.log(cid, "stderr", b"not-for-stdout-only\n")
    api.rt.log(cid, "stdout", b"out\n")
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"out\n")
    await ws.close()


async def test_text_frames_before_128(api):
    cid = await _started(api, "ws3")
    ws = await api.ws_connect(f"/v1.27/containers/{cid}/attach/ws?stream=1")
    await _wait(lambda: api.rt.outputs.get(cid) is not None)
    api.rt.log(cid, "stdout", b"hello\n")
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "hello\n")
    await ws.close()


async def test_unknown_container_is_a_plain_404(api):
    r = await api.get("/v1.41/containers/nope/attach/ws?stream=1")
    assert r.status == 404
    assert (await r.json())["message"] == "No such container: nope"
