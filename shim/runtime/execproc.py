"""Runtime adapter: exec sessions, `runc exec` run by shimd itself.

Each exec is a `runc --root <exec-root>/runc exec --process <spec> <cid>` child of shimd
(exec sessions need not outlive shimd); runc's exit status is the process's. The
process spec starts from the container's own (`config.json` in its bundle: capabilities,
rlimits, no-new-privileges, apparmor) with the exec's args, env, cwd, user and terminal.

Without a TTY the process inherits runc's stdio: pipes owned by shimd (stdout and stderr
apart, stdin only when attached). With a TTY, runc's foreground console mode needs a
terminal of its own: shimd opens a pty, hands runc the slave as its stdio and talks to
the master; runc copies between it and the container's pty, and resizes the container's
pty to ours on SIGWINCH (that is how resize reaches it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import signal
import struct
import termios
import tty as _tty
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shim.errors import Conflict, SystemFailure
from shim.runtime import oci_host, overlay
from shim.runtime.fsutil import read_pid

if TYPE_CHECKING:
    from shim.runtime.runc import RuncRuntime


class ExecProcess:
    """One running exec: output chunks as (stream, bytes), stdin, resize, exit code."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        master: int | None,
        spec_path: str,
        pid_file: str,
        log_file: str,
        on_decided: Callable[[], None] = lambda: None,
    ) -> None:
        self._proc = proc
        self._on_decided = on_decided  # the process runs (or runc failed): its cgroup move is behind it
        self._log_file = log_file
        self.runc_error = ""  # set when runc itself failed to start the process (not the process's own exit)
        self._master = master
        self._spec_path = spec_path
        self._pid_file = pid_file
        # (stream, chunk); None marks the end of one source (a pipe or the pty)
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []
        self._open = 0
        self._err_tail = b""
        self.pid = 0
        # runc prints its own start failure on stderr too: hold stderr until the process is known to run
        self._held: list[bytes] = []
        self._decided = asyncio.Event()
        loop = asyncio.get_running_loop()
        if master is not None:
            self._open = 1
            self._pty_eof = False
            loop.add_reader(master, self._read_master, master)
        else:
            for stream, pipe in ((1, proc.stdout), (2, proc.stderr)):
                if pipe is not None:
                    self._open += 1
                    self._readers.append(loop.create_task(self._read_pipe(stream, pipe)))
        self._exit_task = loop.create_task(self._wait())

    def _read_master(self, master: int) -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError as e:  # EIO: every slave end is closed (the process and runc are gone)
            if e.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if data:
            self._out.put_nowait((1, data))
            return
        asyncio.get_running_loop().remove_reader(master)
        self._out.put_nowait(None)

    async def _read_pipe(self, stream: int, pipe: asyncio.StreamReader) -> None:
        while True:
            data = await pipe.read(65536)
            if not data:
                break
            if stream == 2 and not self._decided.is_set():
                self._held.append(data)
                continue
            self._out.put_nowait((stream, data))
        if stream == 2:
            await self._decided.wait()
        self._out.put_nowait(None)

    def _decide(self, keep: bool) -> None:
        if self._decided.is_set():
            return
        if keep:
            for data in self._held:
                self._out.put_nowait((2, data))
        self._held.clear()
        self._decided.set()
        self._on_decided()

    async def _wait(self) -> int:
        rc = await self._proc.wait()
        pid, self.runc_error = await asyncio.to_thread(self._collect, rc)
        self.pid = self.pid or pid
        self._decide(keep=not self.runc_error)
        if self.runc_error:
            return 126  # dockerd: an exec that could not start exits 126
        return rc if rc >= 0 else 128 - rc

    def _collect(self, rc: int) -> tuple[int, str]:
        """After runc exec ended (in a thread): the pid it wrote, the error it logged if it failed,
        and its files removed."""
        pid = 0 if self.pid else read_pid(self._pid_file)
        error = _runc_log_error(self._log_file) if rc != 0 else ""
        for path in (self._spec_path, self._pid_file, self._log_file):
            with contextlib.suppress(OSError):
                os.unlink(path)
        return pid, error

    async def read_pid(self) -> int:
        for _ in range(100):
            pid = await asyncio.to_thread(read_pid, self._pid_file)
            if pid:
                self.pid = pid
                self._decide(keep=True)
                return self.pid
            if self._exit_task.done():
                break
            await asyncio.sleep(0.01)
        return self.pid

    async def read(self) -> tuple[int, bytes] | None:
        while self._open:
            item = await self._out.get()
            if item is None:
                self._open -= 1
                continue
            return item
        return None

    async def write(self, data: bytes) -> None:
        if self._master is not None:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                    view = view[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.005)
                except OSError:
                    return
            return
        stdin = self._proc.stdin
        if stdin is None or stdin.is_closing():
            return
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def close_stdin(self) -> None:
        stdin = self._proc.stdin
        if self._master is None and stdin is not None and not stdin.is_closing():
            stdin.close()

    async def resize(self, height: int, width: int) -> None:
        if self._master is None:
            return
        if self._exit_task.done():
            raise SystemFailure("cannot resize a stopped container: unknown")
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc.pid, signal.SIGWINCH)  # runc resizes the container's pty to ours

    async def wait(self) -> int:
        return await asyncio.shield(self._exit_task)

    async def kill(self) -> None:
        if self._exit_task.done():
            return
        with contextlib.suppress(ProcessLookupError):
            if self.pid:
                os.kill(self.pid, signal.SIGKILL)
            self._proc.kill()

    async def drain_and_close(self) -> None:
        """Nobody reads any more (detached, or the client went away): keep the pipes flowing so the
        process never blocks on a full pipe, then release our ends."""
        while await self.read() is not None:
            pass
        await self.close()

    async def close(self) -> None:
        """Release our ends once the process is gone (the exit is awaited by whoever needs it)."""
        with contextlib.suppress(Exception):
            await self._exit_task
        for t in self._readers:
            t.cancel()
        if self._master is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None


