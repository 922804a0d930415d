"""The container endpoints through aiohttp's test client, on ContainerService with FakeRuntime/FakeImages."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import pytest

from shim.api.server import make_app
from shim.config import Settings
from shim.engine.containers import ContainerService
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.store import Store
from tests.fakes import FakeImages, FakeRuntime


def _engine(tmp_path, platform="linux"):
    store, events = Store(tmp_path), Events()
    rt = FakeRuntime(platform=platform)
    svc = ContainerService(store=store, events=events, images=FakeImages(), runtime=rt)
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    return Engine(settings=Settings(data_root=str(tmp_path)), store=store, events=events, host=host, containers=svc), rt


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    engine, rt = _engine(tmp_path)
    client = await aiohttp_client(make_app(engine))
    client.rt = rt
    client.svc = engine.containers
    return client


async def create(api, name="", **body):
    body.setdefault("Image", "busybox")
    r = await api.post("/v1.41/containers/create" + (f"?name={name}" if name else ""), json=body)
    assert r.status == 201, await r.text()
    return (await r.json())["Id"]


async def test_create_inspect_list(api):
    cid = await create(api, "web", Cmd=["sleep", "300"], HostConfig={"Memory": 67108864})
    r = await api.get("/v1.41/containers/web/json")
    body = await r.json()
    assert body["Id"] == cid and body["Name"] == "/web" and body["Path"] == "sleep" and body["Args"] == ["300"]
    assert body["State"]["Status"] == "created" and body["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    assert body["HostConfig"]["MemorySwap"] == 134217728 and body["HostConfig"]["KernelMemory"] == 0
    assert body["Config"]["Hostname"] == cid[:12] and body["Config"]["Image"] == "busybox"
    assert "KernelMemory" not in (await (await api.get("/v1.44/containers/web/json")).json())["HostConfig"]
    assert await (await api.get("/v1.41/containers/json")).json() == []
    [item] = await (await api.get("/v1.41/containers/json?all=1")).json()
    assert item["Names"] == ["/web"] and item["Status"] == "Created" and item["Command"] == "sleep 300"
    assert item["State"] == "created"


async def test_create_errors(api):
    r = await api.post("/v1.41/containers/create?name=bad/name", json={"Image": "busybox"})
    assert r.status == 400 and "Invalid container name (bad/name)" in (await r.json())["message"]
    r = await api.post("/v1.41/containers/create", json={"Image": "nosuch:latest"})
    assert r.status == 404 and (await r.json())["message"] == "No such image: nosuch:latest"
    r = await api.post("/v1.41/containers/create", json={"Image": "busybox", "HostConfig": {"Memory": "x"}})
    assert r.status == 400 and "HostConfig.Memory" in (await r.json())["message"]
    await create(api, "dup")
    r = await api.post("/v1.41/containers/create?name=dup", json={"Image": "busybox"})
    assert r.status == 409 and 'The container name "/dup" is already in use' in (await r.json())["message"]


async def test_start_304_and_stop(api):
    cid = await create(api, "st")
    assert (await api.post("/v1.41/containers/st/start")).status == 204
    r = await api.post("/v1.41/containers/st/start")
    assert r.status == 304 and await r.read() == b""
    assert (await api.post("/v1.41/containers/st/stop?t=1")).status == 204
    assert (await api.post("/v1.41/containers/st/stop")).status == 304
    r = await api.post("/v1.41/containers/nosuch/start")
    assert r.status == 404 and (await r.json())["message"] == "No such container: nosuch"
    [item] = await (await api.get("/v1.41/containers/json?all=1&filters=" + json.dumps({"exited": ["143"]}))).json()
    assert item["Id"] == cid and item["Status"].startswith("Exited (143)")


async def test_legacy_start_body(api):
    await create(
        api, "leg", HostConfig={"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}
    )
    body = json.dumps({"Binds": ["/tmp:/mnt:ro"]})
    r = await api.post("/v1.24/containers/leg/start", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert (await r.json())["message"] == (
        "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"
    )
    assert (await (await api.get("/v1.41/containers/leg/json")).json())["State"]["Status"] == "created"
    r = await api.post("/v1.21/containers/leg/start", data=body, headers={"Content-Type": "text/plain"})
    assert r.status == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert await r.text() == "Content-Type specified (text/plain) must be 'application/json'\n"
    r = await api.post("/v1.41/containers/leg/start", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 204  # 7 bytes or less: ignored
    await api.post("/v1.41/containers/leg/stop")
    r = await api.post("/v1.21/containers/leg/start", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 204
    hc = (await (await api.get("/v1.41/containers/leg/json")).json())["HostConfig"]
    assert hc["Memory"] == 0 and hc["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    assert hc["Binds"] == ["/tmp:/mnt:ro"]
    r = await api.post("/v1.21/containers/leg/start", data=body, headers={"Content-Type": "application/json"})
    assert r.status == 304


async def test_legacy_start_windows(aiohttp_client, tmp_path):
    engine, _rt = _engine(tmp_path, platform="windows")
    api = await aiohttp_client(make_app(engine))
    await create(api, "win")
    r = await api.post(
        "/v1.21/containers/win/start", data=json.dumps({"Memory": 0}), headers={"Content-Type": "application/json"}
    )
    assert r.status == 400
    assert await r.text() == "Supplying a hostconfig on start is not supported. It should be supplied on create\n"
    assert (await api.post("/v1.21/containers/win/start")).status == 204


async def test_wait_headers_first(api):
    cid = await create(api, "wt")
    r = await api.post(f"/v1.41/containers/{cid}/wait?condition=next-exit")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"  # headers before the exit
    assert (await api.post(f"/v1.41/containers/{cid}/start")).status == 204
    api.rt.exit(cid, 3)
    assert await r.read() == b'{"Error":null,"StatusCode":3}\n'
    r = await api.post(f"/v1.41/containers/{cid}/wait?condition=bogus")
    assert r.status == 400


async def test_kill_pause_rename_resize_top(api):
    cid = await create(api, "kp")
    r = await api.post("/v1.41/containers/nosuch/kill")
    assert (await r.json())["message"] == "Cannot kill container: nosuch: No such container: nosuch"
    r = await api.post("/v1.41/containers/kp/pause")
    assert r.status == 409 and (await r.json())["message"] == f"Container {cid} is not running"
    r = await api.post("/v1.41/containers/kp/resize?h=25&w=90")
    assert r.status == 409
    await api.post("/v1.41/containers/kp/start")
    r = await api.post("/v1.41/containers/kp/resize?h=25&w=90")
    assert r.status == 200 and await r.read() == b"" and api.rt.resized[-1] == (cid, 25, 90)
    assert (await api.post("/v1.41/containers/kp/kill?signal=HUP")).status == 204
    assert (await api.post("/v1.41/containers/kp/pause")).status == 204
    assert (await api.post("/v1.41/containers/kp/unpause")).status == 204
    top = await (await api.get("/v1.41/containers/kp/top")).json()
    assert top["Titles"][0] == "UID"
    r = await api.delete("/v1.41/containers/kp")
    assert r.status == 409 and "You cannot remove a running container" in (await r.json())["message"]
    assert (await api.post("/v1.41/containers/kp/rename?name=kp2")).status == 204
    assert (await api.delete("/v1.41/containers/kp2?force=1")).status == 204
    assert (await api.get("/v1.41/containers/kp2/json")).status == 404


async def test_logs_frames_and_tail(api):
    cid = await create(api, "lg")
    await api.post("/v1.41/containers/lg/start")
    api.rt.log(cid, "stdout", b"hi\n")
    api.rt.log(cid, "stderr", b"err\n")
    r = await api.get("/v1.41/containers/lg/logs?stdout=1&stderr=1")
    assert "Content-Type" not in r.headers
    assert await r.read() == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    r = await api.get("/v1.41/containers/lg/logs?stdout=1&stderr=1&tail=1")
    assert await r.read() == b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    r = await api.get("/v1.44/containers/lg/logs?stdout=1")
    assert r.headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    r = await api.get("/v1.41/containers/lg/logs")
    assert r.status == 400


async def test_stats_and_update_and_prune(api):
    await create(api, "sp")
    r = await api.get("/v1.41/containers/sp/stats?stream=0")
    assert (await r.json())["read"] == "0001-01-01T00:00:00Z"
    await api.post("/v1.41/containers/sp/start")
    r = await api.get("/v1.41/containers/sp/stats?stream=0&one-shot=1")
    assert (await r.json())["memory_stats"]["usage"] == 786432
    r = await api.post("/v1.41/containers/sp/update", json={"Memory": 33554432})
    assert r.status == 409 and "update the memoryswap at the same time" in (await r.json())["message"]
    r = await api.post("/v1.41/containers/sp/update", json={"Memory": 33554432, "MemorySwap": -1})
    assert r.status == 200 and await r.json() == {"Warnings": []}
    r = await api.post("/v1.41/containers/sp/update", json={"Memory": "x"})
    assert r.status == 400
    other = await create(api, "pr", Labels={"rec": "1"})
    r = await api.post("/v1.41/containers/prune?filters=" + json.dumps({"label": {"rec=1": True}}))
    assert await r.json() == {"ContainersDeleted": [other], "SpaceReclaimed": 0}


async def _raw(api, request: bytes) -> socket.socket:
    host, port = api.server.host, api.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def test_attach_hijack_before_start(api):
    cid = await create(api, "hj", OpenStdin=True, StdinOnce=True)
    reader, writer = await _raw(
        api,
        (
            f"POST /v1.41/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
            "Host: x\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            "Content-Type: text/plain\r\n\r\n"
        ).encode(),
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head == (
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    )
    assert (await api.post(f"/v1.41/containers/{cid}/start")).status == 204
    for _ in range(100):
        if api.rt.outputs.get(cid):
            break
        await asyncio.sleep(0.01)
    writer.write(b"typed\n")
    await writer.drain()
    writer.write_eof()  # half-close: StdinOnce closes the container's stdin, output keeps coming
    for _ in range(100):
        if api.rt.procs[cid].stdin_closed:
            break
        await asyncio.sleep(0.01)
    assert api.rt.procs[cid].stdin == b"typed\n" and api.rt.procs[cid].stdin_closed
    api.rt.log(cid, "stdout", b"hi\n")
    api.rt.exit(cid, 0)
    data = await asyncio.wait_for(reader.read(), 5)
    assert data == struct.pack(">BxxxI", 1, 3) + b"hi\n"
    writer.close()


async def test_attach_without_upgrade_and_logs_replay(api):
    cid = await create(api, "hr")
    await api.post(f"/v1.41/containers/{cid}/start")
    api.rt.log(cid, "stdout", b"old\n")
    reader, writer = await _raw(
        api,
        (
            f"POST /v1.41/containers/{cid}/attach?logs=1&stream=0&stdout=1 HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode(),
    )
    data = await asyncio.wait_for(reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n")
    assert data.endswith(struct.pack(">BxxxI", 1, 4) + b"old\n")
    writer.close()


async def test_old_api_wait_and_kill(api):
    cid = await create(api, "ow")
    assert (await api.post(f"/v1.19/containers/{cid}/kill")).status == 204  # stopped: fine before 1.20
    assert (await api.post(f"/v1.20/containers/{cid}/kill")).status == 409
    await api.post(f"/v1.41/containers/{cid}/start")
    task = asyncio.ensure_future(api.post(f"/v1.24/containers/{cid}/wait?condition=bogus"))
    await asyncio.sleep(0.05)
    assert not task.done()  # < 1.30: no headers until the end, condition ignored
    api.rt.exit(cid, 4)
    r = await task
    assert r.status == 200 and r.headers["Content-Length"] and await r.json() == {"Error": None, "StatusCode": 4}
