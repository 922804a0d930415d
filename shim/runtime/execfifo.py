"""Runtime adapter: starting a created runc container without a `runc start` process.

`runc create` leaves the container's init blocked opening `<runc-root>/<id>/exec.fifo` for
writing. `runc start` (runc 1.0–1.2: start.go, libcontainer's linuxContainer.exec and
handleFifoResult; no hook runs there) does four things: opens the fifo for reading, reads the
"0" init writes into it, reads on to EOF (init's end goes as it execs the user's process: closed
just before execve by runc with the CVE-2024-21626 fix, else close-on-exec; or init ended) and
removes the fifo (from then on `runc state` says "running"; the process may still be inside its
execve, exactly as when `runc start` returns). Doing the same here saves a runc process per
start: Go's start-up, the state load, a read of the host's whole mountinfo (5.5 ms of CPU and
6.4 ms of wall time each on 2026-12-05, docs/PERFORMANCE.md "The runtime's share of a start").

Only the plain case is done here. Anything else (no fifo: another runtime or runc version;
init gone before it wrote: runc's own words for it) is left to `runc start`, the caller's
fallback, which finds the fifo as runc left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select

FIFO = "exec.fifo"


async def start(state_dir: str, init_pid: int) -> bool:
    """Let the created container whose runc state is in `state_dir` exec its process, as
    `runc start` does. False, with nothing changed, when `runc start` must do it instead."""
    path = os.path.join(state_dir, FIFO)
    try:
        # before the fifo is opened: once it is, init may exec, run and be reaped at once
        pidfd = os.pidfd_open(init_pid)
    except OSError:  # init already reaped (or no pidfd): runc decides what that means
        return False
    try:
        # One thread hop for the whole handshake when init answers at once, as it does: it waits
        # in its open of the fifo and writes as soon as ours is open (issue 17, fifth pass: it was
        # two hops, the token awaited on the loop between them). An init that has not written
        # within FIRST_WAIT is awaited on the loop as before, so no thread waits on it unbounded
        # and the start stays cancellable.
        fd, said = await asyncio.to_thread(_handshake, path, pidfd)
        if fd < 0:
            return said
        try:
            if not await _await_token(fd, pidfd):
                return False
            await asyncio.to_thread(_finish, fd, path)
        finally:
            os.close(fd)
    finally:
        os.close(pidfd)
    return True


FIRST_WAIT = 0.5  # seconds a thread waits for init's token before the loop takes over


def _handshake(path: str, pidfd: int) -> tuple[int, bool]:
    """Blocking: open the fifo, wait up to FIRST_WAIT for init's token (or its end), then read to
    EOF and remove the fifo. (-1, started) when done or refused; (fd, False) when init has not
    written yet: the fifo's read end, for the caller to wait on."""
    fd = _open(path)
    if fd < 0:
        return -1, False
    try:
        said = _read_token(fd, pidfd, FIRST_WAIT)
        if said is None:
            keep, fd = fd, -1  # handed to the caller, not closed here
            return keep, False
        if said:
            # init wrote its "0": from here it only closes its end and execs (EOF), or fails and ends
            _finish(fd, path)
        return -1, said
    finally:
        if fd >= 0:
            os.close(fd)


def _open(path: str) -> int:
    """Blocking: the fifo's read end, or -1. Non-blocking: opening it for reading never waits
    (a dead init can't hang us), and the writer waiting in its open goes on at once."""
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return -1


def _finish(fd: int, path: str) -> None:
    """Blocking: read to EOF (init is exec'ing the process, or ended), remove the fifo."""
    os.set_blocking(fd, True)
    while os.read(fd, 64):
        pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _read_token(fd: int, pidfd: int, timeout: float) -> bool | None:
    """Blocking: True once init has written into the fifo, False if it ended without a word,
    None if neither happened within `timeout` seconds."""
    poller = select.poll()  # not select(): shimd may hold more than FD_SETSIZE descriptors
    poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(int(timeout * 1000)):
        return None
    return _token(fd, pidfd)


def _token(fd: int, pidfd: int) -> bool | None:
    """After a wake-up: True if init's word is there, False if init ended without one, None if
    neither (a spurious wake-up: wait again)."""
    ended = _ended(pidfd)  # before the read: what init wrote before it ended is read below
    try:
        if os.read(fd, 64):
            return True
    except BlockingIOError:
        pass
    return False if ended else None


async def _await_token(fd: int, pidfd: int) -> bool:
    """Wait on the loop until init has written into the fifo (True) or has ended without a word (False)."""
    loop = asyncio.get_running_loop()
    while True:
        ready: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _wake, ready)
        loop.add_reader(pidfd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
            loop.remove_reader(pidfd)
        said = _token(fd, pidfd)
        if said is not None:
            return said


def _ended(pidfd: int) -> bool:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(0))


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
