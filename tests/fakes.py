"""In-memory fakes of the engine's ports, for unit tests only (never shipped in the package).

FakeRuntime "runs" a container as a record: tests end it with `exit(cid, code)`, make
`start` fail with `fail_next_start`, and read what the engine asked for in `.started`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

from shim.engine.ports import ExitInfo, LogChunk, LogQuery, RunRequest, RuntimeState
from shim.errors import Conflict, InvalidParameter, NotFound, ShimError
from shim.runtime import k8slog


@dataclasses.dataclass
class _Proc:
    req: RunRequest
    pid: int
    exit: asyncio.Future
    paused: bool = False
    stdin: bytearray = dataclasses.field(default_factory=bytearray)
    stdin_closed: bool = False
    ended: bool = False  # ended, its monitor has not reported it yet (end_unreported)


class FakeAttach:
    def __init__(self, rt: FakeRuntime, cid: str) -> None:
        self.rt, self.cid = rt, cid
        self.queue: asyncio.Queue = rt.outputs.setdefault(cid, asyncio.Queue())

    async def read(self):
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        self.rt.procs[self.cid].stdin.extend(data)

    async def close_stdin(self) -> None:
        self.rt.procs[self.cid].stdin_closed = True

    async def close(self) -> None:
        pass


class FakeRuntime:
    def __init__(self, platform: str = "linux") -> None:
        self.platform = platform
        self.procs: dict[str, _Proc] = {}
        self.exits: dict[str, ExitInfo] = {}
        self.started: list[RunRequest] = []
        self.signals: list[tuple[str, int]] = []
        self.cleaned: list[str] = []
        self.removed: list[str] = []
        self.updated: list[tuple[str, dict]] = []
        self.resized: list[tuple[str, int, int]] = []
        self.logs_by_id: dict[str, bytearray] = {}  # conmon's k8s-file lines
        self.outputs: dict[str, asyncio.Queue] = {}
        self.fail_next_start: ShimError | None = None
        self.exit_on_signal = True  # TERM/KILL end the fake process at once
        self._pid = 1000
        # what survey() reports beyond the fake processes: held leftovers, and containers it
        # holds that may be in no record (survey discards those and lists them in `discarded`)
        self.held: set[str] = set()
        self.created_only: set[str] = set()
        self.discarded: list[str] = []

    # -- control for tests
    def exit(self, cid: str, code: int, oom: bool = False) -> None:
        p = self.procs.get(cid)
        if p is None or p.exit.done():
            return
        info = ExitInfo(exit_code=code, finished_at=time.time(), oom_killed=oom)
        self.exits[cid] = info
        p.exit.set_result(info)
        q = self.outputs.get(cid)
        if q is not None:
            q.put_nowait(None)

    def end_unreported(self, cid: str, code: int) -> None:
        """The process ends but its monitor has not reported it yet (conmon drains the output
        before it writes the exit file): state() says stopped while wait_exit still waits, until
        exit(cid, code) reports it."""
        self.procs[cid].ended = True
        self.exits[cid] = ExitInfo(exit_code=code, finished_at=time.time())

    def log(self, cid: str, stream: str, data: bytes) -> None:
        ns = time.time_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}+00:00"
        body = data[:-1] + b"\n" if data.endswith(b"\n") else data + b"\n"
        tag = b"F" if data.endswith(b"\n") else b"P"
        self.logs_by_id.setdefault(cid, bytearray()).extend(
            stamp.encode() + b" " + stream.encode() + b" " + tag + b" " + body
        )
        q = self.outputs.get(cid)
        if q is not None:
            q.put_nowait((1 if stream == "stdout" else 2, data))

    def running(self, cid: str) -> bool:
        p = self.procs.get(cid)
        return p is not None and not p.exit.done() and not p.ended

    # -- the port
    async def start(self, req: RunRequest, ready: asyncio.Future[None] | None = None) -> int:
        if self.fail_next_start is not None:
            err, self.fail_next_start = self.fail_next_start, None
            raise err
        if ready is not None:  # as runc's: the network joined between create and start
            await ready
        self._pid += 1
        self.started.append(req)
        self.exits.pop(req.id, None)
        self.procs[req.id] = _Proc(req=req, pid=self._pid, exit=asyncio.get_running_loop().create_future())
        return self._pid

    async def wait_exit(self, cid: str) -> ExitInfo:
        return await asyncio.shield(self.procs[cid].exit)

    async def state(self, cid: str) -> RuntimeState:
        if self.running(cid):
            p = self.procs[cid]
            return RuntimeState(status="paused" if p.paused else "running", pid=p.pid)
        if cid in self.exits:
            return RuntimeState(status="stopped", exit=self.exits[cid])
        return RuntimeState(status="unknown")

    async def survey(self, known: set[str]) -> dict[str, RuntimeState]:
        for cid in sorted((set(self.procs) | self.held | self.created_only) - known):
            self.discarded.append(cid)
            if self.running(cid):
                self.exit(cid, 137)
            self.held.discard(cid)
            self.created_only.discard(cid)
        out = {}
        for cid in known:
            held = cid in self.held or cid in self.created_only or self.running(cid)
            if cid in self.created_only:
                out[cid] = RuntimeState(status="created", held=True)
                continue
            st = await self.state(cid)
            st.held = held
            out[cid] = st
        return out

    async def kill(self, cid: str, signal: int) -> None:
        if not self.running(cid):
            raise Conflict(f"Container {cid} is not running")
        self.signals.append((cid, signal))
        if self.exit_on_signal and signal in (9, 15) and not self.procs[cid].paused:
            self.exit(cid, 128 + signal)

    async def pause(self, cid: str) -> None:
        self.procs[cid].paused = True

    async def resume(self, cid: str) -> None:
        self.procs[cid].paused = False
        for cid_, sig in list(self.signals):
            if cid_ == cid and sig in (9, 15) and self.exit_on_signal:
                self.exit(cid, 128 + sig)

    async def cleanup(self, cid: str) -> None:
        self.cleaned.append(cid)
        self.held.discard(cid)
        self.created_only.discard(cid)

    async def remove(self, cid: str) -> None:
        self.removed.append(cid)
        self.logs_by_id.pop(cid, None)

    async def attach(self, cid: str) -> FakeAttach:
        if not self.running(cid):
            raise Conflict(f"container {cid} is not running")
        return FakeAttach(self, cid)

    async def resize(self, cid: str, height: int, width: int) -> None:
        self.resized.append((cid, height, width))

    async def logs(self, cid: str, query: LogQuery) -> AsyncIterator[LogChunk]:
        """The real renderer (k8slog) over the lines the test logged."""
        r = k8slog.Render(query.stdout, query.stderr, query.since, query.until, query.timestamps, query.details)
        data = bytes(self.logs_by_id.get(cid, b""))
        pos = k8slog.tail_offset(data, query.tail)[0] if query.tail is not None else 0
        while True:
            data = bytes(self.logs_by_id.get(cid, b""))
            sink = k8slog.Sink()
            going = k8slog.render(data[pos:], r, sink)
            pos = len(data)
            for stream, chunk in sink.take():
                yield LogChunk(stream, chunk)
            if not going or not query.follow or not self.running(cid):
                return
            await asyncio.sleep(0.01)

    async def stats(self, cid: str) -> dict:
        return {
            "read": "2026-11-28T00:00:00.000000001Z",
            "pids_stats": {"current": 1},
            "num_procs": 0,
            "cpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000, "online_cpus": 2},
            "memory_stats": {"usage": 786432, "limit": 67108864},
        }

    async def top(self, cid: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
        return ["UID", "PID", "CMD"], [["root", str(self.procs[cid].pid), " ".join(self.procs[cid].req.args)]]

    async def update(self, cid: str, host_config: dict) -> None:
        self.updated.append((cid, host_config))

    def log_path(self, cid: str) -> str:
        return f"/fake/containers/{cid}/ctr.log"

    def rootfs_path(self, cid: str) -> str:
        return f"/fake/containers/{cid}/merged"

    def upper_dir(self, cid: str) -> str:
        return f"/fake/containers/{cid}/diff"

    async def diff_size(self, cid: str) -> int:
        return 0


@dataclasses.dataclass
class FakeContainerImage:
    id: str
    config: dict
    layer_dirs: list[str]
    name: str = ""


class FakeImages:
    """Only what the container engine uses: image_for_container and set_usage."""

    BUSYBOX_ID = "sha256:" + "ab" * 32

    def __init__(self) -> None:
        self.images = {
            "busybox": FakeContainerImage(
                self.BUSYBOX_ID,
                {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                ["/fake/layer0"],
            ),
        }
        self.usage = None

    def set_usage(self, fn) -> None:
        self.usage = fn

    def set_layer_usage(self, fn) -> None:
        self.layer_usage = fn

    def image_for_container(self, ref: str) -> FakeContainerImage:
        img = self.images.get(ref.removesuffix(":latest"))
        if img is None:
            raise NotFound(f"No such image: {ref}")
        return img


def bad_executable(cmd: str = "nosuchcmd") -> ShimError:
    err = InvalidParameter(
        f'failed to create task for container: OCI runtime create failed: exec: "{cmd}": '
        "executable file not found in $PATH: unknown"
    )
    err.exit_code = 127  # type: ignore[attr-defined]
    return err
