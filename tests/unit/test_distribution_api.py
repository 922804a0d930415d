"""The registry endpoints through aiohttp's test client: a real DistributionService over an
in-memory registry. What the wire looks like: plain errors before a stream starts, errors in the
stream after, the JSON messages the CLI draws, the auth header and body, search and inspect."""

from __future__ import annotations

import base64
import json

import pytest

from shim.api.server import make_app
from shim.config import Settings
from shim.engine.daemon import Engine, HostFacts
from shim.engine.distribution.blobindex import BlobIndex
from shim.engine.distribution.service import DistributionService
from shim.engine.events import Events
from shim.engine.images import ImageService
from shim.engine.store import Store
from shim.runtime.layers import LayerStore
from tests.registry_fakes import FakeRegistry, digest_of, layer_tar

HOST = "reg.test:5000"


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    store, events = Store(tmp_path), Events()
    layers = LayerStore(str(tmp_path))
    images = ImageService(store=store, layers=layers, events=events, host_arch="amd64")
    reg = FakeRegistry()
    dist = DistributionService(images=images, layers=layers, registry=reg, blobs=BlobIndex(store), host_arch="amd64")
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(
        settings=Settings(data_root=str(tmp_path)),
        store=store,
        events=events,
        host=host,
        images=images,
        distribution=dist,
    )
    await engine.start()
    c = await aiohttp_client(make_app(engine))
    c.reg = reg
    yield c
    await engine.close()


def messages(body: bytes) -> list[dict]:
    assert body.endswith(b"\r\n")
    return [json.loads(line) for line in body.split(b"\r\n") if line]


async def test_pull_stream_shapes(api):
    blob, diff = layer_tar({"f": b"x" * 1000})
    meta = api.reg.add_image("app", "1", [(blob, diff)])
    r = await api.post(f"/v1.41/images/create?fromImage={HOST}/app&tag=1", headers={"X-Registry-Auth": "e30="})
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    msgs = messages(await r.read())
    sid = digest_of(blob)[7:19]
    assert msgs[0] == {"status": "Pulling from app", "id": "1"}
    assert msgs[1] == {"status": "Pulling fs layer", "progressDetail": {}, "id": sid}
    down = [m for m in msgs if m["status"] == "Downloading"][-1]
    n = len(blob)
    assert down == {
        "status": "Downloading",
        "progressDetail": {"current": n, "total": n},
        "progress": "[" + "=" * 50 + ">] " + f"{n:>7}B/{n}B".rjust(8),
        "id": sid,
    } or down["progress"].startswith("[" + "=" * 50 + ">]")
    assert msgs[-2:] == [
        {"status": f"Digest: {meta['manifest']}"},
        {"status": f"Status: Downloaded newer image for {HOST}/app:1"},
    ]
    r = await api.get(f"/v1.41/images/{HOST}/app:1/json")
    assert (await r.json())["RepoDigests"] == [f"{HOST}/app@{meta['manifest']}"]


async def test_pull_failing_before_any_progress_is_a_plain_404(api):
    r = await api.post(f"/v1.41/images/create?fromImage={HOST}/nosuch&tag=latest")
    assert r.status == 404
    assert (await r.json())[
        "message"
    ] == f"manifest for {HOST}/nosuch:latest not found: manifest unknown: manifest unknown"


async def test_pull_failing_after_progress_ends_the_stream_with_an_error(api):
    blob, diff = layer_tar({"f": b"x" * 1000})
    api.reg.add_image("bad", "1", [(blob, diff)])
    api.reg.corrupt.add(digest_of(blob))
    r = await api.post(f"/v1.41/images/create?fromImage={HOST}/bad&tag=1")
    msgs = messages(await r.read())
    want = f"filesystem layer verification failed for digest {digest_of(blob)}"
    assert r.status == 200 and msgs[-1] == {"errorDetail": {"message": want}, "error": want}


async def test_push_ends_with_the_aux_digest(api):
    blob, diff = layer_tar({"f": b"x" * 1000})
    api.reg.add_image("app", "1", [(blob, diff)])
    await (await api.post(f"/v1.41/images/create?fromImage={HOST}/app&tag=1")).read()
    r = await api.post(f"/v1.41/images/{HOST}/app:1/tag?repo={HOST}/other&tag=2")
    assert r.status == 201
    r = await api.post(f"/v1.41/images/{HOST}/other/push?tag=2", headers={"X-Registry-Auth": "e30="})
    msgs = messages(await r.read())
    assert msgs[0] == {"status": f"The push refers to repository [{HOST}/other]"}
    assert msgs[1] == {"status": "Preparing", "progressDetail": {}, "id": diff[7:19]}
    aux = msgs[-1]
    assert set(aux) == {"progressDetail", "aux"} and aux["aux"]["Tag"] == "2"
    assert msgs[-2] == {"status": f"2: digest: {aux['aux']['Digest']} size: {aux['aux']['Size']}"}
    r = await api.post("/v1.41/images/nosuch/push?tag=latest")
    assert r.status == 404
    assert (await r.json())["message"] == "An image does not exist locally with the tag: nosuch:latest"


async def test_login_search_and_remote_inspect(api):
    api.reg.users = {"alice": "pw"}
    r = await api.post("/v1.41/auth", json={"username": "alice", "password": "pw", "serveraddress": HOST})
    assert r.status == 200 and await r.json() == {"Status": "Login Succeeded", "IdentityToken": ""}
    r = await api.post("/v1.41/auth", json={"username": "alice", "password": "bad", "serveraddress": HOST})
    assert r.status == 401 and "401 Unauthorized" in (await r.json())["message"]
    r = await api.post("/v1.41/auth", data=b"{bad")
    assert r.status == 400
    api.reg.users = {}
    r = await api.get(f"/v1.41/images/search?term={HOST}/x&limit=2")
    assert await r.json() == [
        {"star_count": 0, "is_official": True, "name": "x-0", "is_automated": False, "description": ""},
        {"star_count": 1, "is_official": False, "name": "x-1", "is_automated": False, "description": ""},
    ]
    blob, diff = layer_tar({"f": b"x"})
    meta = api.reg.add_image("app", "1", [(blob, diff)])
    creds = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode()
    r = await api.get(f"/v1.41/distribution/{HOST}/app:1/json", headers={"X-Registry-Auth": creds})
    assert await r.json() == {
        "Descriptor": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": meta["manifest"],
            "size": len(meta["raw"]),
        },
        "Platforms": [{"architecture": "amd64", "os": "linux"}],
    }
