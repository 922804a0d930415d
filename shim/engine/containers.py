"""Engine layer: the container service, dockerd's daemon/{create,start,stop,kill,delete,…}.go.

Every transition goes through state.check (409/304 with dockerd's wording), is
persisted through the Store at once and published as an event. Operations on one
container are serialised by its own asyncio.Lock; waiting for an exit never holds it
(the exit handler needs it). A watcher task per running container awaits
`runtime.wait_exit` and then applies the exit: state, cleanup, `die`, waiters,
restart policy (restart.py) or AutoRemove.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import signal as _signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from shim.engine import containerconfig as cc
from shim.engine import names, refs
from shim.engine.container_io import AttachSession, bind_mounts, mount_points, read_logs, share_attach, stats_samples
from shim.engine.health import HealthMonitor, ProbeFn
from shim.engine.model import Container, CreateSpec
from shim.engine.observe import timed
from shim.engine.ports import ExitInfo, LogEntry, RunRequest
from shim.engine.restart import RestartManager
from shim.engine.signals import parse_signal
from shim.engine.state import Status, check
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

KIND = "containers"
HOSTCONFIG_ON_START_WINDOWS = "Supplying a hostconfig on start is not supported. It should be supplied on create"
DEFAULT_STOP_TIMEOUT = 10


@dataclasses.dataclass(slots=True)
class _Waiter:
    condition: str  # not-running | next-exit | removed
    future: asyncio.Future


class ContainerService:
    def __init__(
        self, *, store: Any, events: Any, images: Any, runtime: Any, volumes: Any = None, network: Any = None
    ) -> None:
        """`volumes`: engine.volumes.VolumeService (register/start_mounts/release/forget/inspect_mounts).
        `network` (optional, the networking service): `await connect(c)` → an object with `netns_path`
        and `mounts` (the seed's initializeNetworking step), `await release(cid)` after the process
        ended, `await forget(cid)` at remove, `inspect(c)` → NetworkSettings dict (or None)."""
        self._store = store
        self._volumes = volumes
        self._network = network
        self._events = events
        self._images = images
        self._runtime = runtime
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}  # name -> id
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._start_waiters: dict[str, list[asyncio.Future]] = {}
        self._watchers: dict[str, asyncio.Task] = {}
        self._restarts: dict[str, RestartManager] = {}
        self._restart_tasks: dict[str, asyncio.Task] = {}
        self._attached: dict[str, int] = {}  # live attach sessions per container (AutoRemove waits)
        self._closing = False
        self._restarting_by_hand: set[str] = set()  # `docker restart`: AutoRemove waits for the start
        self._health: HealthMonitor | None = None
        self._cleanup_hooks: list[Callable[[str], Awaitable[None]]] = []
        if images is not None and hasattr(images, "set_usage"):
            images.set_usage(self.image_usage)

    # ------------------------------------------------------------ wiring for other services

    def set_health_probe(self, probe: ProbeFn) -> None:
        """The exec service gives a way to run a command in a container: healthchecks start then."""
        self._health = HealthMonitor(probe, self._health_changed)

    def add_cleanup_hook(self, fn: Callable[[str], Awaitable[None]]) -> None:
        """Called with the container ID in the seed's Cleanup (e.g. the exec service drops its sessions)."""
        self._cleanup_hooks.append(fn)

    async def add_exec(self, ref: str, exec_id: str) -> Container:
        """Register an exec session (inspect's ExecIDs); 409 as dockerd when it can't run."""
        c = self.get(ref)
        if not c.state.running or c.state.restarting:
            raise Conflict(f"Container {c.id} is not running")
        if c.state.paused:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        c.exec_ids.append(exec_id)
        return c

    def remove_exec(self, cid: str, exec_id: str) -> None:
        c = self._by_id.get(cid)
        if c is not None and exec_id in c.exec_ids:
            c.exec_ids.remove(exec_id)

    async def _health_changed(self, c: Container, status: str) -> None:
        await self._save(c)
        self._event(c, f"health_status: {status}")

    # ------------------------------------------------------------ lookup

    @property
    def platform(self) -> str:
        return getattr(self._runtime, "platform", "linux")

    def get(self, ref: str) -> Container:
        """By full ID, exact name (with or without /), or unique ID prefix (dockerd's order)."""
        name = ref[1:] if ref.startswith("/") else ref
        try:
            cid = refs.lookup(name, ((c.id, [c.name]) for c in self._by_id.values()))
        except refs.RefNotFound:
            raise no_such_container(ref) from None
        return self._by_id[cid]

    def all(self) -> list[Container]:
        """Newest first, as dockerd's list."""
        return sorted(self._by_id.values(), key=lambda c: c.created, reverse=True)

    def list(self, keep: Callable[[Container], bool], *, show_all: bool = False, limit: int = -1) -> list[Container]:
        """GET /containers/json: newest first; running only unless `show_all`."""
        out = []
        for c in self.all():
            if not show_all and not c.state.running:
                continue
            if not keep(c):
                continue
            out.append(c)
            if 0 < limit <= len(out):
                break
        return out

    def filter_context(self, *, ancestors: list[str], before: list[str], since: list[str]) -> dict[str, Any]:
        """Resolve the references a ps filter names: ancestor images (and their children), before/since."""
        ctx: dict[str, Any] = {}
        if ancestors:
            ids: set[str] = set()
            for ref in ancestors:
                try:
                    img = self._images.resolve(ref)
                except ShimError:
                    continue  # dockerd logs and ignores an unknown ancestor
                todo = [img]
                while todo:
                    i = todo.pop()
                    if i.id not in ids:
                        ids.add(i.id)
                        todo.extend(self._images.children(i.id) if hasattr(self._images, "children") else [])
            ctx["ancestor_ids"] = ids
        if before:
            ctx["before_created"] = self.get(before[-1]).created
        if since:
            ctx["since_created"] = self.get(since[-1]).created
        return ctx

    def image_usage(self, image_id: str) -> list[tuple[str, bool]]:
        return [(c.id, c.state.running) for c in self._by_id.values() if c.image_id == image_id]

    def _lock(self, cid: str) -> asyncio.Lock:
        lock = self._locks.get(cid)
        if lock is None:
            lock = self._locks[cid] = asyncio.Lock()
        return lock

    async def _save(self, c: Container) -> None:
        await self._store.aput(KIND, c.id, c.to_dict())

    def _event(self, c: Container, action: str, **extra: str) -> None:
        attrs: dict[str, str] = dict(c.config.get("Labels") or {})
        attrs.update(image=c.config.get("Image") or c.image_id, name=c.name)
        attrs.update(extra)
        self._events.publish("container", action, c.id, attrs)

    # ------------------------------------------------------------ create

    async def _image(self, ref: str) -> Any:
        """The image service's ContainerImage (id, config, layer_dirs); 404 `No such image: …`."""
        if not ref:
            raise no_such_image(ref)
        if self._images is None:
            raise no_such_image(ref)
        info = self._images.image_for_container(ref)
        if asyncio.iscoroutine(info):
            info = await info
        if info is None:
            raise no_such_image(ref)
        return info

    @timed("container", "create")
    async def create(self, spec: CreateSpec) -> tuple[Container, list[str]]:
        config = cc.normalize_config(spec.config)
        image_ref = config.get("Image") or ""
        if spec.name:
            name = names.validate(spec.name)
            self._check_name_free(name)
        else:
            name = self._generate_name()
        info = await self._image(image_ref)
        host_config = cc.normalize_host_config(spec.host_config)
        warnings = cc.verify_host_config(host_config)
        cc.merge_image_config(config, info.config)
        cc.verify_config(config)
        path, args = cc.command(config)
        cc.adapt_host_config(host_config, create=True)
        cid = self._new_id()
        if not config.get("Hostname"):
            # dockerd: the short ID, or the host's own name with --network host
            host_mode = (host_config.get("NetworkMode") or "") == "host"
            config["Hostname"] = os.uname().nodename if host_mode else cid[:12]
        # Reserve the name before anything else yields (the image lookup did; volumes will).
        if spec.name:
            self._check_name_free(name)
        elif name in self._names:
            name = self._generate_name()
        self._names[name] = cid
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
        try:
            validate = getattr(self._network, "validate", None)
            if validate is not None:
                validate(c)  # dockerd refuses bad port specs and unknown networks at create
            if self._volumes is not None:
                await self._volumes.register(c, self.get)  # the seed's registerMountPoints, at create
            self._by_id[cid] = c
            await self._save(c)
        except BaseException:
            self._by_id.pop(cid, None)
            if self._names.get(name) == cid:
                del self._names[name]
            raise
        self._event(c, "create")
        return c, warnings

    def _check_name_free(self, name: str) -> None:
        other = self._names.get(name)
        if other is not None:
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )

    def _generate_name(self) -> str:
        for i in range(6):
            name = names.generate(i)
            if name not in self._names:
                return name
        return names.generate(9) + secrets.token_hex(2)

    def _new_id(self) -> str:
        while True:
            cid = secrets.token_hex(32)
            # dockerd avoids IDs that would parse as a number (truncindex) and collisions.
            if not cid[:12].isdigit() and cid not in self._by_id:
                return cid

    # ------------------------------------------------------------ start

    @timed("container", "start")
    async def start(self, ref: str, host_config: dict[str, Any] | None = None) -> None:
        """ContainerStart as the seed: validate state, legacy HostConfig, verify, then start."""
        c = self.get(ref)
        async with self._lock(c.id):
            st = Status(c.state.status)
            if st == Status.PAUSED:
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.running:
                raise NotModified("Container already started")
            if host_config is not None:
                if self.platform == "windows":
                    raise InvalidParameter(HOSTCONFIG_ON_START_WINDOWS)
                await self._set_host_config(c, host_config)
            cc.verify_host_config(c.host_config)
            await self._start_locked(c, manual=True)

    async def _set_host_config(self, c: Container, hc: dict[str, Any]) -> None:
        """setHostConfig: the start-time HostConfig replaces the container's (not merged), persisted."""
        log.warning(
            "DEPRECATED: Setting host configuration options when the container starts is deprecated "
            "and has been removed in Docker 1.12 (container %s)",
            c.id,
        )
        new = cc.normalize_host_config(hc)
        if not new.get("NetworkMode"):
            new["NetworkMode"] = "default"
        c.host_config = new
        if self._volumes is not None:
            await self._volumes.register(c, self.get)  # registers the new binds, as setHostConfig
        await self._save(c)

    async def _start_locked(self, c: Container, *, manual: bool) -> None:
        check(c.state.status, "start", c.id)
        if c.state.removal_in_progress or c.state.dead:
            raise Conflict("container is marked for removal and cannot be started")
        cc.adapt_host_config(c.host_config, create=False)
        if manual:
            self._cancel_restart(c.id)
            c.restart_count = 0
            c.manually_stopped = False
        try:
            req = await self._setup(c)
            pid = await self._runtime.start(req)
        except BaseException as err:
            await self._start_failed(c, err)
            raise self._start_error(c, err) from err
        st = c.state
        st.status, st.running, st.paused, st.restarting, st.dead = Status.RUNNING.value, True, False, False, False
        st.pid, st.exit_code, st.error, st.oom_killed = pid, 0, "", False
        st.started_at = time.time_ns()
        c.has_been_started = True
        await self._save(c)
        self._event(c, "start")
        # Attaches made before start (docker run) connect now, before the exit watcher exists: a
        # process that prints and exits at once must not be cleaned up before they claim its output.
        # Several of them (compose v1 `run`: stdin, stdout, stderr apart) share that one connection.
        waiters = [fut for fut in self._start_waiters.pop(c.id, []) if not fut.done()]
        handle = None
        if waiters:
            try:
                handle = await self._runtime.attach(c.id)
            except ShimError as e:
                log.warning("attach to %s at start: %s", c.id, e)
        for fut, shared in zip(waiters, share_attach(handle, len(waiters)), strict=False):
            if fut.done():
                if shared is not None:
                    await shared.close()
            else:
                fut.set_result(shared)
        if self._health is not None:
            self._health.start(c)
        self._watch(c)

    def _start_error(self, c: Container, err: BaseException) -> BaseException:
        if not isinstance(err, ShimError):
            return SystemFailure(str(err) or type(err).__name__)
        msg = err.message.lower()
        # translateContainerdStartErr: bad executables are the client's fault (400, exit 127/126).
        if "executable file not found" in msg or "no such file or directory" in msg or "permission denied" in msg:
            return InvalidParameter(err.message)
        return err

    async def _start_failed(self, c: Container, err: BaseException) -> None:
        """The seed's deferred rollback: error stored, ExitCode 128 if 0, saved, torn down, `die`."""
        text = err.message if isinstance(err, ShimError) else (str(err) or type(err).__name__)
        lower = text.lower()
        st = c.state
        st.error = text
        if st.exit_code == 0:
            # translateContainerdStartErr: 127 only when the message names the command itself (a
            # missing sysctl file is "no such file or directory" too), 126 for EACCES, else 128.
            if c.path.lower() in lower and (
                "executable file not found" in lower or "no such file or directory" in lower
            ):
                st.exit_code = 127
            elif "permission denied" in lower:
                st.exit_code = 126
            else:
                st.exit_code = 128
        st.running, st.paused, st.restarting, st.pid = False, False, False, 0
        if c.has_been_started or st.status == Status.RESTARTING.value:
            st.status = Status.EXITED.value
        await self._save(c)
        await self._teardown(c)  # everything set up so far, whatever step failed
        self._event(c, "die", exitCode=str(st.exit_code))
        self._notify_exit(c)
        if c.host_config.get("AutoRemove"):
            # dockerd removes an AutoRemove container whose start failed (`docker run --rm` waits for
            # condition=removed); it runs once the caller releases the container's lock.
            asyncio.get_running_loop().create_task(self._auto_remove(c))

    async def _setup(self, c: Container) -> RunRequest:
        """The seed's order: networking, (links), working dir, environment, command, IPC, mounts;
        the rootfs mount, working dir and IPC are done by the runtime inside start()."""
        req = self._run_request(c)
        if self._network is not None:
            att = await self._network.connect(c)
            link_env = list(getattr(att, "env", None) or [])
            if link_env:
                # dockerd's order (createDaemonEnvironment): defaults, then link variables, then Config.Env.
                req.env = cc.daemon_env({**c.config, "Env": link_env + list(c.config.get("Env") or [])})
            req.netns_path = getattr(att, "netns_path", req.netns_path)
            req.mounts.extend(getattr(att, "mounts", []) or [])
        if self._volumes is not None:
            req.mounts.extend(await self._volumes.start_mounts(c))
        else:
            req.mounts.extend(bind_mounts(c.host_config.get("Binds") or []))
        return req

    async def _teardown(self, c: Container) -> None:
        """The seed's Cleanup: network, IPC and rootfs (runtime), exec sessions, volumes. Never raises."""
        if self._health is not None:
            self._health.stop(c.id)
        c.exec_ids.clear()
        steps = []
        if self._network is not None:
            steps.append(("network", self._network.release))
        steps.append(("runtime", self._runtime.cleanup))
        steps.extend(("hook", fn) for fn in self._cleanup_hooks)
        if self._volumes is not None:
            steps.append(("volumes", self._volumes.release))
        for what, fn in steps:
            try:
                await fn(c.id)
            except Exception:
                log.exception("cleanup (%s) of %s", what, c.id)

    def _run_request(self, c: Container) -> RunRequest:
        cfg, hc = c.config, c.host_config
        mode = hc.get("NetworkMode") or "default"
        return RunRequest(
            id=c.id,
            name=c.name,
            layer_dirs=list(c.layer_dirs),
            args=[c.path, *c.args],
            env=cc.daemon_env(cfg),
            cwd=cfg.get("WorkingDir") or "/",
            user=cfg.get("User") or "",
            hostname=cfg.get("Hostname") or c.id[:12],
            domainname=cfg.get("Domainname") or "",
            tty=bool(cfg.get("Tty")),
            open_stdin=bool(cfg.get("OpenStdin")),
            stdin_once=bool(cfg.get("StdinOnce")),
            config=cfg,
            host_config=hc,
            mounts=[],
            netns_path="host" if mode == "host" else None,
            stop_signal=cfg.get("StopSignal") or "SIGTERM",
        )

    # ------------------------------------------------------------ exit handling

    def _watch(self, c: Container) -> None:
        old = self._watchers.get(c.id)
        if old is not None and not old.done():
            return
        self._watchers[c.id] = asyncio.get_running_loop().create_task(self._watch_exit(c.id))

    async def _watch_exit(self, cid: str) -> None:
        try:
            info = await self._runtime.wait_exit(cid)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the monitor is gone: record what we know rather than a ghost "running"
            log.exception("waiting for %s", cid)
            info = ExitInfo(exit_code=255, finished_at=time.time())
            c = self._by_id.get(cid)
            if c is not None:
                c.state.error = str(e)
        c = self._by_id.get(cid)
        if c is None:
            return
        self._watchers.pop(cid, None)
        await self._handle_exit(c, info)

    async def _handle_exit(self, c: Container, info: ExitInfo) -> None:
        async with self._lock(c.id):
            if not c.state.running:
                return
            st = c.state
            ran_for = max(0.0, info.finished_at - st.started_at / 1e9)
            st.running, st.paused, st.restarting, st.pid = False, False, False, 0
            st.exit_code, st.oom_killed = info.exit_code, info.oom_killed
            st.finished_at = int(info.finished_at * 1e9)
            st.status = Status.EXITED.value
            await self._teardown(c)
            rm = self._restarts.setdefault(c.id, RestartManager())
            restart, delay = rm.should_restart(
                c.host_config.get("RestartPolicy") or {}, info.exit_code, c.manually_stopped or self._closing, ran_for
            )
            if restart:
                st.status, st.running, st.restarting = Status.RESTARTING.value, True, True
            await self._save(c)
            if info.oom_killed:
                self._event(c, "oom")
            self._event(c, "die", exitCode=str(info.exit_code))
            self._notify_exit(c)
        if restart:
            self._restart_tasks[c.id] = asyncio.get_running_loop().create_task(self._restart_after(c, delay))
        elif c.host_config.get("AutoRemove") and c.id not in self._restarting_by_hand:
            await self._auto_remove(c)

    async def _restart_after(self, c: Container, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock(c.id):
            if not c.state.restarting or c.id not in self._by_id:
                return
            c.state.running, c.state.restarting, c.state.status = False, False, Status.EXITED.value
            c.restart_count += 1
            try:
                await self._start_locked(c, manual=False)
            except ShimError as e:
                log.warning("restart of %s failed: %s", c.id, e)
        self._restart_tasks.pop(c.id, None)

    def _cancel_restart(self, cid: str) -> None:
        task = self._restart_tasks.pop(cid, None)
        if task is not None:
            task.cancel()
        rm = self._restarts.get(cid)
        if rm is not None:
            rm.reset()

    async def _auto_remove(self, c: Container) -> None:
        try:
            await self.remove(c.id, force=True, volumes=True)
        except ShimError as e:
            log.warning("auto-remove of %s: %s", c.id, e)

    def _notify_exit(self, c: Container) -> None:
        waiters = self._waiters.get(c.id, [])
        keep = []
        for w in waiters:
            if w.future.done():
                continue
            if w.condition in ("not-running", "next-exit"):
                w.future.set_result((c.state.exit_code, c.state.error))
            else:
                keep.append(w)
        self._waiters[c.id] = keep

    def _notify_removed(self, c: Container) -> None:
        for w in self._waiters.pop(c.id, []):
            if not w.future.done():
                w.future.set_result((c.state.exit_code, c.state.error))
        for fut in self._start_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result(None)

    # ------------------------------------------------------------ wait

    def wait(self, ref: str, condition: str = "not-running") -> asyncio.Future:
        """A future of (exit_code, error) for the condition; registered now, so the CLI's
        wait-before-start sees the exit of the start that follows."""
        c = self.get(ref)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not c.state.running:
            fut.set_result((c.state.exit_code, c.state.error))
            return fut
        waiters = [w for w in self._waiters.get(c.id, []) if not w.future.done()]  # drop abandoned ones
        waiters.append(_Waiter(condition, fut))
        self._waiters[c.id] = waiters
        return fut

    async def _wait_stopped(self, c: Container, timeout: float | None) -> bool:
        if not c.state.running or c.state.restarting:
            return True
        fut = self.wait(c.id, "not-running")
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except TimeoutError:
            return False

    # ------------------------------------------------------------ stop / kill / restart

    def _stop_signal(self, c: Container) -> int:
        return parse_signal(c.config.get("StopSignal") or "SIGTERM", _signal.SIGTERM)

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        if not c.state.running:
            raise NotModified("Container already stopped")
        await self._stop(c, timeout, sig)
        self._event(c, "stop")

    async def _stop(self, c: Container, timeout: int | None, sig: str | None = None) -> None:
        if c.state.restarting:
            # A container waiting for its restart back-off is stopped by cancelling the restart.
            async with self._lock(c.id):
                self._cancel_restart(c.id)
                c.manually_stopped = True
                c.state.running, c.state.restarting, c.state.status = False, False, Status.EXITED.value
                await self._save(c)
                self._notify_exit(c)
            return
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            timeout = DEFAULT_STOP_TIMEOUT if timeout is None else timeout
        signum = parse_signal(sig, self._stop_signal(c))
        c.manually_stopped = True
        self._cancel_restart(c.id)
        await self._save(c)
        try:
            await self._signal(c, signum)
        except ShimError:
            pass
        if signum != _signal.SIGKILL and await self._wait_stopped(c, None if timeout < 0 else timeout):
            return
        try:
            await self._signal(c, _signal.SIGKILL)
        except ShimError:
            pass
        await self._wait_stopped(c, None)

    async def _signal(self, c: Container, signum: int) -> None:
        # Under the container's lock: a pause in flight could otherwise freeze the process after
        # the signal went out but before `paused` was set, and a SIGKILL would never land (a
        # `rm -f` racing a `pause` then waited in vain and answered 500).
        async with self._lock(c.id):
            await self._runtime.kill(c.id, signum)
            self._event(c, "kill", signal=str(signum))
            if c.state.paused and signum in (_signal.SIGKILL, self._stop_signal(c)):
                # A frozen process never sees the signal: thaw it so it can die (dockerd unpauses too).
                await self._runtime.resume(c.id)  # no unpause event: dockerd resumes silently here
                c.state.paused = False
                c.state.status = Status.RUNNING.value

    async def kill(self, ref: str, sig: str | None = None, *, stopped_is_error: bool = True) -> None:
        try:
            c = self.get(ref)
            signum = parse_signal(sig)
            if not c.state.running or c.state.restarting:
                if not stopped_is_error:
                    return  # API < 1.20: killing a stopped container was not an error
                raise Conflict(f"Container {c.id} is not running")
        except ShimError as e:
            raise type(e)(f"Cannot kill container: {ref}: {e.message}") from None
        if signum in (_signal.SIGKILL, self._stop_signal(c)):
            c.manually_stopped = True  # ExitOnNext: no restart after a kill
            self._cancel_restart(c.id)
            await self._save(c)
        await self._signal(c, signum)

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        # dockerd's containerRestart turns AutoRemove off meanwhile: the stop must not remove it.
        self._restarting_by_hand.add(c.id)
        try:
            if c.state.running:
                await self._stop(c, timeout, sig)
            async with self._lock(c.id):
                try:
                    await self._start_locked(c, manual=True)
                except NotModified:
                    pass  # started by someone else meanwhile: containerStart returns nil then
        finally:
            self._restarting_by_hand.discard(c.id)
        self._event(c, "restart")

    # ------------------------------------------------------------ pause

    async def pause(self, ref: str) -> None:
        await self._set_paused(ref, True)

    async def unpause(self, ref: str) -> None:
        await self._set_paused(ref, False)

    async def _set_paused(self, ref: str, paused: bool) -> None:
        action, op, status = (
            ("pause", self._runtime.pause, Status.PAUSED)
            if paused
            else ("unpause", self._runtime.resume, Status.RUNNING)
        )
        c = self.get(ref)
        async with self._lock(c.id):
            check(c.state.status, action, c.id)
            await self._runtime_op(c, op)
            c.state.paused, c.state.status = paused, status.value
            await self._save(c)
            self._event(c, action)

    async def _runtime_op(self, c: Container, op: Callable[[str], Awaitable[None]]) -> None:
        """A runtime call on a container whose process may have just ended (its exit not handled yet):
        then it is dockerd's 409 "not running", not a 500."""
        try:
            await op(c.id)
        except SystemFailure:
            rs = await self._runtime.state(c.id)
            if rs.status not in ("running", "paused"):
                raise Conflict(f"Container {c.id} is not running") from None
            raise

    # ------------------------------------------------------------ remove / rename / update / prune

    @timed("container", "delete")
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        for _ in range(5):
            if c.state.removal_in_progress:
                raise Conflict(f"removal of container {ref} is already in progress")
            if c.state.running:
                await self._kill_for_removal(c, force)
            async with self._lock(c.id):
                if c.id not in self._by_id:
                    return
                if c.state.running:
                    continue  # started again while we waited for the lock: kill that run too
                await self._remove_locked(c, volumes)
                break
        self._locks.pop(c.id, None)

    async def _kill_for_removal(self, c: Container, force: bool) -> None:
        if not force:
            if c.state.paused:
                raise Conflict(
                    f"You cannot remove a paused container {c.id}. Unpause and then stop the "
                    "container before attempting removal or force remove"
                )
            raise Conflict(
                f"You cannot remove a running container {c.id}. Stop the container before "
                "attempting removal or force remove"
            )
        c.manually_stopped = True
        self._cancel_restart(c.id)
        if c.state.restarting:
            await self._stop(c, 0)
            return
        try:
            await self._signal(c, _signal.SIGKILL)
        except ShimError:
            pass
        if not await self._wait_stopped(c, 30):
            raise SystemFailure(f"Could not kill running container {c.id}, cannot remove")

    async def _remove_locked(self, c: Container, volumes: bool) -> None:
        c.state.removal_in_progress = True
        c.state.status = Status.REMOVING.value
        # dockerd: attach EOF precedes the wait body, and a follower keeps its log file open
        await self._drain_streams(c.id)
        try:
            await self._teardown(c)
            await self._runtime.remove(c.id)
            if self._network is not None:
                await self._network.forget(c.id)
            if self._volumes is not None:
                await self._volumes.forget(c.id, remove_anonymous=volumes)
        except ShimError as e:
            c.state.removal_in_progress = False
            c.state.dead = True
            c.state.status = Status.DEAD.value
            await self._save(c)
            raise SystemFailure(f"unable to remove filesystem for {c.id}: {e.message}") from e
        await self._store.adelete(KIND, c.id)
        self._by_id.pop(c.id, None)
        if self._names.get(c.name) == c.id:
            del self._names[c.name]
        self._restarts.pop(c.id, None)
        if not self._attached.get(c.id):
            self._attached.pop(c.id, None)
        self._event(c, "destroy")
        self._notify_removed(c)

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
        async with self._lock(c.id):
            self._check_name_free(new)
            old = c.name
            del self._names[old]
            self._names[new] = c.id
            c.name = new
            await self._save(c)
            rename = getattr(self._network, "rename", None)
            if rename is not None:
                await rename(c.id, new)  # DNS names on user networks follow the container's name
            self._event(c, "rename", oldName="/" + old)

    UPDATABLE = (
        "BlkioWeight",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpuShares",
        "CpusetCpus",
        "CpusetMems",
        "Memory",
        "MemoryReservation",
        "MemorySwap",
        "NanoCpus",
        "PidsLimit",
        "KernelMemory",
        "KernelMemoryTCP",
        "CpuCount",
        "CpuPercent",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "Devices",
        "DeviceCgroupRules",
        "Ulimits",
        "OomKillDisable",
        "MemorySwappiness",
    )

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        c = self.get(ref)
        try:
            return await self._update(c, body)
        except ShimError as e:
            raise type(e)(f"Cannot update container {c.id}: {e.message}") from None

    async def _update(self, c: Container, body: dict[str, Any]) -> list[str]:
        async with self._lock(c.id):
            hc = dict(c.host_config)
            for key in self.UPDATABLE:
                val = body.get(key)
                if val not in (None, 0, "", []):
                    hc[key] = val
            rp = body.get("RestartPolicy")
            if rp and rp.get("Name") is not None and (rp.get("Name") or rp.get("MaximumRetryCount")):
                if c.host_config.get("AutoRemove") and rp.get("Name") not in ("", "no"):
                    raise InvalidParameter(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    )
                hc["RestartPolicy"] = {
                    "Name": rp.get("Name") or "",
                    "MaximumRetryCount": rp.get("MaximumRetryCount") or 0,
                }
            warnings = cc.verify_host_config(hc, update=True)
            mem, swap = body.get("Memory") or 0, body.get("MemorySwap") or 0
            # dockerd's UpdateContainer compares with the current MemorySwap even when that is 0 (no
            # limit): `docker update --memory` alone fails on a container created without one.
            if mem and not swap and mem > (c.host_config.get("MemorySwap") or 0):
                raise Conflict(
                    "Memory limit should be smaller than already set memoryswap limit, "
                    "update the memoryswap at the same time"
                )
            if c.state.running and not c.state.restarting:
                await self._runtime.update(c.id, hc)
            c.host_config = hc
            await self._save(c)
            self._event(c, "update")
            return warnings

    async def prune(self, keep: Callable[[Container], bool]) -> tuple[list[str], int]:
        """Remove every stopped container `keep` does not protect; returns (ids, bytes reclaimed)."""
        deleted, reclaimed = [], 0
        for c in self.all():
            if c.state.running or c.state.removal_in_progress or keep(c):
                continue
            size = await self.size_rw(c)
            try:
                await self.remove(c.id)
            except ShimError as e:
                log.warning("prune %s: %s", c.id, e)
                continue
            deleted.append(c.id)
            reclaimed += size
        self._events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return deleted, reclaimed

    async def size_rw(self, c: Container) -> int:
        return await self._runtime.diff_size(c.id)

    async def sizes(self, c: Container) -> dict[str, int]:
        """inspect/list with size=1: SizeRw (the container's own diff) and SizeRootFs (plus its image)."""
        rw = await self.size_rw(c)
        img = getattr(self._images, "images", {}).get(c.image_id) if self._images is not None else None
        return {"size_rw": rw, "size_root_fs": rw + int(getattr(img, "size", 0) or 0)}

    # ------------------------------------------------------------ inspection helpers

    def extra(self, c: Container) -> dict[str, Any]:
        """What inspect shows that the runtime knows (paths)."""
        rt = self._runtime
        upper = rt.upper_dir(c.id)
        base = os.path.dirname(upper)
        paths = getattr(self._network, "paths", None)
        return {
            **(paths(c) if paths is not None else {}),
            "log_path": rt.log_path(c.id),
            "graph_driver_data": {
                "LowerDir": ":".join(reversed(c.layer_dirs)),
                "MergedDir": rt.rootfs_path(c.id),
                "UpperDir": upper,
                "WorkDir": os.path.join(base, "work"),
            },
            "mounts": (
                self._volumes.inspect_mounts(c.id)
                if self._volumes is not None
                else mount_points(c.host_config.get("Binds") or [])
            ),
            "network_settings": self._network.inspect(c) if self._network is not None else None,
        }

    def filter_facts(self, c: Container, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the network and volume ps filters match against: network names and IDs, and the
        volume names / sources / destinations of the container's mounts."""
        extra = extra if extra is not None else self.extra(c)
        facts: dict[str, Any] = {}
        nets = (extra.get("network_settings") or {}).get("Networks")
        if nets is not None:
            facts["networks"] = list(nets)
            facts["network_ids"] = [n.get("NetworkID") or "" for n in nets.values()]
        vols: list[str] = []
        for m in extra.get("mounts") or []:
            vols.extend(v for v in (m.get("Name"), m.get("Source"), m.get("Destination")) if v)
        facts["volumes"] = vols
        return facts

    async def top(self, ref: str, ps_args: str = "") -> tuple[list[str], list[list[str]]]:
        c = self.get(ref)
        if not c.state.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.state.restarting:
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        return await self._runtime.top(c.id, ps_args)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.state.running or c.state.restarting:
            raise Conflict(f"Container {c.id} is not running")
        await self._runtime.resize(c.id, height, width)
        self._event(c, "resize", height=str(height), width=str(width))

    # ------------------------------------------------------------ stats

    def stats(self, ref: str, stream: bool = True, one_shot: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Stats bodies: one (stream=False) or one per second; 404 raised here, before any output."""
        return stats_samples(self._runtime, self.get(ref), stream, one_shot, self._network)

    # ------------------------------------------------------------ logs and attach

    async def logs(
        self,
        ref: str,
        *,
        stdout: bool,
        stderr: bool,
        follow: bool = False,
        since: float = 0.0,
        until: float = 0.0,
        tail: int | None = None,
    ) -> AsyncIterator[LogEntry]:
        if not (stdout or stderr):
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        c = self.get(ref)
        return self._counted(
            c.id,
            read_logs(
                self._runtime,
                c.id,
                stdout=stdout,
                stderr=stderr,
                follow=follow and c.state.running,
                since=since,
                until=until,
                tail=tail,
            ),
        )

    async def _counted(self, cid: str, items: AsyncIterator[LogEntry]) -> AsyncIterator[LogEntry]:
        """A log reader the removal waits for: its file must outlive the last read (docker-py's
        run(remove=True) reads the followed logs only after its DELETE)."""
        self._attached[cid] = self._attached.get(cid, 0) + 1
        try:
            async for e in items:
                yield e
        finally:
            self._attached[cid] = max(0, self._attached.get(cid, 1) - 1)

    async def _drain_streams(self, cid: str, timeout: float = 2.0) -> None:
        """Let attach sessions and log followers read the container's last output before its files go."""
        for _ in range(int(timeout / 0.02)):
            if not self._attached.get(cid):
                return
            await asyncio.sleep(0.02)

    def check_attachable(self, ref: str) -> Container:
        """daemon.ContainerAttach's refusals, answered before the connection is hijacked."""
        c = self.get(ref)
        if c.state.paused:
            raise Conflict(f"container {ref} is paused, unpause the container before attach")
        if c.state.restarting:
            raise Conflict(f"container {ref} is restarting, wait until the container is running")
        return c

    async def attach(self, ref: str, *, stream: bool = True) -> AttachSession:
        """Connect to the container's stdio; attached before start (docker run), it connects at start."""
        c = self.get(ref)
        self._event(c, "attach")
        self._attached[c.id] = self._attached.get(c.id, 0) + 1
        done = self._detach_counter(c.id)
        handle = None
        try:
            if stream:
                if not c.state.running or c.state.restarting:
                    fut: asyncio.Future = asyncio.get_running_loop().create_future()
                    self._start_waiters.setdefault(c.id, []).append(fut)
                    handle = await fut  # connected by _start_locked (None: removed, or no stdio)
                else:
                    handle = await self._runtime.attach(c.id)
        except BaseException:
            done()
            raise
        return AttachSession(c, handle, bool(c.config.get("Tty")), bool(c.config.get("StdinOnce")), done)

    def _detach_counter(self, cid: str) -> Callable[[], None]:
        called = False

        def done() -> None:
            nonlocal called
            if not called:
                called = True
                self._attached[cid] = max(0, self._attached.get(cid, 1) - 1)

        return done

    # ------------------------------------------------------------ daemon start / stop

    async def restore(self) -> None:
        """Daemon start, first pass: reload the containers from the store (others may look them up)."""
        for cid, data in (await asyncio.to_thread(self._store.load_all, KIND)).items():
            try:
                c = Container.from_dict(data)
            except (TypeError, KeyError) as e:
                log.error("container %s: unreadable record (%s), skipped", cid, e)
                continue
            self._by_id[c.id] = c
            self._names[c.name] = c.id

    async def after_restore(self) -> None:
        """Daemon start, once every service is restored (volumes, networks): reconcile with what the
        runtime says is running, apply exits that happened while shimd was down, restart policies."""
        if self._volumes is not None and hasattr(self._volumes, "drop_stale"):
            self._volumes.drop_stale(set(self._by_id))
        to_start: list[Container] = []
        for c in list(self._by_id.values()):
            try:
                await self._reconcile(c, to_start)
            except Exception:
                log.exception("restoring container %s", c.id)
        for c in to_start:
            async with self._lock(c.id):
                try:
                    await self._start_locked(c, manual=False)
                except ShimError as e:
                    log.warning("restart of %s at daemon start failed: %s", c.id, e)

    async def _reconcile(self, c: Container, to_start: list[Container]) -> None:
        st = c.state
        if st.removal_in_progress:
            st.removal_in_progress = False
            await self.remove(c.id, force=True)
            return
        rs = await self._runtime.state(c.id)
        if st.running and not st.restarting:
            if rs.status in ("running", "paused"):
                st.pid = rs.pid or st.pid
                st.paused = rs.status == "paused"
                st.status = Status.PAUSED.value if st.paused else Status.RUNNING.value
                await self._save(c)
                if self._health is not None:
                    self._health.start(c)
                self._watch(c)
                return
            info = rs.exit or ExitInfo(exit_code=255, finished_at=time.time())
            # Exited while shimd was down: apply the exit as if we had watched it.
            await self._handle_exit(c, info)
            return
        if st.restarting:
            st.running, st.restarting, st.status = False, False, Status.EXITED.value
            await self._save(c)
        rp = c.host_config.get("RestartPolicy") or {}
        policy, maximum = rp.get("Name") or "", rp.get("MaximumRetryCount") or 0
        on_failure = (
            policy == "on-failure"
            and st.exit_code != 0
            and not c.manually_stopped
            and (maximum == 0 or c.restart_count < maximum)
        )
        if (
            c.has_been_started
            and not st.running
            and not st.removal_in_progress
            and (policy == "always" or (policy == "unless-stopped" and not c.manually_stopped) or on_failure)
        ):
            to_start.append(c)

    async def close(self) -> None:
        """shimd stops; containers keep running under their monitors (live-restore)."""
        self._closing = True
        if self._health is not None:
            self._health.stop_all()
        for task in list(self._watchers.values()) + list(self._restart_tasks.values()):
            task.cancel()
        for task in list(self._watchers.values()) + list(self._restart_tasks.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


__all__ = ["AttachSession", "ContainerService", "parse_signal"]
