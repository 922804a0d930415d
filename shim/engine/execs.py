"""Engine layer: exec sessions (dockerd's daemon/exec.go).

An exec is created against a running container, started once (attached or detached),
and kept, finished or not, until its container stops: then it is released and leaves
the container's `ExecIDs` (the seed's Cleanup). The service learns of stops from the
event bus (`die`), so the container service needs no hook for it. Processes are run by
the exec runtime adapter (runtime/execproc.ExecRuntime).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from typing import Any, Protocol

from shim.engine import validation
from shim.engine.events import Events
from shim.engine.model import Container
from shim.engine.ports import ExecProcessHandle, ExecRuntimePort
from shim.engine.state import check, process_status
from shim.errors import Conflict, NotFound, ShimError

log = logging.getLogger("shim.execs")

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p,ctrl-q


@dataclasses.dataclass(slots=True)
class ExecSession:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str]
    user: str
    working_dir: str
    privileged: bool
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    detach_keys_raw: str
    # the keys as bytes, parsed once by the API layer at create (a bad spec is the create's 400)
    detach_keys: bytes = DEFAULT_DETACH_KEYS
    console_size: tuple[int, int] | None = None
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    process: ExecProcessHandle | None = None
    error: str = ""
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class ExecContainers(Protocol):
    """The container service as exec uses it."""

    def get(self, ref: str) -> Container: ...

    def all(self) -> list[Container]: ...


def _check_container(c: Container, ref: str = "") -> None:
    """getActiveContainer, through the transition table: not running names the ID, paused the
    reference as the client gave it. Only the process flags count (dockerd's IsRunning, IsPaused,
    IsRestarting)."""
    check(process_status(c.state), "exec", c.id, ref or c.id)


class ExecService:
    def __init__(self, *, containers: ExecContainers, events: Events, runtime: ExecRuntimePort) -> None:
        self._containers = containers
        self._events = events
        self._runtime = runtime
        self._execs: dict[str, ExecSession] = {}
        self._watcher: asyncio.Task[None] | None = None

    def _event(self, e: ExecSession, action: str, **extra: str) -> None:
        try:
            c = self._containers.get(e.container_id)
        except ShimError:
            return
        self._events.container(c, action, execID=e.id, **extra)

    def get(self, exec_id: str) -> ExecSession:
        e = self._execs.get(exec_id)
        if e is not None and not self._container_running(e.container_id):
            # its container stopped and the `die` event is still on its way to _watch_stops
            self._release_now(e.container_id)
            e = None
        if e is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return e

    def _container_running(self, cid: str) -> bool:
        try:
            return bool(self._containers.get(cid).state.running)
        except ShimError:
            return False

    async def create(self, ref: str, body: dict[str, Any], *, detach_keys: bytes | None = None) -> ExecSession:
        """`body` is the create's ExecConfig; `detach_keys` its DetachKeys as bytes."""
        c = self._containers.get(ref)
        _check_container(c, ref)
        validation.exec_create(body)  # everything runc exec would refuse, before the session exists
        cmd = list(body.get("Cmd") or [])
        size = body.get("ConsoleSize")
        e = ExecSession(
            id=self._new_id(),
            container_id=c.id,
            cmd=cmd,
            env=list(body.get("Env") or []),
            user=body.get("User") or "",
            working_dir=body.get("WorkingDir") or "",
            privileged=bool(body.get("Privileged")),
            tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            detach_keys_raw=body.get("DetachKeys") or "",
            detach_keys=DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys,
            console_size=(int(size[0]), int(size[1])) if size and len(size) == 2 else None,
        )
        self._execs[e.id] = e
        c.exec_ids.append(e.id)
        self._event(e, "exec_create: " + " ".join(cmd))
        return e

    def _new_id(self) -> str:
        while True:
            eid = secrets.token_hex(32)
            if eid not in self._execs:
                return eid

    def check_startable(self, exec_id: str) -> ExecSession:
        e = self.get(exec_id)
        if e.exit_code is not None:
            raise Conflict(f"Error: Exec command {e.id} has already run")
        if e.running or e.started:
            raise Conflict(f"Error: Exec command {e.id} is already running")
        _check_container(self._containers.get(e.container_id))
        return e

    def abandon(self, e: ExecSession) -> None:
        """No client reads this exec's output (any more): drain it in the background and release it."""
        if e.process is not None:
            asyncio.get_running_loop().create_task(e.process.drain_and_close())

    async def finished(self, e: ExecSession) -> None:
        """The attached client read everything: release the process's pipes or pty."""
        if e.process is not None:
            await e.process.close()

    async def start(
        self, exec_id: str, *, console_size: tuple[int, int] | None = None, detach: bool = False
    ) -> ExecSession:
        """Start the process; the caller pumps its stdio (attached) or returns at once (detached)."""
        e = self.check_startable(exec_id)
        c = self._containers.get(e.container_id)
        e.started = True
        cwd = e.working_dir or c.config.get("WorkingDir") or "/"
        user = e.user or c.config.get("User") or ""
        try:
            proc = e.process = await self._runtime.start(
                c.id,
                cmd=e.cmd,
                env=e.env,
                cwd=cwd,
                user=user,
                tty=e.tty,
                privileged=e.privileged,
                attach_stdin=e.attach_stdin,
                console_size=console_size or e.console_size,
            )
        except BaseException as err:
            e.exit_code = 126
            e.done.set()
            if isinstance(err, ShimError):
                raise
            raise Conflict(str(err)) from err
        e.running = True
        self._event(e, "exec_start: " + " ".join(e.cmd))
        if detach:
            self.abandon(e)
        asyncio.get_running_loop().create_task(self._reap(e, proc))
        e.pid = await proc.read_pid()
        return e

    async def _reap(self, e: ExecSession, proc: ExecProcessHandle) -> None:
        code = await proc.wait()
        e.exit_code = code
        e.error = proc.runc_error
        e.running = False
        e.done.set()
        # dockerd drops an ended exec from the container's ExecIDs (inspect of the exec still works)
        with contextlib.suppress(ShimError, ValueError):
            self._containers.get(e.container_id).exec_ids.remove(e.id)
        self._event(e, "exec_die", exitCode=str(code))

    async def wait(self, e: ExecSession) -> int:
        await e.done.wait()
        return e.exit_code if e.exit_code is not None else 0

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        e = self.get(exec_id)
        if e.process is None:
            raise Conflict(f"Exec {exec_id} is not running")  # dockerd: resize before start
        await e.process.resize(height, width)

    def _release_now(self, cid: str) -> list[ExecSession]:
        gone = [x for x in self._execs.values() if x.container_id == cid]
        for e in gone:
            self._execs.pop(e.id, None)
        try:
            self._containers.get(cid).exec_ids.clear()
        except ShimError:
            pass
        return gone

    async def release_container(self, cid: str) -> None:
        """The container stopped: its exec sessions end and leave ExecIDs."""
        for e in self._release_now(cid):
            if e.process is not None:
                with contextlib.suppress(Exception):
                    await e.process.kill()

    # ------------------------------------------------------------ daemon start / stop

    async def restore(self) -> None:
        # exec sessions do not outlive shimd: IDs a container kept from before are stale
        for c in self._containers.all():
            c.exec_ids.clear()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_stops())
        await asyncio.sleep(0)  # let it subscribe before anything can stop

    async def _watch_stops(self) -> None:
        async for ev in self._events.stream():
            if ev.get("Type") == "container" and ev.get("Action") in ("die", "destroy"):
                try:
                    await self.release_container(ev["Actor"]["ID"])
                except Exception:
                    log.exception("releasing exec sessions of %s", ev["Actor"]["ID"])

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(BaseException):
                await self._watcher
        for e in list(self._execs.values()):
            if e.process is not None:
                with contextlib.suppress(Exception):
                    await e.process.kill()
