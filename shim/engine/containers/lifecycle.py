"""Engine layer (containers): a container's process from start to exit, restart policy.

Start follows the seed (daemon/start.go): setup in its order (networking, environment, mounts;
the rootfs, working dir and IPC inside the runtime's start), rollback of every step on failure
(State.Error, ExitCode 127/126/128, one `die`). A watcher task per running container awaits
`runtime.wait_exit` and then applies the exit: state, the seed's Cleanup, `die`, waiters, the
restart policy (restart.py, dockerd's back-off) or AutoRemove, which removes the container in the
same hold of its lock and leaves the runtime's teardown to a background task (recovery.py
`remove_at_exit`). Daemon start (the reconciliation with what the host holds) is recovery.py's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shim.engine import containerconfig as cc
from shim.engine import logconfig
from shim.engine.containers.core import Core
from shim.engine.containers.record import Live
from shim.engine.containers.streams import Streams
from shim.engine.containers.waiters import Waiters
from shim.engine.health import HealthMonitor, ProbeFn
from shim.engine.model import Container, ContainerState
from shim.engine.ports import ExitInfo, LogPolicy, RunRequest
from shim.engine.security import SecurityPolicy
from shim.engine.state import Status, check
from shim.errors import ShimError, StartFailed, start_step_failed

log = logging.getLogger("shim.containers")

RemoveFn = Callable[[Container, bool], Awaitable[None]]
RetireFn = Callable[[Container, Live], Awaitable[None]]

# How long `settled` waits for an ended process's exit to be applied; the watcher's own fallback
# (a monitor gone without a report) takes about a second. Past it the container is taken as is.
SETTLE_TIMEOUT = 5.0


class Lifecycle:
    def __init__(self, core: Core, waiters: Waiters, streams: Streams, remove: RemoveFn, retire: RetireFn) -> None:
        """`remove(c, volumes)`: the force removal AutoRemove asks for (with anonymous volumes);
        `retire(c, live)`: that removal under the lock the caller holds, at the exit."""
        self._core = core
        self._waiters = waiters
        self._streams = streams
        self._remove = remove
        self._retire = retire
        self._closing = False
        self.health: HealthMonitor | None = None
        self.cleanup_hooks: list[Callable[[str], Awaitable[None]]] = []

    def set_health_probe(self, probe: ProbeFn) -> None:
        self.health = HealthMonitor(probe, self._health_changed)

    async def _health_changed(self, c: Container, status: str) -> None:
        await self._core.save(c)
        self._core.event(c, f"health_status: {status}")

    # ------------------------------------------------------------ start

    async def start(self, c: Container, *, manual: bool, by_policy: bool = False) -> None:
        """Start `c` under its lock: the transition check, setup, the runtime, state, `start`.
        `by_policy`: the restart policy's start of a container that reads "restarting" until its
        process runs (dockerd's containerStart with resetRestartManager false skips the check)."""
        core = self._core
        if not by_policy:
            check(c.state.status, "start", c.id)
        cc.adapt_host_config(c.host_config, create=False)
        if manual:
            await self.reset_restarts(c, by_user=False, save=False)
            c.restart_count = 0
        # The intent first (docs/RELIABILITY.md): a crash after any later step is settled at the
        # next start (adopted if the process runs, torn down if not); cleared once the state is saved.
        before = (dataclasses.replace(c.state), c.has_been_started)
        wired: asyncio.Future[None] | None = None
        ended = False
        try:
            await core.journal.begin("start", c.id)
            req, wired = await self._setup(c)
            # the network's wiring goes on beside the runtime's create; joined before the process runs
            pid = await core.runtime.start(req, wired)
            if wired is not None:
                await wired
            st = c.state
            st.status, st.running, st.paused, st.restarting, st.dead = Status.RUNNING.value, True, False, False, False
            st.pid, st.exit_code, st.error, st.oom_killed = pid, 0, "", False
            st.started_at = time.time_ns()
            c.has_been_started = True
            # the record, then the intent cleared, in one trip (issue 17); a full disk here: the
            # process is stopped again, as any failed start, and the intent cleared below
            await core.save_and_end(c, "start")
            ended = True
        except BaseException as caught:
            err = await _first_failure(wired, caught)
            _put_back(c, *before)
            failure = start_step_failed(err, c.path)
            await self._start_failed(c, failure)
            raise failure from err
        finally:
            if not ended:
                await core.end_intent("start", c.id)
        core.event(c, "start")
        await self._streams.connect_waiting(c)
        if self.health is not None:
            self.health.start(c)
        self.watch(c)

    async def _start_failed(self, c: Container, err: ShimError) -> None:
        """The seed's deferred rollback: error stored, ExitCode 128 if 0, saved, torn down, `die`."""
        st = c.state
        st.error = err.message
        if st.exit_code == 0:
            st.exit_code = err.exit_code if isinstance(err, StartFailed) else 128
        st.running, st.paused, st.restarting, st.pid = False, False, False, 0
        if c.has_been_started or st.status == Status.RESTARTING.value:
            st.status = Status.EXITED.value
        try:
            await self._core.save(c)
        except ShimError as e:  # a full disk must not keep the teardown from running
            log.error("saving %s after its failed start: %s", c.id, e)
        await self.teardown(c)  # everything set up so far, whatever step failed
        self._core.event(c, "die", exitCode=str(st.exit_code))
        self._waiters.notify_exit(c)
        if c.host_config.get("AutoRemove"):
            # dockerd removes an AutoRemove container whose start failed (`docker run --rm` waits for
            # condition=removed); it runs once the caller releases the container's lock.
            asyncio.get_running_loop().create_task(self._auto_remove(c))

    async def _setup(self, c: Container) -> tuple[RunRequest, asyncio.Future[None] | None]:
        """The seed's order: networking, (links), working dir, environment, command, IPC, mounts;
        the rootfs mount, working dir and IPC are done by the runtime inside start(). With the
        network's wiring still going on (joined by the caller, or here if a later step fails)."""
        req = run_request(c, self._core.security)
        network = self._core.network
        wired = None
        if network is not None:
            att = await network.connect(c)
            wired = att.wired
            if att.env:
                # dockerd's order (createDaemonEnvironment): defaults, then link variables, then Config.Env.
                req.env = cc.daemon_env({**c.config, "Env": [*att.env, *(c.config.get("Env") or [])]})
            req.netns_path = att.netns_path
            req.mounts.extend(att.mounts)
        try:
            req.mounts.extend(await self._core.volumes.start_mounts(c))
        except BaseException as err:
            raise await _first_failure(wired, err)  # noqa: B904 - the original error or the wiring's
        return req, wired

    def stop_watching(self, c: Container) -> None:
        """What of the seed's Cleanup is shimd's own: healthchecks, exec sessions."""
        if self.health is not None:
            self.health.stop(c.id)
        c.exec_ids.clear()

    async def teardown(self, c: Container) -> None:
        """The seed's Cleanup: network, IPC and rootfs (runtime), hooks, volumes. Never raises."""
        core = self._core
        self.stop_watching(c)
        # The network (netns pin, veth) and the runtime (runc delete, rootfs unmount) are undone
        # side by side: neither needs the other, and `docker run --rm` waits for both (issue 17).
        first: list[tuple[str, Callable[[str], Awaitable[None]]]] = [("runtime", core.runtime.cleanup)]
        if core.network is not None:
            first.append(("network", core.network.release))
        await asyncio.gather(*(_logged(what, fn, c.id) for what, fn in first))
        await self.run_hooks(c.id)
        await _logged("volumes", core.volumes.release, c.id)

    async def run_hooks(self, cid: str) -> None:
        """The cleanup hooks, in order (a teardown; a removal at exit, after the runtime's release). Never raises."""
        for fn in self.cleanup_hooks:
            await _logged("hook", fn, cid)

    # ------------------------------------------------------------ exit and restart policy

    def watch(self, c: Container) -> None:
        live = self._core.table.live(c.id)
        if live.watcher is not None and not live.watcher.done():
            return
        live.watcher = asyncio.get_running_loop().create_task(self._watch_exit(c.id))

    async def _watch_exit(self, cid: str) -> None:
        table = self._core.table
        try:
            info = await self._core.runtime.wait_exit(cid)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the monitor is gone: record what we know rather than a ghost "running"
            log.exception("waiting for %s", cid)
            info = ExitInfo(exit_code=255, finished_at=time.time())
            gone = table.find(cid)
            if gone is not None:
                gone.state.error = str(e)
        c = table.find(cid)
        if c is None:
            return
        table.live(cid).watcher = None
        await self.handle_exit(c, info)

    async def handle_exit(self, c: Container, info: ExitInfo) -> None:
        core = self._core
        live = core.table.live(c.id)
        async with live.lock:
            if not c.state.running or c.state.restarting:  # applied already: waiting for its restart
                return
            st = c.state
            ran_for = max(0.0, info.finished_at - st.started_at / 1e9)
            restart, delay = live.restarts.should_restart(
                c.host_config.get("RestartPolicy") or {}, info.exit_code, c.manually_stopped or self._closing, ran_for
            )
            # dockerd's handleContainerExit: the exit code and the next status in one step, before
            # any await lets a reader in: SetRestarting (RestartCount counted as the restart is
            # decided; "restarting" until the restart's process runs) or SetStopped. A reader never
            # sees "exited" for a container about to run again.
            st.paused, st.pid = False, 0
            st.exit_code, st.oom_killed = info.exit_code, info.oom_killed
            st.finished_at = int(info.finished_at * 1e9)
            if restart:
                c.restart_count += 1
                st.status, st.running, st.restarting = Status.RESTARTING.value, True, True
            else:
                st.status, st.running, st.restarting = Status.EXITED.value, False, False
            if not restart and c.host_config.get("AutoRemove") and not live.restarting_by_hand:
                # AutoRemove (issue 17): `die`, then the removal in this same hold of the lock (no
                # other request for the container runs in between: none finds a stopped container
                # whose runtime is not torn down). Neither a teardown before it nor an "exited"
                # record that the removal deletes at once: the removal leaves the runtime's teardown
                # to a background task. A crash before the removal's intent is written finds the
                # record running and the exit file: the exit is applied again at the next start.
                self._died(c, info)
                try:
                    await self._retire(c, live)
                except ShimError as e:
                    log.warning("auto-remove of %s: %s", c.id, e)
                return
            await self.teardown(c)
            await core.save(c)
            self._died(c, info)
        if restart:
            live.restart_task = asyncio.get_running_loop().create_task(self._restart_after(c, live, delay))

    def _died(self, c: Container, info: ExitInfo) -> None:
        if info.oom_killed:
            self._core.event(c, "oom")
        self._core.event(c, "die", exitCode=str(info.exit_code))
        self._waiters.notify_exit(c)

    async def settled(self, c: Container) -> Container:
        """`c`, with the exit of a process that has just ended applied: until the monitor's report
        (conmon's exit file) is in and the watcher has applied it, the container still reads as
        running. dockerd has as a rule applied such an exit by a client's next request,
        and clients act on it: compose v1 `run` attaches right after its start, then starts the
        container again if inspect says it has exited; the attaches made meanwhile must then be
        ones that wait for that start, as attaches to a stopped container do."""
        running = c.state.running and not c.state.restarting
        if running and (await self._core.runtime.state(c.id)).status == "stopped":
            # the watcher applies it once the monitor's report is in (at once, as a rule)
            await self._waiters.stopped(c, SETTLE_TIMEOUT)
        return c

    async def _restart_after(self, c: Container, live: Live, delay: float) -> None:
        await asyncio.sleep(delay)
        async with live.lock:
            if not c.state.restarting or c.id not in self._core.table:
                return
            try:  # a failed start leaves it exited with its last exit code (_start_failed)
                await self.start(c, manual=False, by_policy=True)
            except ShimError as e:
                log.warning("restart of %s failed: %s", c.id, e)
        live.restart_task = None

    async def cancel_restart(self, c: Container) -> bool:
        """Stop a container that reads "restarting": a pending restart is cancelled and it reads
        exited (True). A restart's start in flight holds the lock: once it is through, the
        container runs, to be stopped as any running one (False), or its start failed (True)."""
        async with self._core.table.live(c.id).lock:
            if not c.state.restarting:
                return not c.state.running
            await self.reset_restarts(c, save=False)
            c.state.running, c.state.restarting, c.state.status = False, False, Status.EXITED.value
            await self._core.save(c)
            self._waiters.notify_exit(c)
            return True

    async def reset_restarts(self, c: Container, *, by_user: bool = True, save: bool = True) -> None:
        """The one place a user's action settles the restart policy: a pending restart is cancelled
        and the back-off reset. `by_user`: the user stopped or killed it (dockerd's ExitOnNext), so no
        policy restarts it, not even unless-stopped after a daemon restart (persisted with `save`);
        a manual start passes False."""
        live = self._core.table.live(c.id)
        task, live.restart_task = live.restart_task, None
        if task is not None:
            task.cancel()
        live.restarts.reset()
        c.manually_stopped = by_user
        if save:
            await self._core.save(c)

    async def _auto_remove(self, c: Container) -> None:
        try:
            await self._remove(c, True)
        except ShimError as e:
            log.warning("auto-remove of %s: %s", c.id, e)

    # ------------------------------------------------------------ daemon stop

    async def close(self) -> None:
        """shimd stops; containers keep running under their monitors (live-restore)."""
        self._closing = True
        if self.health is not None:
            self.health.stop_all()
        table = self._core.table
        tasks = [
            t
            for live in (table.live(cid) for cid in table.ids())
            for t in (live.watcher, live.restart_task)
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


async def _logged(what: str, fn: Callable[[str], Awaitable[None]], cid: str) -> None:
    """One cleanup step; its failure is logged, never raised (the seed's Cleanup goes on)."""
    try:
        await fn(cid)
    except Exception:
        log.exception("cleanup (%s) of %s", what, cid)


async def _first_failure(wired: asyncio.Future[None] | None, err: BaseException) -> BaseException:
    """A failed start's error, once the network's wiring beside it has ended (it rolls itself back):
    the wiring's own if it failed too, as when it ran before the runtime and failed first."""
    if wired is None:
        return err
    await asyncio.wait([wired])  # a cancellation of this start does not cancel the wiring
    if wired.cancelled():
        return err
    return wired.exception() or err


def _put_back(c: Container, state: ContainerState, has_been_started: bool) -> None:
    """The state before a start that failed after the runtime's step (its record was never saved)."""
    for f in dataclasses.fields(state):
        setattr(c.state, f.name, getattr(state, f.name))
    c.has_been_started = has_been_started


def run_request(c: Container, security: SecurityPolicy) -> RunRequest:
    """What the runtime needs to run `c` before networking and mounts are added."""
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
        confinement=security.confinement(hc),
        log=_log_policy(hc),
    )


def _log_policy(hc: dict[str, Any]) -> LogPolicy:
    try:
        return logconfig.policy(hc.get("LogConfig") or {})
    except ValueError:  # a record from before options were verified at create: the defaults
        return LogPolicy()
