"""`--metrics-addr`: the engine's Prometheus metrics on GET /metrics, as dockerd serves them.

Imported by the composition root only when metrics are asked for, so a daemon without them
never loads prometheus_client (docs/OPERATIONS.md has the measurement). The engine and the API
don't know this module: they report through two Protocols (engine/observe.ActionObserver,
api/instrument.HttpObserver) that Exporter implements; figures that are state (containers
by state, images, volumes, event subscribers) are read from the engine at scrape time.

Names are dockerd's (moby daemon/internal/metrics/metrics.go, through docker/go-metrics:
namespace `engine`, subsystem `daemon`, the unit as suffix) where dockerd has the figure;
the ones dockerd lacks are `shim_*`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from shim import __version__

log = logging.getLogger("shim")

# dockerd creates these series at start (metrics.go init) so dashboards see them before the first action.
CONTAINER_ACTIONS = ("start", "changes", "commit", "create", "delete")
INFO = ["version", "commit", "architecture", "graphdriver", "kernel", "os", "os_type", "os_version", "daemon_id"]


class EngineCollector(Collector):
    """Figures read from the engine when Prometheus scrapes."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        e = self._engine
        states = GaugeMetricFamily(
            "engine_daemon_container_states_containers", "The count of containers in various states", labels=["state"]
        )
        counts = e.container_counts()
        for state in ("running", "paused", "stopped"):
            states.add_metric([state], counts[state])
        yield states
        host = e.host
        info = GaugeMetricFamily(
            "engine_daemon_engine_info",
            "The information related to the engine and the OS it is running on",
            labels=INFO,
        )
        info.add_metric(
            [
                __version__,
                "",
                host.architecture,
                "overlay2",
                host.kernel_version,
                host.operating_system,
                "linux",
                host.os_version,
                e.id,
            ],
            1,
        )
        yield info
        cpus = "The number of cpus that the host system of the engine has"
        yield GaugeMetricFamily("engine_daemon_engine_cpus_cpus", cpus, value=host.ncpu)
        yield GaugeMetricFamily(
            "engine_daemon_engine_memory_bytes",
            "The number of bytes of memory that the host system of the engine has",
            value=host.mem_total,
        )
        yield CounterMetricFamily("engine_daemon_events", "The number of events logged", value=e.events.published)
        subs = "The number of current subscribers to events"
        yield GaugeMetricFamily("engine_daemon_events_subscribers_total", subs, value=e.events.listeners)
        images = e.images.count() if e.images is not None else 0
        yield GaugeMetricFamily("shim_images", "The number of images in the image store", value=images)
        volumes = e.volumes
        yield GaugeMetricFamily("shim_volumes", "The number of volumes", value=len(volumes.list()) if volumes else 0)


class Exporter:
    """The registry and the two observers the engine and the API report to."""

    def __init__(self, engine: Any) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # Go's client (dockerd) has no *_created series
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(EngineCollector(engine))
        self._actions = {
            kind: Histogram(
                f"engine_daemon_{kind}_actions_seconds",
                f"The number of seconds it takes to process each {kind} action",
                ["action"],
                registry=self.registry,
            )
            for kind in ("container", "image", "network")
        }
        for action in CONTAINER_ACTIONS:
            self._actions["container"].labels(action)
        self._requests = Counter(
            "shim_http_requests",
            "API requests answered, by method, route and status code",
            ["method", "route", "code"],
            registry=self.registry,
        )
        self._durations = Histogram(
            "shim_http_request_duration_seconds",
            "Time to answer an API request (until the handler returns; streams count whole)",
            ["method", "route"],
            registry=self.registry,
        )

    # engine.observe.ActionObserver
    def action_done(self, kind: str, action: str, seconds: float) -> None:
        histogram = self._actions.get(kind)
        if histogram is not None:
            histogram.labels(action).observe(seconds)

    # api.instrument.HttpObserver
    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._durations.labels(method, route).observe(seconds)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition the scraper asked for (Accept); text format 0.0.4 by default, as dockerd's."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def parse_addr(addr: str) -> tuple[str, int]:
    """HOST:PORT as Go's net.Listen takes it (`:9323` is every interface, `[::1]:9323` IPv6)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid metrics address {addr!r}: want HOST:PORT")
    return host.strip("[]"), int(port)


async def serve(exporter: Exporter, addr: str) -> web.AppRunner:
    """GET /metrics on its own listener (dockerd's startMetricsServer); the caller cleans the runner up."""

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exporter.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    host, port = parse_addr(addr)
    try:
        await web.TCPSite(runner, host or None, port, backlog=128).start()
    except OSError as e:
        await runner.cleanup()
        raise OSError(e.errno, f"listen tcp {addr}: bind: {e.strerror}") from None
    log.info("metrics API listening on %s", addr)
    return runner
