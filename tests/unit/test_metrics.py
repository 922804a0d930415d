"""Prometheus metrics: dockerd's names, the engine's action hook, the HTTP middleware, the lazy import."""

import subprocess
import sys

import pytest

from shim.api.server import make_app
from shim.config import Settings
from shim.engine import observe
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.store import Store
from shim.metrics import Exporter, parse_addr

HOST = HostFacts("6.1.0", "Debian GNU/Linux 12", "12", "amd64", 2, 1 << 30, "cgroupfs", "2", "h")


@pytest.fixture
def engine(tmp_path):
    return Engine(settings=Settings(data_root=str(tmp_path)), store=Store(tmp_path), events=Events(), host=HOST)


@pytest.fixture
def exporter(engine):
    ex = Exporter(engine)
    observe.set_observer(ex)
    yield ex
    observe.set_observer(None)


def test_dockerd_names_and_engine_facts(engine, exporter):
    engine.events.publish("daemon", "reload", engine.id, {})
    text = exporter.render()[0].decode()
    for state in ("running", "paused", "stopped"):
        assert f'engine_daemon_container_states_containers{{state="{state}"}} 0.0' in text
    assert f'daemon_id="{engine.id}"' in text and 'engine_daemon_engine_info{architecture="amd64"' in text
    assert "engine_daemon_engine_cpus_cpus 2.0" in text
    assert "engine_daemon_engine_memory_bytes 1.073741824e+09" in text
    assert "engine_daemon_events_total 1.0" in text and "engine_daemon_events_subscribers_total 0.0" in text
    assert "shim_images 0.0" in text and "shim_volumes 0.0" in text
    # dockerd creates the container action series at start
    assert 'engine_daemon_container_actions_seconds_count{action="create"} 0.0' in text
    assert "_created" not in text and "process_resident_memory_bytes" in text


class _Svc:
    @observe.timed("container", "start")
    async def start(self, fail: bool = False) -> str:
        if fail:
            raise RuntimeError("no")
        return "ok"

    @observe.timed("image", "history")
    def history(self) -> list[str]:
        return []


async def test_timed_actions_reach_the_observer_on_success_only(exporter):
    svc = _Svc()
    assert await svc.start() == "ok" and svc.history() == []
    with pytest.raises(RuntimeError):
        await svc.start(fail=True)
    text = exporter.render()[0].decode()
    assert 'engine_daemon_container_actions_seconds_count{action="start"} 1.0' in text
    assert 'engine_daemon_image_actions_seconds_count{action="history"} 1.0' in text


async def test_timed_without_observer_just_calls():
    assert observe.observer() is None
    assert await _Svc().start() == "ok"


async def test_http_requests_by_route_and_status(aiohttp_client, engine, exporter):
    client = await aiohttp_client(make_app(engine, http_observer=exporter))
    assert (await client.get("/v1.41/_ping")).status == 200
    assert (await client.get("/_ping")).status == 200
    assert (await client.get("/v1.41/no/such/thing")).status == 404
    assert (await client.get("/v1.99/version")).status == 400
    text = exporter.render()[0].decode()
    assert 'shim_http_requests_total{code="200",method="GET",route="/_ping"} 2.0' in text
    assert 'shim_http_requests_total{code="404",method="GET",route="other"} 1.0' in text
    assert 'shim_http_requests_total{code="400",method="GET",route="/version"} 1.0' in text
    assert 'shim_http_request_duration_seconds_count{method="GET",route="/_ping"} 2.0' in text


def test_metrics_address_forms():
    assert parse_addr("127.0.0.1:9323") == ("127.0.0.1", 9323)
    assert parse_addr(":9323") == ("", 9323) and parse_addr("[::1]:9323") == ("::1", 9323)
    with pytest.raises(ValueError, match="want HOST:PORT"):
        parse_addr("127.0.0.1")


def test_prometheus_client_not_loaded_without_metrics():
    """The daemon's modules (everything shimd imports to serve) leave prometheus_client alone."""
    code = (
        "import sys, shim.__main__, shim.app, shim.api.server, shim.listeners;"
        "from shim.api import routes; routes.collect();"
        "print('prometheus_client' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_exposition_format_negotiated(exporter):
    assert exporter.render()[1] == "text/plain; version=0.0.4; charset=utf-8"
    body, ctype = exporter.render("application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")
