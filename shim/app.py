"""The composition root: the only place that builds concrete adapters and wires the Engine.

Also owns the daemon's process-level duties: pidfile, the API listeners (shim/listeners.py:
unix, tcp with TLS, systemd's fds), the metrics listener, signal handling (SIGTERM/SIGINT
stop, SIGHUP reloads daemon.json) and a clean shutdown (state saved, socket and pidfile
removed). Containers keep running across a shimd restart: their monitors own them, as with
dockerd's live-restore.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import time
from typing import Any

from aiohttp import web

from shim import config, listeners, systemd
from shim.api.server import PROTOCOL_LIMITS, make_app
from shim.config import Settings
from shim.engine import observe
from shim.engine import reload as reloading
from shim.engine.archive import ArchiveService
from shim.engine.build.service import BuildService
from shim.engine.containers import ContainerService
from shim.engine.daemon import Engine
from shim.engine.distribution.blobindex import BlobIndex
from shim.engine.distribution.registries import policy_of
from shim.engine.distribution.service import DistributionService
from shim.engine.events import Events
from shim.engine.execs import ExecService
from shim.engine.health import exec_probe
from shim.engine.images import ImageService
from shim.engine.networks import ContainerNetworking, NetworkService
from shim.engine.security import BUILTIN, UNCONFINED, SecurityPolicy
from shim.engine.store import Store
from shim.engine.volumes import VolumeService
from shim.errors import InvalidParameter
from shim.listeners import StartupError
from shim.runtime import seccomp
from shim.runtime.build_files import BuildFiles
from shim.runtime.dns import EmbeddedDns
from shim.runtime.execproc import ExecRuntime
from shim.runtime.host import read_host_facts, read_limits
from shim.runtime.iptables import Firewall
from shim.runtime.layers import LayerStore
from shim.runtime.netfiles import NetFiles
from shim.runtime.netlink import Netlink
from shim.runtime.portreserve import PortReserver
from shim.runtime.registry.client import AiohttpRegistry
from shim.runtime.rootfs_io import RootfsIO
from shim.runtime.runc import RuncRuntime
from shim.runtime.volumefs import LocalVolumeFS

log = logging.getLogger("shim")

__all__ = ["StartupError", "build_engine", "serve"]


def build_engine(settings: Settings) -> Engine:
    """Every adapter and service of a running daemon, wired; Engine.start restores them in order."""
    os.makedirs(settings.data_root, mode=0o711, exist_ok=True)
    os.makedirs(settings.exec_root, mode=0o700, exist_ok=True)
    store = Store(settings.data_root)
    events = Events()
    host = read_host_facts()
    runtime = RuncRuntime(data_root=settings.data_root, exec_root=settings.exec_root)
    rootfs = RootfsIO(runtime)
    layers = LayerStore(settings.data_root)
    images = ImageService(store=store, layers=layers, events=events, host_arch=host.architecture)
    distribution = _distribution_service(settings, store, images, layers)
    volumes = VolumeService(
        store=store,
        events=events,
        fs=LocalVolumeFS(settings.data_root),
        rootfs=rootfs,
        protected_roots=[settings.data_root, settings.exec_root],
    )
    networks = _network_service(settings, store, events)
    network = ContainerNetworking(networks)
    containers = ContainerService(
        store=store,
        events=events,
        images=images,
        runtime=runtime,
        volumes=volumes,
        network=network,
        security=_security_policy(settings),
        log_defaults={"Type": settings.log_driver, "Config": dict(settings.log_opts)},
        limits=read_limits(),
    )
    network.bind(containers.get)  # container:<ref> network modes and --link targets
    archive = ArchiveService(containers=containers, volumes=volumes, rootfs=rootfs, images=images, events=events)
    # exec sessions are released when their container's `die` reaches the exec service (engine/execs.py)
    execs = ExecService(containers=containers, events=events, runtime=ExecRuntime(runtime))
    # healthchecks probe through exec (engine/health.py)
    containers.set_health_probe(exec_probe(ExecRuntime(runtime)))
    # the classic builder: RUN through the container service, files through its own adapter
    build = BuildService(
        images=images,
        containers=containers,
        runtime=runtime,
        files=BuildFiles(settings.data_root),
        store=store,
        distribution=distribution,
    )
    return Engine(
        settings=settings,
        store=store,
        events=events,
        host=host,
        images=images,
        distribution=distribution,
        containers=containers,
        volumes=volumes,
        networks=networks,
        archive=archive,
        execs=execs,
        build=build,
    )


def _distribution_service(
    settings: Settings, store: Store, images: ImageService, layers: LayerStore
) -> DistributionService:
    """Pull, push, login and search through the registry HTTP API v2 (aiohttp client)."""
    # both read the settings object at each use: a SIGHUP reload of the registry keys applies
    return DistributionService(
        images=images,
        layers=layers,
        registry=AiohttpRegistry(lambda: policy_of(settings)),
        blobs=BlobIndex(store),
        host_arch=images.host_arch,
        options=settings,
    )


def _security_policy(settings: Settings) -> SecurityPolicy:
    """--seccomp-profile / --no-new-privileges; a profile file is read and checked once, at start
    (dockerd reads it at start too, but only finds a bad one when a container starts)."""
    policy = SecurityPolicy(
        seccomp_profile=settings.seccomp_profile,
        no_new_privileges=settings.no_new_privileges,
        cgroupns_mode=settings.default_cgroupns_mode,
        known_syscall=seccomp.syscall_known,
        native_arch=seccomp.native_seccomp_arch(),
    )
    path = settings.seccomp_profile
    if path not in (BUILTIN, UNCONFINED):
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise StartupError(f"opening seccomp profile ({path}) failed: {e.strerror or e}") from None
        try:
            policy.seccomp_default = policy.check_profile(text)
        except InvalidParameter as e:
            raise StartupError(f"seccomp profile ({path}): {e}") from None
    return policy


def _network_service(settings: Settings, store: Store, events: Events) -> NetworkService:
    """NetworkService on its adapters; the bridge name tags our links and chains (docs/NETWORKING.md)."""
    tag = settings.bridge or "shim0"
    netlink = Netlink(settings.exec_root, tag)
    return NetworkService(
        store=store,
        events=events,
        settings=settings,
        netlink=netlink,
        firewall=Firewall(tag),
        dns=EmbeddedDns(netlink.socket_in_netns),
        ports=PortReserver(),
        files=NetFiles(),
        data_root=settings.data_root,
    )


def _write_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            old = int(f.read().strip() or 0)
    except (OSError, ValueError):
        old = 0
    if old and old != os.getpid():
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            pass
        else:
            raise StartupError(f"pid file found, ensure shimd is not running or delete {path}")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(str(os.getpid()))


# The default executor runs every blocking call (to_thread): store writes, mounts, netlink, files.
# Python's default (cores + 4: 6 here) queued the steps of a burst of parallel starts behind one
# another (issue 17, docs/PERFORMANCE.md "parallel starts"); threads are made only when all are busy.
DEFAULT_THREADS = 16


def _default_executor() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=DEFAULT_THREADS, thread_name_prefix="asyncio")


async def serve(settings: Settings) -> None:
    executor = _default_executor()
    asyncio.get_running_loop().set_default_executor(executor)
    hosts = listeners.plan(settings)  # bad hosts, TLS files or an unauthenticated TCP listener: fail now
    metrics = _metrics_module(settings)
    engine = await asyncio.to_thread(build_engine, settings)  # reads host facts, runs `runc --version`
    exporter = metrics.Exporter(engine) if metrics is not None else None
    observe.set_observer(exporter)
    _write_pidfile(settings.pidfile)  # before the try: another daemon's pidfile is not ours to remove
    serving = listeners.Serving([])
    runners: list[web.AppRunner] = []
    started = False
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()
    # From now on a SIGHUP reloads (its default action would kill the daemon while it starts).
    loop.add_signal_handler(signal.SIGHUP, _on_hup, engine, settings, reloads)
    try:
        serving = listeners.Serving(listeners.open_listeners(settings, hosts))
        if metrics is not None:
            try:
                runners.append(await metrics.serve(exporter, settings.metrics_addr))
            except OSError as e:
                raise StartupError(str(e)) from None
        started = True
        await engine.start()
        app = make_app(engine, http_observer=exporter)
        app.on_response_prepare.append(_QuietSpell(executor).on_response)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            **PROTOCOL_LIMITS,
        )
        runners.insert(0, runner)
        await runner.setup()
        _freeze_heap()
        await serving.start(runner, settings)
        systemd.notify("READY=1")
        guard = _blocking_guard()  # opt-in (SHIM_BLOCKING_GUARD=1): serving only, start and stop are not watched
        await _wait_for_stop()
        if guard is not None:
            guard.deactivate()
        systemd.notify("STOPPING=1")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        for task in reloads:
            task.cancel()
        try:
            serving.stop_accepting()
            for r in runners:
                await r.cleanup()
            await serving.close()
            if started:
                await engine.close()
        finally:
            observe.set_observer(None)
            try:
                os.unlink(settings.pidfile)
            except FileNotFoundError:
                pass


def _freeze_heap() -> None:
    """Leave what the start built (modules, classes, the restored state: ~all the heap) out of
    every later garbage collection. A full collection walks every tracked object; with the whole
    daemon in it one took ~36 ms of CPU, one per ~10 container starts (issue 17, third pass).
    What is garbage now is collected first; what is frozen lives as long as the daemon."""
    gc.collect()
    gc.freeze()


class _QuietSpell:
    """What a burst of requests left behind, let go once the API has been quiet for QUIET seconds.

    - The default executor's threads: ThreadPoolExecutor never ends an idle thread, and a burst of
      starts makes all DEFAULT_THREADS of them, each keeping its touched stack and thread state
      (issue 17). The loop gets a fresh executor (threads made again on demand); the old one is
      shut down without waiting, so what it still runs or has queued finishes on its threads,
      which then end.
    - The heap: glibc keeps freed memory in its arenas; malloc_trim(0) gives back every free page.

    One timer, armed by the first response after a quiet spell and re-armed while responses keep
    coming: an idle daemon does nothing at all."""

    QUIET = 2.0  # seconds without a response

    def __init__(self, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._executor = executor  # the loop's default executor: this object replaces it
        self._last = 0.0
        self._armed = False
        self._trim: Any = None
        with contextlib.suppress(OSError, AttributeError):
            self._trim = ctypes.CDLL(None).malloc_trim

    async def on_response(self, _request: web.Request, _response: web.StreamResponse) -> None:
        self._last = time.monotonic()
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_later(self.QUIET, self._fire)

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._last + self.QUIET - time.monotonic()
        if wait > 0:
            loop.call_later(wait, self._fire)
            return
        self._armed = False
        old, self._executor = self._executor, _default_executor()
        loop.set_default_executor(self._executor)
        if self._trim is not None:
            # ~1 ms, more with a large heap: off the event loop (it trims every arena from any thread)
            old.submit(self._trim, 0)
        old.shutdown(wait=False)


def _blocking_guard() -> Any:
    """shim.blockguard, active, when the environment asks for it (tests); None otherwise, and then
    blockbuster (a test dependency) is never imported."""
    if os.environ.get("SHIM_BLOCKING_GUARD") != "1":
        return None
    from shim import blockguard

    return blockguard.from_environment()


def _metrics_module(settings: Settings) -> Any:
    """shim.metrics, imported only when asked for: without --metrics-addr prometheus_client is never loaded."""
    if not settings.metrics_addr:
        return None
    from shim import metrics

    try:
        metrics.parse_addr(settings.metrics_addr)
    except ValueError as e:
        raise StartupError(str(e)) from None
    return metrics


async def _wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _on_hup(engine: Engine, settings: Settings, tasks: set[asyncio.Task[None]]) -> None:
    task = asyncio.get_running_loop().create_task(reload_config(engine, settings))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def reload_config(engine: Engine, settings: Settings) -> None:
    """SIGHUP: daemon.json read again and its reloadable keys applied (dockerd's reloadConfig)."""
    log.info('Got signal to reload configuration config-file="%s"', settings.config_file)
    systemd.notify(systemd.reloading_state())
    try:
        new, was_set = await asyncio.to_thread(config.reload, settings)
    except config.ConfigError as e:
        log.error("Error reloading configuration: %s", e)
    else:
        attrs = reloading.apply(settings, new, was_set)
        logging.getLogger().setLevel(config.python_log_level(settings.effective_log_level))
        reloading.publish_reload(engine.events, engine.id, engine.host.hostname, attrs)
        log.info("Reloaded configuration: %s", json.dumps(attrs, sort_keys=True))
    finally:
        systemd.notify("READY=1")
