"""The API layer through aiohttp's test client, with a minimal engine: versions, errors, headers."""

import pytest
from aiohttp import web

from shim.api import routes
from shim.api.server import make_app
from shim.api.validate import json_body
from shim.config import Settings
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.store import Store
from shim.errors import Conflict, NotModified, no_such_image


async def _boom_conflict(request):
    raise Conflict("You cannot remove a running container abc")


async def _boom_304(request):
    raise NotModified()


async def _boom_404(request):
    raise no_such_image("busybox:nope")


async def _boom_bug(request):
    return {}["missing"]


async def _echo(request):
    body = await json_body(request)
    return web.json_response(body)


@pytest.fixture
async def client(aiohttp_client, tmp_path, monkeypatch):
    extra = [
        ("POST", "/t/conflict", _boom_conflict),
        ("POST", "/t/304", _boom_304),
        ("GET", "/t/404", _boom_404),
        ("GET", "/t/bug", _boom_bug),
        ("POST", "/t/echo", _echo),
    ]
    real = routes.collect
    monkeypatch.setattr(routes, "collect", lambda: real() + extra)
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(settings=Settings(data_root=str(tmp_path)), store=Store(tmp_path), events=Events(), host=host)
    return await aiohttp_client(make_app(engine))


async def test_ping_head_has_no_body_and_dockerd_headers(client):
    r = await client.head("/_ping")
    assert r.status == 200 and await r.read() == b""
    assert r.headers["Api-Version"] == "1.56" and r.headers["Ostype"] == "linux"
    assert r.headers["Cache-Control"] == "no-cache, no-store, must-revalidate" and r.headers["Pragma"] == "no-cache"
    r = await client.get("/v1.41/_ping")
    assert await r.text() == "OK"


@pytest.mark.parametrize("prefix", ["", "/v1.12", "/v1.24", "/v1.41", "/v1.50", "/v1.56"])
async def test_version_answers_on_every_prefix(client, prefix):
    r = await client.get(prefix + "/version")
    assert r.status == 200
    body = await r.json()
    assert body["ApiVersion"] == "1.56" and body["MinAPIVersion"] == "1.12"


async def test_out_of_range_versions(client):
    r = await client.get("/v1.57/version")
    assert r.status == 400
    assert await r.json() == {"message": "client version 1.57 is too new. Maximum supported API version is 1.56"}
    r = await client.get("/v1.11/version")
    assert r.status == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert (await r.text()).startswith("client version 1.11 is too old. Minimum supported API version is 1.12")


async def test_error_mapping(client):
    r = await client.post("/v1.41/t/conflict")
    assert r.status == 409 and await r.json() == {"message": "You cannot remove a running container abc"}
    r = await client.post("/v1.41/t/304")
    assert r.status == 304 and await r.read() == b""
    r = await client.get("/t/404")
    assert r.status == 404 and (await r.json())["message"] == "No such image: busybox:nope"


async def test_errors_are_plain_text_up_to_1_23(client):
    r = await client.post("/v1.23/t/conflict")
    assert r.status == 409 and r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert await r.text() == "You cannot remove a running container abc\n"


async def test_internal_fault_is_500_json_not_a_trace(client):
    r = await client.get("/t/bug")
    assert r.status == 500
    body = await r.json()
    assert "Traceback" not in body["message"]


async def test_unknown_route(client):
    r = await client.get("/v1.41/nosuchendpoint")
    assert r.status == 404 and await r.json() == {"message": "page not found"}
    assert "Api-Version" not in r.headers


async def test_malformed_json_is_400(client):
    r = await client.post("/t/echo", data=b"{bad json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["message"].startswith("invalid JSON")
    r = await client.post("/t/echo", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status == 400
    assert (await r.json())["message"] == "Content-Type specified (text/plain) must be 'application/json'"


async def test_info_has_what_the_cli_reads(client):
    body = await (await client.get("/info")).json()
    for key in (
        "Containers",
        "ContainersRunning",
        "Images",
        "NCPU",
        "MemTotal",
        "KernelVersion",
        "OSType",
        "Architecture",
        "DockerRootDir",
        "Driver",
        "Runtimes",
        "CgroupDriver",
        "CgroupVersion",
        "Name",
        "ID",
        "ServerVersion",
        "Swarm",
        "RegistryConfig",
        "Plugins",
    ):
        assert key in body
    assert body["Driver"] == "overlay2" and body["NCPU"] == 2


async def test_openapi_description_is_served(client):
    """GET /shim/openapi.yaml: Docker's 1.56 description, with shimd's preamble."""
    import yaml

    r = await client.get("/shim/openapi.yaml")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/yaml")
    doc = yaml.safe_load(await r.text())
    assert doc["swagger"] == "2.0" and doc["info"]["version"] == "1.56" and "/containers/{id}/json" in doc["paths"]


async def test_swarm_endpoints_answer_not_part_of_a_swarm(client):
    for method, path in (("POST", "/v1.41/swarm/leave?force=true"), ("GET", "/v1.56/services"), ("GET", "/nodes")):
        r = await client.request(method, path)
        assert r.status == 503 and await r.json() == {"message": "This node is not part of a swarm"}
    r = await client.get("/v1.24/secrets")
    assert r.status == 400 and (await r.json())["message"] == "GET /secrets requires minimum API version 1.25"
    r = await client.delete("/v1.41/plugins/foo:latest")
    assert r.status == 404 and await r.json() == {"message": 'plugin "foo:latest" not found'}
