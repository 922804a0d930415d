"""The composition root: the only place that builds concrete adapters and wires the Engine.

Also owns the daemon's process-level duties: pidfile, listening sockets (mode 0660,
the configured group), signal handling and a clean shutdown (state saved, socket
and pidfile removed). Containers keep running across a shimd restart: their
monitors own them, as with dockerd's live-restore.
"""

from __future__ import annotations

import asyncio
import grp
import logging
import os
import signal
import socket

from aiohttp import web

from shim.api.server import make_app
from shim.config import Settings
from shim.engine.daemon import Engine
from shim.engine.events import Events
from shim.engine.store import Store
from shim.runtime.host import read_host_facts

log = logging.getLogger("shim")


class StartupError(Exception):
    pass


def build_engine(settings: Settings) -> Engine:
    os.makedirs(settings.data_root, mode=0o711, exist_ok=True)
    os.makedirs(settings.exec_root, mode=0o700, exist_ok=True)
    store = Store(settings.data_root)
    events = Events()
    host = read_host_facts()
    services: dict = {}
    try:
        from shim.engine.images import ImageService
        from shim.runtime.layers import LayerStore
    except ImportError:  # pragma: no cover - while the image store is being built
        ImageService = None
    if ImageService is not None:
        services["images"] = ImageService(store=store, layers=LayerStore(settings.data_root), events=events)
    try:
        from shim.engine.containers import ContainerService
        from shim.runtime.runc import RuncRuntime
    except ImportError:  # pragma: no cover - while the runtime is being built
        ContainerService = None
    if ContainerService is not None:
        runtime = RuncRuntime(data_root=settings.data_root, exec_root=settings.exec_root)
        services["runtime"] = runtime
        # after images: Engine.start restores services in order, and containers need the images
        volumes = _volume_services(settings, store, events, runtime, services)
        from shim.netwiring import build_networking

        services["networks"], network = build_networking(settings, store, events)
        services["containers"] = ContainerService(
            store=store, events=events, images=services.get("images"), runtime=runtime, volumes=volumes, network=network
        )
        network.bind(services["containers"])
        _exec_and_archive_services(store, events, runtime, services)
        services["build"] = _build_service(settings, store, runtime, services)
    return Engine(settings=settings, store=store, events=events, host=host, **services)


def _volume_services(settings: Settings, store: Store, events: Events, runtime, services: dict):
    """Volumes (local driver) and the rootfs file access they share with archive/commit."""
    from shim.engine.volumes import VolumeService
    from shim.runtime.rootfs_io import RootfsIO
    from shim.runtime.volumefs import LocalVolumeFS

    services["rootfs_io"] = RootfsIO(runtime)
    services["volumes"] = VolumeService(
        store=store,
        events=events,
        fs=LocalVolumeFS(settings.data_root),
        rootfs=services["rootfs_io"],
        protected_roots=[settings.data_root, settings.exec_root],
    )
    return services["volumes"]


def _build_service(settings: Settings, store: Store, runtime, services: dict):
    """The classic builder: RUN through the container service, files through its own adapter."""
    from shim.engine.build.service import BuildService
    from shim.runtime.build_files import BuildFiles

    return BuildService(
        images=services["images"],
        containers=services["containers"],
        runtime=runtime,
        files=BuildFiles(settings.data_root),
        store=store,
    )


def _exec_and_archive_services(store: Store, events: Events, runtime, services: dict) -> None:
    from shim.engine.archive import ArchiveService

    services["archive"] = ArchiveService(
        containers=services["containers"],
        volumes=services.get("volumes"),
        rootfs=services["rootfs_io"],
        images=services.get("images"),
        events=events,
    )
    try:
        from shim.engine.execs import ExecService
        from shim.runtime.execproc import ExecRuntime
    except ImportError:  # pragma: no cover - while exec is being built
        return
    services["execs"] = ExecService(containers=services["containers"], events=events, runtime=ExecRuntime(runtime))
    # the seed's Cleanup unregisters exec sessions with the rest of the teardown
    services["containers"].add_cleanup_hook(services["execs"].release_container)
    # healthchecks probe through exec (engine/health.py)
    from shim.engine.health import exec_probe

    services["containers"].set_health_probe(exec_probe(ExecRuntime(runtime)))


def _unix_path(host: str) -> str:
    if not host.startswith("unix://"):
        raise StartupError(f"unsupported host {host!r}: only unix://PATH is supported")
    return host[len("unix://") :]


def _claim_socket(path: str) -> None:
    """Refuse to steal a live daemon's socket; remove a stale one left by a crash."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise StartupError(f"listen unix {path}: bind: address already in use")


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


def _secure_socket(path: str, group: str) -> None:
    gid = -1
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        if group != "docker":
            log.warning("group %s not found; socket stays owned by root", group)
    if gid >= 0:
        os.chown(path, 0, gid)
    os.chmod(path, 0o660)


async def serve(settings: Settings) -> None:
    engine = build_engine(settings)
    paths = [_unix_path(h) for h in settings.hosts]
    for p in paths:
        _claim_socket(p)
    _write_pidfile(settings.pidfile)
    await engine.start()
    app = make_app(engine)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    # A generous backlog: asyncio clients opening many connections at once fail with a small one.
    for p in paths:
        site = web.UnixSite(runner, p, backlog=1024)
        await site.start()
        _secure_socket(p, settings.group)
        log.info("API listen on %s", p)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
        await engine.close()
        for p in paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        try:
            os.unlink(settings.pidfile)
        except FileNotFoundError:
            pass
