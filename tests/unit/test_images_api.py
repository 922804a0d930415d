"""The image endpoints through aiohttp's test client, with a real ImageService on a temp data root."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from shim.api.server import make_app
from shim.config import Settings
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.images import ImageService
from shim.engine.store import Store
from shim.runtime.layers import LayerStore

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "build" / "busybox.tar"


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    store, events = Store(tmp_path), Events()
    images = ImageService(store=store, layers=LayerStore(str(tmp_path)), events=events)
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(settings=Settings(data_root=str(tmp_path)), store=store, events=events, host=host, images=images)
    await engine.start()
    c = await aiohttp_client(make_app(engine))
    r = await c.post(
        "/v1.41/images/load?quiet=1", data=FIXTURE.read_bytes(), headers={"Content-Type": "application/x-tar"}
    )
    assert r.status == 200 and await r.read() == b'{"stream":"Loaded image: busybox:latest\\n"}\r\n'
    return c


async def test_list_and_filters_in_both_shapes(client):
    r = await client.get("/v1.41/images/json")
    assert r.status == 200 and (await r.read()).endswith(b"]\n")
    for f in ('{"reference":{"busybox":true}}', '{"reference":["busybox"]}'):
        r = await client.get("/v1.41/images/json", params={"filters": f, "all": "True"})
        assert [i["RepoTags"] for i in await r.json()] == [["busybox:latest"]]
    r = await client.get("/v1.41/images/json", params={"filters": '{"reference":["nope"]}'})
    assert await r.json() == []
    r = await client.get("/v1.41/images/json", params={"filters": '{"bogus":["x"]}'})
    assert r.status == 400


async def test_tag_is_201_empty_and_delete_body(client):
    r = await client.post("/v1.41/images/busybox/tag?repo=docker.io%2Flibrary%2Frectag&tag=1")
    assert r.status == 201 and await r.read() == b""
    r = await client.delete("/v1.41/images/rectag:1")
    assert await r.read() == b'[{"Untagged":"rectag:1"}]\n'
    r = await client.post("/images/busybox/tag?repo=Bad")
    assert (
        r.status == 400 and (await r.json())["message"] == "invalid reference format: repository name must be lowercase"
    )


async def test_inspect_and_history_by_name_with_slashes(client):
    await client.post("/images/busybox/tag?repo=localhost:5000/a/b&tag=x")
    r = await client.get("/v1.50/images/localhost:5000/a/b:x/json")
    assert r.status == 200 and (await r.json())["RepoTags"] == ["busybox:latest", "localhost:5000/a/b:x"]
    r = await client.get("/v1.50/images/localhost:5000/a/b:x/history")
    assert r.status == 200 and len(await r.json()) == 2
    r = await client.get("/v1.24/images/busybox:nope/json")
    assert r.status == 404 and await r.json() == {"message": "No such image: busybox:nope"}


async def test_import_answers_status_line(client):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("hello")
        ti.size = 2
        tar.addfile(ti, io.BytesIO(b"hi"))
    r = await client.post(
        "/v1.41/images/create?fromSrc=-&repo=recimport%3A1&changes=CMD+%5B%22sh%22%5D",
        data=buf.getvalue(),
        headers={"Content-Type": "text/plain"},
    )
    body = await r.read()
    assert r.status == 200 and body.startswith(b'{"status":"sha256:') and body.endswith(b'"}\r\n')
    r = await client.get("/images/recimport:1/json")
    assert (await r.json())["Config"]["Cmd"] == ["sh"]


async def test_save_streams_a_tar(client):
    r = await client.get("/v1.41/images/get", params=[("names", "busybox")])
    assert r.status == 200 and r.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(await r.read())) as tar:
        assert json.loads(tar.extractfile("manifest.json").read())[0]["RepoTags"] == ["busybox:latest"]
    r = await client.get("/v1.41/images/nosuch/get")
    assert r.status == 404


async def test_prune_body(client):
    r = await client.post("/v1.41/images/prune", params={"filters": '{"dangling":{"true":true}}'})
    assert await r.read() == b'{"ImagesDeleted":null,"SpaceReclaimed":0}\n'
