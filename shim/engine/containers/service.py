"""Engine layer (containers): the public verbs, dockerd's daemon/{create,start,stop,kill,delete,…}.go.

Every verb runs the same way: look the container up, ask the transition table (engine/state.py)
whether the action fits its status (409/304 with dockerd's wording), then the runtime, then
save the container and publish its event. Operations on one container are serialised by the
lock in its runtime record (record.py); the rooms beside this one do the rest: lifecycle.py
(start, exit, restart policy), recovery.py (create's and removal's steps, daemon start),
stopping.py (stop, kill), update.py, waiters.py, streams.py (attach and logs), facts.py
(inspect and list), sizes.py (stats and sizes).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from shim.engine import containerconfig as cc
from shim.engine import hostsfiles as hf
from shim.engine import logconfig, names, validation
from shim.engine.container_io import AttachSession
from shim.engine.containers import update
from shim.engine.containers.core import BindsOnly, Core
from shim.engine.containers.facts import Facts
from shim.engine.containers.lifecycle import Lifecycle
from shim.engine.containers.record import Live, Registry, WaitResult
from shim.engine.containers.recovery import Recovery
from shim.engine.containers.sizes import Sizes
from shim.engine.containers.stopping import Stopping
from shim.engine.containers.streams import Streams
from shim.engine.containers.waiters import Waiters
from shim.engine.events import Events
from shim.engine.health import ProbeFn
from shim.engine.model import Container, CreateSpec
from shim.engine.observe import timed
from shim.engine.ports import ImagesPort, LogChunk, LogQuery, NetworkingPort, Runtime, VolumesPort
from shim.engine.security import SecurityPolicy
from shim.engine.signals import parse_signal
from shim.engine.state import check
from shim.engine.store import Store
from shim.errors import (
    Conflict,
    InvalidParameter,
    NotModified,
    ShimError,
    SystemFailure,
    no_such_container,
    no_such_image,
)

log = logging.getLogger("shim.containers")

HOSTCONFIG_ON_START_WINDOWS = "Supplying a hostconfig on start is not supported. It should be supplied on create"


class ContainerService:
    def __init__(
        self,
        *,
        store: Store,
        events: Events,
        images: ImagesPort | None,
        runtime: Runtime,
        volumes: VolumesPort | None = None,
        network: NetworkingPort | None = None,
        security: SecurityPolicy | None = None,
        log_defaults: dict[str, Any] | None = None,
        limits: validation.HostLimits | None = None,
    ) -> None:
        """`volumes`: the seed's mount steps (register at create, start_mounts, release, forget);
        without it only host-path binds are mounted. `network`: connect at start, release after
        the process ended, forget at remove, inspect's NetworkSettings. `log_defaults`: the
        daemon's LogConfig (--log-driver/--log-opt), merged into each container's at create.
        `limits`: the host facts (CPUs, capabilities, runtimes) requests are checked against."""
        table = Registry()
        core = Core(
            store=store,
            events=events,
            runtime=runtime,
            images=images,
            volumes=volumes if volumes is not None else BindsOnly(table),
            network=network,
            table=table,
            security=security or SecurityPolicy(),
        )
        self._core, self._table, self._images = core, table, images
        self.log_defaults: dict[str, Any] = dict(log_defaults or {"Type": logconfig.DEFAULT_DRIVER, "Config": {}})
        self._limits = limits or validation.HostLimits(ncpu=os.cpu_count() or 1)
        self._waiters = Waiters(table)
        self._streams = Streams(core)
        self._sizes = Sizes(core)
        self._facts = Facts(core, self._sizes)
        self._life = Lifecycle(core, self._waiters, self._streams, self._remove_forced, self._remove_at_exit)
        self._recovery = Recovery(core, self._life, self._remove_forced)
        self._stopping = Stopping(core, self._life, self._waiters)
        if images is not None:
            images.set_usage(self.image_usage)

    # ------------------------------------------------------------ wiring for other services

    def set_health_probe(self, probe: ProbeFn) -> None:
        """The exec service gives a way to run a command in a container: healthchecks start then."""
        self._life.set_health_probe(probe)

    def add_cleanup_hook(self, fn: Callable[[str], Awaitable[None]]) -> None:
        """Called with the container ID in the seed's Cleanup, after the runtime's."""
        self._life.cleanup_hooks.append(fn)

    async def add_exec(self, ref: str, exec_id: str) -> Container:
        """Register an exec session (inspect's ExecIDs) if the container can run one."""
        c = self.get(ref)
        check(c.state.status, "exec", c.id, ref)
        c.exec_ids.append(exec_id)
        return c

    # ------------------------------------------------------------ lookup

    @property
    def platform(self) -> str:
        return self._core.runtime.platform

    def get(self, ref: str) -> Container:
        """By full ID, exact name (with or without /), or unique ID prefix (dockerd's order)."""
        return self._table.get(ref)

    def all(self) -> list[Container]:
        """Newest first, as dockerd's list."""
        return self._table.all()

    def image_usage(self, image_id: str) -> list[tuple[str, bool]]:
        return self._facts.image_usage(image_id)

    def _lock(self, c: Container) -> asyncio.Lock:
        return self._table.live(c.id).lock

    # ------------------------------------------------------------ inspect, list, figures

    async def inspect(self, ref: str, *, size: bool = False) -> tuple[Container, dict[str, Any]]:
        """GET /containers/{id}/json: the container and its extra facts (with sizes when asked)."""
        c = self.get(ref)
        extra = self._facts.extra(c)
        if size:
            extra.update(await self._sizes.sizes(c))
        return c, extra

    def extra(self, c: Container) -> dict[str, Any]:
        """What inspect shows beyond the container record (paths, mounts, network settings)."""
        return self._facts.extra(c)

    @property
    def facts(self) -> Facts:  # the list's and inspect's room: matching, listing, extra, revision
        return self._facts

    async def size_rw(self, c: Container) -> int:
        return await self._sizes.size_rw(c)

    async def sizes(self, c: Container) -> dict[str, int]:
        return await self._sizes.sizes(c)

    def stats(self, ref: str, stream: bool = True, one_shot: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Stats bodies: one (stream=False) or one per second; 404 raised here, before any output."""
        return self._sizes.stats(self.get(ref), stream, one_shot)

    # ------------------------------------------------------------ create

    @timed("container", "create")
    async def create(self, spec: CreateSpec) -> tuple[Container, list[str]]:
        table = self._table
        config = cc.normalize_config(spec.config)
        host_config = cc.normalize_host_config(spec.host_config)
        # The one validation pass, on the request's own Config (dockerd's order: before the image's
        # is merged), before anything is reserved or written.
        logs = functools.partial(logconfig.verify, defaults=self.log_defaults)
        warnings = validation.container_create(
            config, host_config, self._limits, self.get, security=self._core.security.validate, log_config=logs
        )
        self._core.check_networking(config, host_config, spec.networking_config or {})
        image_ref = config.get("Image") or ""
        if spec.name:
            name = names.validate(spec.name)
            table.check_name_free(name)
        else:
            name = table.generate_name()
        images = self._core.images
        if not image_ref or images is None:
            raise no_such_image(image_ref)
        info = images.image_for_container(image_ref)
        self._core.security.fill_defaults(host_config)  # the daemon's cgroupns default, before dockerd's others
        cc.merge_image_config(config, info.config)
        path, args = cc.command(config)
        cc.adapt_host_config(host_config, create=True)
        cid = table.new_id()
        if not config.get("Hostname"):
            # dockerd: the short ID, or the host's own name with --network host
            host_mode = (host_config.get("NetworkMode") or "") == "host"
            config["Hostname"] = os.uname().nodename if host_mode else cid[:12]
        # Reserve the name before anything else yields (volumes will).
        if spec.name:
            table.check_name_free(name)
        elif table.name_taken(name):
            name = table.generate_name()
        table.reserve_name(name, cid)
        c = Container(
            id=cid,
            name=name,
            created=time.time_ns(),
            path=path,
            args=args,
            config=config,
            host_config=host_config,
            networking_config=spec.networking_config or {},
            image_id=info.id,
            layer_dirs=list(info.layer_dirs),
            platform=self.platform,
        )
        await self._recovery.record_create(c, self.get)
        self._core.event(c, "create")
        return c, warnings + list(spec.warnings)

    # ------------------------------------------------------------ start

    @timed("container", "start")
    async def start(self, ref: str, host_config: dict[str, Any] | None = None) -> None:
        """ContainerStart as the seed: validate state, legacy HostConfig, verify, then start."""
        c = self.get(ref)
        async with self._lock(c):
            check(c.state.status, "start", c.id, ref)
            if host_config is not None:
                if self.platform == "windows":
                    raise InvalidParameter(HOSTCONFIG_ON_START_WINDOWS)
                await self._set_host_config(c, host_config)
            validation.container_start(c.host_config, self._limits)
            await self._life.start(c, manual=True)

    async def _set_host_config(self, c: Container, hc: dict[str, Any]) -> None:
        """setHostConfig: the start-time HostConfig replaces the container's (not merged), persisted."""
        log.warning(
            "DEPRECATED: Setting host configuration options when the container starts is deprecated "
            "and has been removed in Docker 1.12 (container %s)",
            c.id,
        )
        new = cc.normalize_host_config(hc)
        new["LogConfig"] = logconfig.verify(new.get("LogConfig"), self.log_defaults)
        if not new.get("NetworkMode"):
            new["NetworkMode"] = "default"
        c.host_config = new
        await self._core.volumes.register(c, self.get)  # registers the new binds, as setHostConfig
        await self._core.save(c)

    # ------------------------------------------------------------ wait

    def wait(self, ref: str, condition: str = "not-running") -> asyncio.Future[WaitResult]:
        """A future of (exit_code, error) for the condition; registered now, so the CLI's
        wait-before-start sees the exit of the start that follows."""
        return self._waiters.wait(self.get(ref), condition)

    # ------------------------------------------------------------ stop / kill / restart

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        check(c.state.status, "stop", c.id, ref)
        await self._stopping.stop(c, timeout, sig)
        self._core.event(c, "stop")

    async def kill(self, ref: str, sig: str | None = None, *, stopped_is_error: bool = True) -> None:
        try:
            c = self.get(ref)
            signum = parse_signal(sig)
            try:
                check(c.state.status, "kill", c.id, ref)
            except Conflict:
                if not stopped_is_error:
                    return  # API < 1.20: killing a stopped container was not an error
                raise
        except ShimError as e:
            raise type(e)(f"Cannot kill container: {ref}: {e.message}") from None
        await self._stopping.kill(c, signum)

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        check(c.state.status, "restart", c.id, ref)
        live = self._table.live(c.id)
        # dockerd's containerRestart turns AutoRemove off meanwhile: the stop must not remove it.
        live.restarting_by_hand = True
        try:
            if c.state.running:
                await self._stopping.stop(c, timeout, sig)
            async with live.lock:
                try:
                    await self._life.start(c, manual=True)
                except NotModified:
                    pass  # started by someone else meanwhile: containerStart returns nil then
        finally:
            live.restarting_by_hand = False
        self._core.event(c, "restart")

    # ------------------------------------------------------------ pause

    async def pause(self, ref: str) -> None:
        await self._set_paused(ref, True)

    async def unpause(self, ref: str) -> None:
        await self._set_paused(ref, False)

    async def _set_paused(self, ref: str, paused: bool) -> None:
        rt = self._core.runtime
        action, op = ("pause", rt.pause) if paused else ("unpause", rt.resume)
        c = self.get(ref)
        async with self._lock(c):
            to = check(c.state.status, action, c.id, ref)
            await self._runtime_op(c, op)
            before = c.state.paused, c.state.status
            c.state.paused, c.state.status = paused, to.value

            async def undo() -> None:
                c.state.paused, c.state.status = before
                await (rt.resume if paused else rt.pause)(c.id)

            await self._core.save_or_undo(c, undo)
            self._core.event(c, action)

    async def _runtime_op(self, c: Container, op: Callable[[str], Awaitable[None]]) -> None:
        """A runtime call on a container whose process may have just ended (its exit not handled yet):
        then it is dockerd's 409 "not running", not a 500."""
        try:
            await op(c.id)
        except SystemFailure:
            rs = await self._core.runtime.state(c.id)
            if rs.status not in ("running", "paused"):
                raise Conflict(f"Container {c.id} is not running") from None
            raise

    # ------------------------------------------------------------ remove

    @timed("container", "delete")
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        live = self._table.live(c.id)
        for _ in range(5):
            check(c.state.status, "force-remove" if force else "remove", c.id, ref)
            if c.state.running:
                await self._stopping.kill_for_removal(c)
            async with live.lock:
                if c.id not in self._table:
                    return
                if c.state.running:
                    continue  # started again while we waited for the lock: kill that run too
                await self._recovery.remove(c, live, volumes)
                break

    async def remove_link(self, ref: str) -> None:
        """DELETE /containers/{parent}/{alias}?link=1: drop a legacy link (daemon/delete.go rmLink)."""
        full = ref if ref.startswith("/") else "/" + ref
        parent_name, _, alias = full.rpartition("/")
        if not parent_name:
            self.get(ref)  # an unknown name is a 404 first, as dockerd's GetContainer
            raise SystemFailure("Conflict, cannot remove the default link name of the container")
        parent = self.get(parent_name)
        links = list(parent.host_config.get("Links") or [])
        kept = [spec for spec in links if hf.parse_link(spec)[1] != alias]
        if len(kept) == len(links):
            raise no_such_container(ref)
        async with self._lock(parent):
            parent.host_config["Links"] = kept or None
            await self._core.save(parent)

    async def _remove_forced(self, c: Container, volumes: bool) -> None:
        await self.remove(c.id, force=True, volumes=volumes)

    async def _remove_at_exit(self, c: Container, live: Live) -> None:
        """AutoRemove, in the exit's hold of the lock (Lifecycle's `retire`; Recovery is made after it)."""
        await self._recovery.remove_at_exit(c, live)

    # ------------------------------------------------------------ rename / update / prune

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        try:
            new = names.validate("/" + new_name.lstrip("/"))
        except InvalidParameter as e:
            # dockerd's reserveName sees the slashed name; rename wraps its error
            raise InvalidParameter(f"Error when allocating new name: {e}") from None
        if new == c.name:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        async with self._lock(c):
            check(c.state.status, "rename", c.id, ref)
            old = self._table.rename(c, new)
            await self._core.save(c)
            if self._core.network is not None:
                await self._core.network.rename(c.id, new)  # DNS names on user networks follow the container's name
            self._core.event(c, "rename", oldName="/" + old)

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        return await update.apply(self._core, self._limits, self.get(ref), ref, body)

    async def prune(self, keep: Callable[[Container], bool]) -> tuple[list[str], int]:
        """Remove every stopped container `keep` does not protect; returns (ids, bytes reclaimed)."""
        deleted, reclaimed = [], 0
        for c in self.all():
            if c.state.running or c.state.removal_in_progress or keep(c):
                continue
            size = await self._sizes.size_rw(c)
            try:
                await self.remove(c.id)
            except ShimError as e:
                log.warning("prune %s: %s", c.id, e)
                continue
            deleted.append(c.id)
            reclaimed += size
        self._core.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return deleted, reclaimed

    # ------------------------------------------------------------ top / resize

    async def top(self, ref: str, ps_args: str = "") -> tuple[list[str], list[list[str]]]:
        c = self.get(ref)
        check(c.state.status, "top", c.id, ref)
        return await self._core.runtime.top(c.id, ps_args)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        check(c.state.status, "resize", c.id, ref)
        await self._core.runtime.resize(c.id, height, width)
        self._core.event(c, "resize", height=str(height), width=str(width))

    # ------------------------------------------------------------ logs and attach

    async def logs(self, ref: str, query: LogQuery) -> AsyncIterator[LogChunk]:
        if not (query.stdout or query.stderr):
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        return self._streams.logs(self.get(ref), query)

    @staticmethod
    def logs_readable(c: Container) -> bool:
        """Whether the container's log driver can be read back (attach's logs replay skips it)."""
        return logconfig.readable(c.host_config.get("LogConfig") or {})

    async def check_attachable(self, ref: str) -> Container:
        """daemon.ContainerAttach's refusals, before the hijack, once a just-ended process's exit is in."""
        c = await self._life.settled(self.get(ref))
        check(c.state.status, "attach", c.id, ref)
        return c

    async def attach(self, ref: str, *, stream: bool = True) -> AttachSession:
        """Connect to the container's stdio; attached before start (docker run), it connects at start."""
        return await self._streams.attach(self.get(ref), stream=stream)

    # ------------------------------------------------------------ daemon start / stop

    async def restore(self) -> None:
        await self._recovery.restore()

    async def after_restore(self) -> None:
        await self._recovery.after_restore()

    async def close(self) -> None:
        await self._life.close()
        await self._recovery.settle()
