"""Runtime adapter: the Runtime port with runc under conmon (one conmon per container).

Layout: `<exec-root>/containers/<id>/` is the bundle (config.json, rootfs mount point,
pidfile, conmon.pid, ctl/winsz fifos, attach socket), `<exec-root>/exits/<id>` the exit
code conmon writes, `<exec-root>/runc` runc's --root, `<exec-root>/s/<id12>` conmon's
short symlinks to bundles (unix socket paths are limited to 108 bytes).
`<data-root>/containers/<id>/{diff,work,container.log}` the container's own files.
Everything is found again from disk, so a new RuncRuntime after a shimd crash carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal as _signal
import time
from collections.abc import AsyncIterator
from typing import Any

from shim.engine.ports import AttachHandle, ExitInfo, LogChunk, LogQuery, RunRequest, RuntimeState
from shim.errors import Conflict, InvalidParameter, StartFailed, SystemFailure, runtime_start_failed
from shim.runtime import cgroups, cgwarm, execfifo, logread, oci_host, oci_spec, overlay
from shim.runtime import survey as _survey
from shim.runtime.conmon import (
    ConmonAttach,
    EarlyAttach,
    command_line,
    is_conmon,
    read_sync_message,
    runc_error_text,
)
from shim.runtime.exitwatch import ExitWatcher
from shim.runtime.fsutil import Trash, tree_size
from shim.runtime.logfiles import Keeper, Layout

log = logging.getLogger("shim.runtime")


def _which(name: str, fallback: str) -> str:
    return shutil.which(name) or fallback


class RuncRuntime:
    platform = "linux"

    def __init__(
        self,
        *,
        data_root: str,
        exec_root: str,
        runc: str | None = None,
        conmon: str | None = None,
        cgroup_root: str = "/shim",
        init_binary: str | None = None,
    ) -> None:
        self.data_root = os.path.abspath(data_root)
        self.exec_root = os.path.abspath(exec_root)
        self.runc = runc or _which("runc", "/usr/sbin/runc")
        self.conmon = conmon or _which("conmon", "/usr/bin/conmon")
        self.cgroup_root = cgroup_root
        self.init_binary = init_binary
        self.runc_root = os.path.join(self.exec_root, "runc")
        self.exit_dir = os.path.join(self.exec_root, "exits")
        self.sock_dir = os.path.join(self.exec_root, "s")
        self._facts: oci_spec.HostFacts | None = None
        self._early: dict[str, EarlyAttach] = {}
        self._cgpaths: dict[str, str] = {}
        self._surveyed: dict[str, int] = {}  # conmon PIDs found at daemon start, by container
        self._exits = ExitWatcher(self.exit_dir)
        self._log_files = Layout(self.data_root)
        self._keeper = Keeper(self._log_files)
        self._trash = Trash()  # a removed container's directories are deleted after the answer
        # runc create's and runc exec's cgroup move: the kernel's wait paid beside their start-up
        self.warmer = cgwarm.Warmer()

    # --- paths ---------------------------------------------------------------

    def bundle(self, cid: str) -> str:
        return os.path.join(self.exec_root, "containers", cid)

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def rootfs_path(self, cid: str) -> str:
        return os.path.join(self.bundle(cid), "rootfs")

    def upper_dir(self, cid: str) -> str:
        return os.path.join(self.container_dir(cid), "diff")

    async def diff_size(self, cid: str) -> int:
        """Bytes in the container's own diff (SizeRw)."""
        return await asyncio.to_thread(tree_size, self.upper_dir(cid))

    def log_path(self, cid: str) -> str:
        return self._log_files.current(cid)

    def _exit_file(self, cid: str) -> str:
        return os.path.join(self.exit_dir, cid)

    def _attach_path(self, cid: str) -> str:
        return os.path.join(self.sock_dir, cid[:12], "attach")

    # --- helpers -------------------------------------------------------------

    async def _runc(self, *args: str, stdin: bytes | None = None) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.runc,
            "--root",
            self.runc_root,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate(stdin)
        return proc.returncode or 0, out.decode(errors="replace")

    def _conmon_pid(self, cid: str) -> int:
        try:
            with open(os.path.join(self.bundle(cid), "conmon.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):  # a damaged bundle: the monitor the survey found, if any
            return self._surveyed.get(cid, 0)

    def _live_conmon(self, cid: str) -> int:
        """Blocking: the container's conmon's PID while it runs, else 0."""
        return is_conmon(self._conmon_pid(cid))

    def _conmon_alive(self, cid: str) -> bool:
        return self._live_conmon(cid) != 0

    def _read_exit(self, cid: str) -> ExitInfo | None:
        path = self._exit_file(cid)
        try:
            with open(path) as f:
                text = f.read().strip()
            finished = os.stat(path).st_mtime
        except OSError:
            return None
        try:
            code = int(text)
        except ValueError:  # empty or half-written: not an exit yet
            return None
        oom = os.path.exists(os.path.join(self.bundle(cid), "oom"))  # conmon writes it in --persist-dir
        return ExitInfo(exit_code=code, finished_at=finished, oom_killed=oom)

    def _cgpath(self, cid: str) -> str:
        if cid not in self._cgpaths:
            try:
                with open(os.path.join(self.bundle(cid), "config.json")) as f:
                    self._cgpaths[cid] = json.load(f)["linux"]["cgroupsPath"]
            except (OSError, ValueError, KeyError):
                return f"{self.cgroup_root}/{cid}"
        return self._cgpaths[cid]

    # --- start -----------------------------------------------------------------

    def _prepare(self, req: RunRequest, unless_stale: bool = False) -> bool:
        """Blocking: rootfs, user, working dir, config.json. With `unless_stale`, nothing and True
        when runc still has state of the container (its delete comes first)."""
        cid = req.id
        if unless_stale and os.path.isdir(os.path.join(self.runc_root, cid)):
            return True
        hc = req.host_config
        bundle = self.bundle(cid)
        for d in (bundle, self.exit_dir, self.sock_dir, self.runc_root, self.container_dir(cid)):
            os.makedirs(d, exist_ok=True)
        for stale in (
            self._exit_file(cid),
            os.path.join(bundle, "oom"),
            os.path.join(bundle, "exit"),
            os.path.join(bundle, "pidfile"),
            os.path.join(bundle, "conmon.pid"),
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        rootfs = self.rootfs_path(cid)
        overlay.mount_overlay(
            req.layer_dirs, self.upper_dir(cid), os.path.join(self.container_dir(cid), "work"), rootfs
        )
        user = overlay.resolve_user(rootfs, req.user, hc.get("GroupAdd"))
        overlay.setup_working_dir(rootfs, req.cwd)
        facts = self._host_facts()
        if hc.get("Privileged"):
            facts = oci_spec.HostFacts(**{f: getattr(facts, f) for f in facts.__slots__})
            facts.host_devices = oci_host.host_devices()
        devices = oci_host.resolve_devices(hc.get("Devices"))
        spec = oci_spec.build_spec(req, rootfs, user, facts, devices, oci_host.resolve_blkio_devices(hc))
        tmp = os.path.join(bundle, "config.json.tmp")
        with open(tmp, "w") as f:
            # dumps, not dump: json.dump always takes the pure-Python encoder (0.8 ms for the ~10 KB
            # spec with its seccomp profile), dumps the C one (0.12 ms); the same text either way
            f.write(json.dumps(spec))
        os.replace(tmp, os.path.join(bundle, "config.json"))
        self._cgpaths[cid] = spec["linux"]["cgroupsPath"]
        self._keeper.prepare(cid, req.log)
        return False

    def _conmon_args(self, req: RunRequest) -> list[str]:
        return command_line(
            req,
            conmon=self.conmon,
            runc=self.runc,
            runc_root=self.runc_root,
            bundle=self.bundle(req.id),
            exit_dir=self.exit_dir,
            sock_dir=self.sock_dir,
            log_path=self.log_path(req.id),
        )

    async def start(self, req: RunRequest, ready: asyncio.Future[None] | None = None) -> int:
        cid = req.id
        try:
            try:
                # one trip off the loop as a rule: runc state left by a start cut short goes first
                if await asyncio.to_thread(self._prepare, req, unless_stale=True):
                    await self._runc("delete", "--force", cid)
                    await asyncio.to_thread(self._prepare, req)
            except InvalidParameter as e:
                # moby: any error while creating the spec is a System error (500), even a bad user
                raise SystemFailure(e.message) from e
            pid = await self._spawn(req)
            if ready is not None:  # the network, wired meanwhile: before the process runs (issue 17)
                await ready
            early = None
            try:
                early = EarlyAttach(
                    await ConmonAttach.connect(self._attach_path(cid), claimed=False),
                    keep_open=req.open_stdin and req.stdin_once,
                )
            except OSError:
                pass
            # what `runc start` does, without its process (execfifo.py); runc itself when unsure
            started = await execfifo.start(os.path.join(self.runc_root, cid), pid)
            rc, out = (0, "") if started else await self._runc("start", cid)
            if rc != 0:
                if early:
                    await early.close()
                raise _start_error(runc_error_text(out), req.args[0] if req.args else "")
            if early:
                self._early[cid] = early
            return pid
        except BaseException:
            with contextlib.suppress(Exception):
                await self._release(cid, drop_bundle=True)
            raise

    async def _spawn(self, req: RunRequest) -> int:
        """Run conmon (which runs `runc create`), return the container pid."""
        sync_r, sync_w = os.pipe()
        # No _OCI_STARTPIPE: conmon blocks on that pipe before it forks runc only so that its parent
        # can first move it into a cgroup (conmon.c: "to ensure the parent can put us in the right
        # cgroup"); shimd moves it nowhere, and without the pipe conmon goes on at once instead of
        # waiting for shimd's loop to come back from the spawn and write it (issue 17).
        # TZ=UTC: conmon stamps log lines in local time; in UTC they read back without a parse.
        # LC_ALL: in the C locale glib converts conmon's messages through iconv, which maps the
        # gconv cache and costs each conmon ~0.4 MiB more RSS (2.55 vs 2.12 MiB measured)
        env = dict(os.environ, _OCI_SYNCPIPE=str(sync_w), TZ="UTC", LC_ALL="C.UTF-8")
        env.update(self._keeper.conmon_env(req.id, req.log))  # conmon keeps the log's generations itself
        warm = self.warmer.hold()  # until runc create has reported (cgwarm.py)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._conmon_args(req),
                env=env,
                pass_fds=(sync_w,),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.bundle(req.id),
            )
        except BaseException:
            self.warmer.release(warm)
            for fd in (sync_r, sync_w):
                os.close(fd)
            raise
        os.close(sync_w)
        try:
            msg = await read_sync_message(sync_r)
        finally:
            self.warmer.release(warm)
            os.close(sync_r)
            _, err = await proc.communicate()
        pid = int(msg.get("data", -1))
        if pid <= 0:
            text = msg.get("message") or err.decode(errors="replace") or "conmon failed"
            raise _start_error(runc_error_text(text), req.args[0] if req.args else "")
        return pid

    async def _release(self, cid: str, *, drop_bundle: bool = False, drop_files: bool = False) -> None:
        """Undo a start, whole or partial: the early attach, runc's state, conmon, the rootfs mount;
        `drop_bundle` also the bundle and exit file (a failed start, a removal), `drop_files` the
        container's own files (diff, work dir, log: a removal). Idempotent."""
        early = self._early.pop(cid, None)
        if early:
            await early.close()
        self._cgpaths.pop(cid, None)
        # one trip off the loop when nothing runs any more (a removal after the exit's cleanup)
        runc_state, conmon = await asyncio.to_thread(self._release_if_idle, cid, drop_bundle, drop_files)
        if not (runc_state or conmon):
            return
        if runc_state:
            await self._runc("delete", "--force", cid)
        if conmon:
            await self._stop_conmon(cid)
        await asyncio.to_thread(self._unmount_and_clear, cid, drop_bundle, drop_files)

    def _release_if_idle(self, cid: str, drop_bundle: bool, drop_files: bool) -> tuple[bool, int]:
        """Blocking: whether runc still has state for the container and conmon's PID if it runs;
        when neither, the files are released here and then."""
        runc_state = os.path.isdir(os.path.join(self.runc_root, cid))
        conmon = self._live_conmon(cid)
        if not (runc_state or conmon):
            self._unmount_and_clear(cid, drop_bundle, drop_files)
        return runc_state, conmon

    async def _stop_conmon(self, cid: str, pid: int = 0) -> None:
        """Give conmon a second to finish after the exit, then kill it. `pid`: when the bundle
        (and its conmon.pid) may be gone already (a container no record claims)."""

        def alive() -> int:
            return is_conmon(pid) if pid else self._live_conmon(cid)

        for _ in range(50):
            if not await asyncio.to_thread(alive):
                return
            await asyncio.sleep(0.02)
        live = await asyncio.to_thread(alive)
        if live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(live, _signal.SIGKILL)

    def _unmount_and_clear(self, cid: str, drop_bundle: bool, drop_files: bool = False) -> None:
        self._keeper.release(cid)
        overlay.unmount(self.rootfs_path(cid))
        link = os.path.join(self.sock_dir, cid[:12])
        if os.path.islink(link):
            os.unlink(link)
        if drop_bundle:
            self._trash.discard(self.bundle(cid))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._exit_file(cid))
        else:  # the process is gone: so are its exec sessions (a crash may have left their files)
            with contextlib.suppress(OSError):
                for name in os.listdir(self.bundle(cid)):
                    if name.startswith("exec-"):
                        with contextlib.suppress(OSError):
                            os.unlink(os.path.join(self.bundle(cid), name))
        if drop_files:
            self._trash.discard(self.container_dir(cid))

    # --- daemon start ----------------------------------------------------------------

    async def survey(self, known: set[str]) -> dict[str, RuntimeState]:
        """Daemon start (docs/RELIABILITY.md): a container the runtime holds but no record in
        `known` claims (a create or start cut by a crash, a removal cut before its end) is killed
        and everything of it removed; files of exec sessions whose runc is gone are dropped.
        Returns the state of each known container, `held` when its runc state, monitor or rootfs
        mount is still there. runc's view is told by its state dir and the monitors
        (`survey.runc_entries`), else by one `runc list` for all."""
        await asyncio.to_thread(self._trash.sweep, self.exec_root, self.data_root)
        h = await asyncio.to_thread(
            _survey.scan_without_runc, self.exec_root, self.data_root, self.runc_root, self._frozen
        )
        if h is None:  # runc's list first, then the monitors and files read after it
            proc = await asyncio.create_subprocess_exec(
                *(self.runc, "--root", self.runc_root, "list", "--format", "json"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await proc.communicate()
            runc = _survey.parse_runc_list(out.decode(errors="replace"))
            h = await asyncio.to_thread(_survey.scan, self.exec_root, self.data_root, runc)
        self._surveyed = dict(h.conmons)
        for cid in sorted(h.ids() - known):
            log.warning("container %s is held by the runtime but in no record: removing it", cid)
            try:
                await self._discard(cid, h)
            except Exception:
                log.exception("removing container %s", cid)
        return await asyncio.to_thread(self._states, known, h)

    def _frozen(self, cid: str) -> bool | None:
        """The default cgroup's freezer first: reading each config.json was half the survey's CPU."""
        if cid not in self._cgpaths:
            default = cgroups.frozen(f"{self.cgroup_root}/{cid}")
            if default is not None:
                return default
        return cgroups.frozen(self._cgpath(cid))

    async def _discard(self, cid: str, h: _survey.Holdings) -> None:
        if cid in h.runc:
            await self._runc("delete", "--force", cid)  # kills what runs in it, frees its cgroups
        if cid in h.conmons:
            await self._stop_conmon(cid, h.conmons[cid])
        self._early.pop(cid, None)
        self._cgpaths.pop(cid, None)
        await asyncio.to_thread(self._unmount_and_clear, cid, True, True)

    def _states(self, known: set[str], h: _survey.Holdings) -> dict[str, RuntimeState]:
        """Blocking: each known container's state as `state()` gives it; stale exec files dropped."""
        _survey.drop_stale_exec_files(h, self.exec_root)
        out = {}
        for cid in known:
            held = h.held(cid)
            info = self._read_exit(cid) if cid in h.exits else None
            entry = h.runc.get(cid)
            if info is not None:
                out[cid] = RuntimeState(status="stopped", exit=info, held=held)
            elif entry is not None:
                status = str(entry.get("status") or "unknown")
                out[cid] = RuntimeState(status=status, pid=int(entry.get("pid") or 0), held=held)
            else:
                out[cid] = RuntimeState(status="unknown", held=held)
        return out

    # --- lifecycle -----------------------------------------------------------------

    async def wait_exit(self, cid: str) -> ExitInfo:
        # while the process runs, the files its log rotates are compressed (after a shimd restart too)
        released = False

        def read_and_release(cid: str) -> ExitInfo | None:
            # the exit file found: the log keeper let go in the same thread hop (issue 17: one hop
            # fewer between the exit and `docker run --rm`'s answer)
            nonlocal released
            info = self._read_exit(cid)
            if info is not None:
                self._keeper.release(cid)
                released = True
            return info

        info = await self._exits.follow(
            cid, read_and_release, self._live_conmon, self._monitor_gone, self._keeper.resume
        )
        if not released:  # the monitor ended without an exit file
            await asyncio.to_thread(self._keeper.release, cid)
        return info

    async def _monitor_gone(self, cid: str) -> ExitInfo | None:
        """After a wake without an exit file: None while the monitor runs; if it is gone without
        a word (killed), its exit code is lost with it."""
        if await asyncio.to_thread(self._conmon_alive, cid):
            return None
        info = await asyncio.to_thread(self._read_exit, cid)
        if info is not None:
            return info
        rc, out = await self._runc("state", cid)
        if rc != 0 or json.loads(out).get("status") == "stopped":
            return ExitInfo(exit_code=255, finished_at=time.time())
        return None

    async def state(self, cid: str) -> RuntimeState:
        info = await asyncio.to_thread(self._read_exit, cid)
        if info is not None:
            return RuntimeState(status="stopped", exit=info)
        rc, out = await self._runc("state", cid)
        if rc != 0:
            return RuntimeState(status="unknown")
        st = json.loads(out)
        return RuntimeState(status=st.get("status", "unknown"), pid=int(st.get("pid") or 0))

    async def kill(self, cid: str, signal: int) -> None:
        rc, out = await self._runc("kill", cid, str(int(signal)))
        if rc != 0:
            if "not running" in out or "does not exist" in out or "container not" in out:
                raise Conflict(f"Container {cid} is not running")
            raise SystemFailure(f"Cannot kill container: {cid}: {runc_error_text(out)}")

    async def pause(self, cid: str) -> None:
        rc, out = await self._runc("pause", cid)
        if rc != 0:
            raise SystemFailure(f"Cannot pause container {cid}: {runc_error_text(out)}")

    async def resume(self, cid: str) -> None:
        rc, out = await self._runc("resume", cid)
        if rc != 0:
            raise SystemFailure(f"Cannot unpause container {cid}: {runc_error_text(out)}")

    async def cleanup(self, cid: str) -> None:
        await self._release(cid)

    async def remove(self, cid: str) -> None:
        await self._release(cid, drop_bundle=True, drop_files=True)

    # --- stdio -----------------------------------------------------------------------

    async def attach(self, cid: str) -> AttachHandle:
        early = self._early.pop(cid, None)
        if early is not None:
            handle = early.claim()
            if handle is not None:
                return handle
            self._early[cid] = early  # past its window: keeps draining until the exit
        try:
            return await ConmonAttach.connect(self._attach_path(cid))
        except OSError as e:
            raise Conflict(f"container {cid} is not running") from e

    async def resize(self, cid: str, height: int, width: int) -> None:
        ctl = os.path.join(self.bundle(cid), "ctl")
        try:
            fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise Conflict(f"container {cid} is not running") from e
        try:
            os.write(fd, f"1 {int(height)} {int(width)}\n".encode())
        finally:
            os.close(fd)

    def _writer_gone(self, cid: str) -> bool:
        """Blocking: nothing will be added to the log (the container exited or its monitor is gone)."""
        return self._read_exit(cid) is not None or not self._conmon_alive(cid)

    def logs(self, cid: str, query: LogQuery) -> AsyncIterator[LogChunk]:
        return logread.read(self._log_files, cid, query, self.exit_dir, lambda: self._writer_gone(cid))

    def close(self) -> None:
        """The log keeper's thread and worker (shimd's exit; tests that make many runtimes)."""
        self._keeper.close()

    def _host_facts(self) -> oci_spec.HostFacts:
        """Read once (blocking: call from a thread); the init binary is set once with them."""
        if self._facts is None:
            facts = oci_host.read_host_facts(self.cgroup_root)
            if self.init_binary:
                facts.init_binary = self.init_binary
            self._facts = facts
        return self._facts

    # --- figures -----------------------------------------------------------------------

    async def stats(self, cid: str) -> dict[str, Any]:
        # _cgpath may read the bundle's config.json (after a restart): off the loop with the rest
        return await asyncio.to_thread(lambda: cgroups.stats(self._cgpath(cid)))

    async def top(self, cid: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
        ps_args = ps_args or "-ef"
        cgroups.validate_ps_args(ps_args)
        pids = await asyncio.to_thread(lambda: cgroups.cgroup_pids(self._cgpath(cid)))
        args = ps_args.split()
        out, _ = await _ps([*args, "-q", ",".join(str(p) for p in pids)] if pids else args)
        if out is None:
            # some ps options (such as f) can't be combined with q (moby retries without)
            out, err = await _ps(args)
            if out is None:
                # dockerd: a 500 with ps's first line of stderr; the arguments are the client's, so a 400
                raise InvalidParameter(f"ps: {err or 'exit status 1'}")
        return cgroups.parse_ps_output(out, pids)

    async def update(self, cid: str, host_config: dict[str, Any]) -> None:
        res = oci_spec.resources(host_config, await asyncio.to_thread(self._host_facts))
        try:
            blkio = await asyncio.to_thread(oci_host.resolve_blkio_devices, host_config)
        except InvalidParameter as e:
            raise SystemFailure(f"Cannot update container {cid}: {e.message}") from e
        if blkio:
            res.setdefault("blockIO", {}).update(blkio)
        rc, out = await self._runc("update", "-r", "-", cid, stdin=json.dumps(res).encode())
        if rc != 0:
            msg = runc_error_text(out)
            if "does not exist" in msg or "not running" in msg:
                raise Conflict(f"Container {cid} is not running")
            raise SystemFailure(f"Cannot update container {cid}: {msg}")


def _start_error(text: str, cmd: str) -> StartFailed:
    """runc's error for the start of `cmd`, in moby's words, typed with the exit code it means."""
    full = (
        f"failed to create task for container: failed to create shim task: OCI runtime create failed: {text}: unknown"
    )
    return runtime_start_failed(full, cmd)


async def _ps(args: list[str]) -> tuple[str | None, str]:
    """ps's output, or None and the first line of its stderr."""
    proc = await asyncio.create_subprocess_exec(
        "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        first = err.decode(errors="replace").strip().split("\n", 1)[0]
        return None, first[:200]
    return out.decode(errors="replace"), ""
