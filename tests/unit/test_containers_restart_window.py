"""A restart policy's window between an exit and the next start, as inspect shows it.

dockerd (daemon/monitor.go handleContainerExit) applies an exit in one step: the exit code with
either SetRestarting (RestartCount counted when the restart is decided) or SetStopped, and the
container reads "restarting" until the restart's containerStart has the process running. A
client polling inspect thus never sees "exited" for a container about to run again, and an
"exited" container always carries its real exit code. (CI once saw `exited`, RestartCount 2,
then ExitCode 0: shimd showed the container exited while the restart's start was in flight.)

Every await the engine makes in that window is a point where an inspect can be answered, so the
fake runtime's cleanup (the exit's teardown) and start (the restart) record what inspect shows.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable

from shim.engine.containers import ContainerService
from shim.engine.events import Events
from shim.engine.model import Container, CreateSpec
from shim.engine.ports import RunRequest
from shim.engine.store import Store
from shim.translate.containers import state_out
from tests.fakes import FakeImages, FakeRuntime

View = tuple[str, int, int]  # State.Status, RestartCount, State.ExitCode


def view(c: Container) -> View:
    st = state_out(c)
    return st["Status"], c.restart_count, st["ExitCode"]


async def engine(tmp_path: pathlib.Path, policy: dict[str, object]) -> tuple[ContainerService, FakeRuntime, Container]:
    rt = FakeRuntime()
    images = FakeImages()  # what create asks of the image store (not the whole ImagesPort)
    svc = ContainerService(store=Store(tmp_path), events=Events(), images=images, runtime=rt)  # type: ignore[arg-type]
    spec = CreateSpec(
        name="rp", config={"Image": "busybox"}, host_config={"RestartPolicy": policy}, networking_config={}
    )
    c, _ = await svc.create(spec)
    await svc.start(c.id)
    return svc, rt, c


def record_views(
    rt: FakeRuntime, c: Container, seen: list[tuple[str, View]], gate: asyncio.Event | None = None
) -> None:
    """What inspect shows whenever the engine tears down an exit or asks for a start; a start
    waits for `gate` (runc's create under load) once it has been recorded."""
    cleanup, start = rt.cleanup, rt.start

    async def recording_cleanup(cid: str) -> None:
        seen.append(("teardown", view(c)))
        await cleanup(cid)

    async def recording_start(req: RunRequest, ready: asyncio.Future[None] | None = None) -> int:
        seen.append(("start", view(c)))
        if gate is not None:
            await gate.wait()
        return await start(req, ready)

    rt.cleanup, rt.start = recording_cleanup, recording_start  # type: ignore[method-assign]


async def until(pred: Callable[[], bool], what: str) -> None:
    for _ in range(250):  # the back-off is real time: 0.1 s, then 0.2 s
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never {what}")


def running_after(rt: FakeRuntime, c: Container, starts: int) -> Callable[[], bool]:
    return lambda: c.state.status == "running" and len(rt.started) == starts


async def test_on_failure_reads_restarting_until_it_runs_and_exited_with_its_code(tmp_path: pathlib.Path) -> None:
    _, rt, c = await engine(tmp_path, {"Name": "on-failure", "MaximumRetryCount": 2})
    seen: list[tuple[str, View]] = []
    record_views(rt, c, seen)
    for n in (1, 2):
        rt.exit(c.id, 1)
        await until(running_after(rt, c, starts=n + 1), f"restarted {n}")
        assert view(c) == ("running", n, 0)  # dockerd's SetRunning: ExitCode 0 while it runs
    rt.exit(c.id, 1)
    await until(lambda: len(seen) == 5, "torn down the last exit")
    assert seen == [
        ("teardown", ("restarting", 1, 1)),
        ("start", ("restarting", 1, 1)),
        ("teardown", ("restarting", 2, 1)),
        ("start", ("restarting", 2, 1)),
        ("teardown", ("exited", 2, 1)),
    ]
    assert view(c) == ("exited", 2, 1)


async def test_stop_while_the_policy_restart_is_starting_stops_the_new_process(tmp_path: pathlib.Path) -> None:
    """A stop that arrives while the restart's start is in flight (it holds the container's lock)
    waits for it and stops the process it started: never a running process shown as exited."""
    svc, rt, c = await engine(tmp_path, {"Name": "always"})
    gate = asyncio.Event()
    seen: list[tuple[str, View]] = []
    record_views(rt, c, seen, gate)
    rt.exit(c.id, 0)
    await until(lambda: any(what == "start" for what, _ in seen), "asked for the restart's start")
    assert view(c) == ("restarting", 1, 0)
    stop = asyncio.create_task(svc.stop(c.id, timeout=1))
    for _ in range(5):  # the stop reaches the container's lock, which the restart's start holds
        await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(stop, 5)
    assert view(c)[0] == "exited" and not rt.running(c.id) and c.manually_stopped
    assert len(rt.started) == 2  # the restart happened, then the stop ended it; nothing restarts it
    await asyncio.sleep(0.3)
    assert view(c)[0] == "exited" and len(rt.started) == 2