class ExecRuntime:
    """Starts exec processes in containers run by RuncRuntime (its bundles, runc root, rootfs)."""

    def __init__(self, runtime: RuncRuntime) -> None:
        self._rt = runtime

    def _process_spec(
        self, cid: str, cmd: list[str], env: list[str], cwd: str, user: str, tty: bool, privileged: bool
    ) -> dict[str, Any]:
        """Blocking: the container's process section with the exec's settings."""
        with open(os.path.join(self._rt.bundle(cid), "config.json")) as f:
            base = json.load(f)["process"]
        proc = dict(base)
        proc["args"] = list(cmd)
        proc["terminal"] = tty
        proc.pop("consoleSize", None)
        merged: dict[str, str] = {}
        for item in list(base.get("env") or []) + list(env or []):
            k, _, v = item.partition("=")
            merged[k] = v
        proc["env"] = [f"{k}={v}" for k, v in merged.items()]
        if tty and not any(e.startswith("TERM=") for e in proc["env"]):
            proc["env"].append("TERM=xterm")
        proc["cwd"] = cwd or base.get("cwd") or "/"
        if user:
            ru = overlay.resolve_user(self._rt.rootfs_path(cid), user)
            proc["user"] = {
                "uid": ru.uid,
                "gid": ru.gid,
                **({"additionalGids": ru.additional_gids} if ru.additional_gids else {}),
            }
        if privileged:
            caps = oci_host.held_caps()  # as a privileged container's: all that shimd holds
            proc["capabilities"] = dict.fromkeys(("bounding", "effective", "permitted"), caps)
        return proc

    async def start(
        self,
        cid: str,
        *,
        cmd: list[str],
        env: list[str],
        cwd: str,
        user: str,
        tty: bool,
        privileged: bool,
        attach_stdin: bool,
        console_size: tuple[int, int] | None = None,
    ) -> ExecProcess:
        try:
            proc_spec = await asyncio.to_thread(self._process_spec, cid, cmd, env, cwd, user, tty, privileged)
        except FileNotFoundError:
            raise Conflict(f"Container {cid} is not running") from None
        token = uuid.uuid4().hex[:16]
        spec_path = os.path.join(self._rt.bundle(cid), f"exec-{token}.json")
        pid_file = os.path.join(self._rt.bundle(cid), f"exec-{token}.pid")
        log_file = os.path.join(self._rt.bundle(cid), f"exec-{token}.log")
        await asyncio.to_thread(_write_json, spec_path, proc_spec)
        # runc's own errors go to the log, so the process's stderr stays the process's
        args = [
            self._rt.runc,
            "--root",
            self._rt.runc_root,
            "--log",
            log_file,
            "--log-format",
            "json",
            "exec",
            "--process",
            spec_path,
            "--pid-file",
            pid_file,
        ]
        if tty:
            args.append("--tty")
        args.append(cid)
        master = None
        # `runc exec` moves the process into the container's cgroups: the kernel's wait for that
        # is paid beside runc's start-up, until the process is known to run (cgwarm.py)
        warmer = self._rt.warmer
        warm = warmer.hold()
        try:
            if tty:
                master, slave = os.openpty()
                _tty.setraw(slave)
                if console_size and console_size[0] and console_size[1]:
                    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", console_size[0], console_size[1], 0, 0))
                os.set_blocking(master, False)
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
                    )
                finally:
                    os.close(slave)
            else:
                proc = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=asyncio.subprocess.PIPE if attach_stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
        except BaseException:
            warmer.release(warm)
            if master is not None:
                os.close(master)
            with contextlib.suppress(OSError):
                os.unlink(spec_path)
            raise
        return ExecProcess(proc, master, spec_path, pid_file, log_file, lambda: warmer.release(warm))


def _runc_log_error(path: str) -> str:
    """The last error runc logged (a missing executable, a bad user…), as dockerd words it."""
    msg = ""
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("level") in ("error", "fatal") and rec.get("msg"):
                    msg = rec["msg"]
    except OSError:
        return ""
    return f"OCI runtime exec failed: {msg}: unknown" if msg else ""


def _write_json(path: str, obj: dict[str, Any]) -> None:
    with open(path, "w") as f:
        f.write(json.dumps(obj))  # dumps: the C encoder (json.dump is always the pure-Python one)
