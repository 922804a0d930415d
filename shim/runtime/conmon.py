"""Runtime adapter: talking to conmon, the per-container monitor (Podman's).

conmon runs `runc create`, reports the container pid (or runc's error) on the sync
pipe, then owns the container's stdio: it writes the k8s-file log, serves the attach
socket (SOCK_SEQPACKET, first byte of each message = pipe: 2 stdout, 3 stderr; what
we send goes to stdin), reads the `ctl` fifo (`1 <h> <w>\n` resizes the tty) and
writes the exit code to `<exit-dir>/<id>` when the process ends. It double-forks and
calls setsid, so it outlives shimd. The log files are logfiles.py's, their format k8slog.py's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import socket
from typing import Any

from shim.engine.ports import LogPolicy, RunRequest

CONMON_PIPE_STDOUT = 2
CONMON_PIPE_STDERR = 3


async def read_sync_message(fd: int, timeout: float = 60.0) -> dict[str, Any]:
    """One JSON line from conmon's sync pipe ({"data": pid} or {"data": -1, "message": ...}).

    Read on the event loop, not in a thread: parallel starts would otherwise each hold a thread
    of the default pool (6 on 2 cores) for the whole `runc create`, and every other to_thread
    call (overlay mounts, netlink, the store) queued behind them."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    buf = b""
    try:
        async with asyncio.timeout(timeout):
            while b"\n" not in buf:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(fd)
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                buf += chunk
    except TimeoutError:
        raise TimeoutError("timed out waiting for conmon") from None
    if not buf.strip():
        return {"data": -1, "message": "conmon exited without reporting the container's pid"}
    msg: dict[str, Any] = json.loads(buf.split(b"\n", 1)[0])
    return msg


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_RUNC_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')


def runc_error_text(raw: str) -> str:
    """The useful part of runc's stderr (logrus text lines or a plain line)."""
    msgs: list[str] = [json.loads(f'"{m}"') for m in _RUNC_MSG.findall(raw)]
    if msgs:
        return msgs[-1]
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    return lines[-1] if lines else raw.strip()


class ConmonAttach:
    """AttachHandle over conmon's attach socket.

    One pump task is the only reader of the socket (never cancelled mid-read, so no
    message can be lost); read() takes from its buffer. Once claimed, the pump stops
    reading past HIGH_WATER bytes, so a slow client slows the container as with dockerd.
    """

    HIGH_WATER = 1024 * 1024
    UNCLAIMED_LIMIT = 4 * 1024 * 1024  # kept for a claimer-to-be, then dropped

    def __init__(self, sock: socket.socket, claimed: bool = True) -> None:
        self._sock = sock
        self._items: collections.deque[tuple[int, bytes]] = collections.deque()
        self._bytes = 0
        self._eof = False
        self._closed = False
        self.claimed = claimed
        self.discard = False
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    @classmethod
    async def connect(cls, path: str, claimed: bool = True) -> ConmonAttach:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, path)
        except BaseException:
            sock.close()
            raise
        return cls(sock, claimed)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                msg = await loop.sock_recv(self._sock, 65536)
            except (ConnectionError, OSError):
                msg = b""
            if not msg:
                break
            if msg[0] == CONMON_PIPE_STDOUT:
                item = (1, msg[1:])
            elif msg[0] == CONMON_PIPE_STDERR:
                item = (2, msg[1:])
            else:
                continue
            if self.discard or (not self.claimed and self._bytes >= self.UNCLAIMED_LIMIT):
                continue
            self._items.append(item)
            self._bytes += len(item[1])
            self._ready.set()
            while self.claimed and self._bytes > self.HIGH_WATER and not self._closed:
                self._space.clear()
                await self._space.wait()
        self._eof = True
        self._ready.set()

    def drop_buffered(self) -> None:
        self._items.clear()
        self._bytes = 0
        self._space.set()

    async def read(self) -> tuple[int, bytes] | None:
        while not self._items:
            if self._eof or self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._bytes -= len(item[1])
        if self._bytes <= self.HIGH_WATER:
            self._space.set()
        return item

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        # conmon reads one message of up to 32 KiB at a time
        for i in range(0, len(data), 8192):
            await loop.sock_sendall(self._sock, data[i : i + 8192])

    async def close_stdin(self) -> None:
        # conmon closes the container's stdin when it reads EOF here (unless --leave-stdin-open)
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        self._space.set()
        self._pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump_task
        self._sock.close()


class EarlyAttach:
    """An attach connection made before `runc start`, buffering output until claimed.

    A container may print and exit before anyone could attach after start (`docker
    run busybox echo hi`); the first attach() within WINDOW seconds of the start gets
    this handle with everything the process wrote from its first byte.
    """

    WINDOW = 10.0

    def __init__(self, handle: ConmonAttach, keep_open: bool) -> None:
        self.handle = handle
        # closing the socket makes conmon close stdin (StdinOnce): then keep draining instead
        self.keep_open = keep_open
        self.expired = False
        self._timer = asyncio.get_running_loop().call_later(self.WINDOW, self._expire)

    def _expire(self) -> None:
        self.expired = True
        self.handle.discard = True
        self.handle.drop_buffered()
        if not self.keep_open:
            asyncio.get_running_loop().create_task(self.handle.close())

    def claim(self) -> ConmonAttach | None:
        if self.expired:
            return None
        self._timer.cancel()
        self.handle.claimed = True
        return self.handle

    async def close(self) -> None:
        self._timer.cancel()
        await self.handle.close()


def log_args(p: LogPolicy, path: str) -> list[str]:
    """conmon's log options: k8s-file at LogPath, rotated by conmon at max-size (the keeper keeps
    the generations), or nothing written at all for `none`. --no-sync-log: dockerd does not fsync
    its log files either (conmon would at every rotation and at exit)."""
    if p.driver == "none":
        return ["-l", "none"]
    args = ["-l", f"k8s-file:{path}", "--no-sync-log"]
    if p.max_size > 0:
        args += ["--log-size-max", str(p.max_size)]
    return args


def command_line(
    req: RunRequest,
    *,
    conmon: str,
    runc: str,
    runc_root: str,
    bundle: str,
    exit_dir: str,
    sock_dir: str,
    log_path: str,
) -> list[str]:
    """conmon's command line for a start: it runs `runc create` on `bundle` (pidfile and its own
    pid there), writes the exit code to `exit_dir`, serves the attach socket under `sock_dir`."""
    cid = req.id
    args = [
        conmon,
        "--api-version",
        "1",
        "-c",
        cid,
        "-u",
        cid[:12],
        "-n",
        req.name or cid,
        "-r",
        runc,
        "-b",
        bundle,
        "-p",
        os.path.join(bundle, "pidfile"),
        "--conmon-pidfile",
        os.path.join(bundle, "conmon.pid"),
        "--exit-dir",
        exit_dir,
        "--persist-dir",
        bundle,
        "--socket-dir-path",
        sock_dir,
        *log_args(req.log, log_path),
        "--log-level",
        "error",
        "--runtime-arg",
        f"--root={runc_root}",
    ]
    if req.tty:
        args.append("-t")
    if req.open_stdin:
        args.append("-i")
        if not req.stdin_once:
            # without it conmon closes stdin when an attached client goes away (StdinOnce)
            args.append("--leave-stdin-open")
    return args


def is_conmon(pid: int) -> int:
    """Blocking: `pid` while it is a conmon process, else 0."""
    if not pid:
        return 0
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if b"conmon" in f.read().split(b"\0", 1)[0] else 0
    except OSError:
        return 0
