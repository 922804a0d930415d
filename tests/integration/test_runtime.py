"""Integration: RuncRuntime with real runc + conmon + overlayfs on a busybox layer (root only).

No shimd here: the adapter alone, on temporary data/exec roots. Every container is
torn down in the fixture's finalizer (runc delete -f, conmon killed, rootfs unmounted).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid

import pytest

from shim.engine.ports import LogQuery, RunRequest
from shim.errors import InvalidParameter, SystemFailure
from shim.runtime import cgwarm, execfifo
from shim.runtime.runc import RuncRuntime
from tests.waiting import exit_watch, wait_exited, wait_for

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon"),
    reason="needs root, runc and conmon",
)

PASSWD = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:user\nuser:x:1000:\n"


def make_busybox_layer(d: str) -> None:
    """An image layer dir: /bin/busybox with its applet symlinks, /etc/passwd and /etc/group."""
    for sub in ("bin", "etc", "tmp", "root", "proc", "sys", "dev", "home/user"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(d, "bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        p = os.path.join(d, "bin", a)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(d, "etc/group"), "w") as f:
        f.write(GROUP)


@pytest.fixture(scope="module")
def layer():
    d = tempfile.mkdtemp(prefix="shim-rt-layer-")
    make_busybox_layer(d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Env:
    def __init__(self, root: str, layer: str) -> None:
        self.root = root
        self.layer = layer
        self.data_root = os.path.join(root, "d")
        self.exec_root = os.path.join(root, "x")
        self.rt = RuncRuntime(data_root=self.data_root, exec_root=self.exec_root)
        self.ids: list[str] = []

    def new_runtime(self) -> RuncRuntime:
        """What a restarted shimd builds: a fresh adapter on the same roots."""
        self.rt = RuncRuntime(data_root=self.data_root, exec_root=self.exec_root)
        return self.rt

    def req(self, *args: str, **kw) -> RunRequest:
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        self.ids.append(cid)
        hc = kw.pop("host_config", {})
        fields = {
            "id": cid,
            "name": f"rt-{cid[:8]}",
            "layer_dirs": [self.layer],
            "args": list(args),
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"HOSTNAME={cid[:12]}"],
            "cwd": "/",
            "user": "",
            "hostname": cid[:12],
            "domainname": "",
            "tty": False,
            "open_stdin": False,
            "stdin_once": False,
            "config": {},
            "host_config": hc,
        }
        fields.update(kw)
        return RunRequest(**fields)

    def force_cleanup(self) -> None:
        """Finalizer: whatever a failing test left, synchronously and thoroughly."""
        runc_root = os.path.join(self.exec_root, "runc")
        for cid in self.ids:
            subprocess.run(["runc", "--root", runc_root, "delete", "--force", cid], capture_output=True)
            pidfile = os.path.join(self.exec_root, "containers", cid, "conmon.pid")
            try:
                with open(pidfile) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            rootfs = os.path.join(self.exec_root, "containers", cid, "rootfs")
            subprocess.run(["umount", "-l", rootfs], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def env(layer):
    e = Env(tempfile.mkdtemp(prefix="shim-rt-"), layer)
    try:
        yield e
    finally:
        try:
            asyncio.run(_remove_all(e))
        finally:
            e.force_cleanup()


async def _remove_all(e: Env) -> None:
    for cid in e.ids:
        try:
            await e.rt.remove(cid)
        except Exception:
            pass


async def output_of(rt: RuncRuntime, cid: str) -> bytes:
    h = await rt.attach(cid)
    out = b""
    try:
        while (item := await asyncio.wait_for(h.read(), 30)) is not None:
            out += item[1]
    finally:
        await h.close()
    return out


async def log_text(rt: RuncRuntime, cid: str) -> list[tuple[str, bytes]]:
    """The log as (stream, bytes) runs: consecutive lines of one stream come as one chunk."""
    return [("stdout" if c.stream == 1 else "stderr", c.data) async for c in rt.logs(cid, LogQuery())]


def assert_nothing_left(e: Env, cid: str) -> None:
    with open("/proc/mounts") as f:
        assert cid not in f.read()
    assert not os.path.exists(os.path.join(e.exec_root, "runc", cid))
    assert not os.path.exists(os.path.join(e.exec_root, "containers", cid))
    assert not os.path.exists(f"/sys/fs/cgroup/memory/shim/{cid}")


async def test_echo_logs_and_exit_zero(env):
    r = env.req("echo", "hi")
    pid = await env.rt.start(r)
    assert pid > 0
    # attach right after start sees output from the first byte, however fast the process
    assert await output_of(env.rt, r.id) == b"hi\n"
    info = await env.rt.wait_exit(r.id)
    assert info.exit_code == 0 and info.finished_at > 0
    assert await log_text(env.rt, r.id) == [("stdout", b"hi\n")]
    stamped = [c.data async for c in env.rt.logs(r.id, LogQuery(timestamps=True))]
    assert len(stamped) == 1 and re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hi\n", stamped[0])
    st = await env.rt.state(r.id)
    assert st.status == "stopped" and st.exit.exit_code == 0
    await env.rt.cleanup(r.id)
    await env.rt.cleanup(r.id)  # idempotent
    with open("/proc/mounts") as f:
        assert r.id not in f.read()


async def test_starts_leave_the_daemon_in_its_own_cgroups(env):
    """cgwarm writes the daemon's pid into its own cgroup.procs beside every create: nothing moves.
    The real write is accepted on this host, so the start path exercised here includes it."""
    with open("/proc/self/cgroup") as f:
        before = f.read()
    for _ in range(3):
        r = env.req("true")
        await env.rt.start(r)
        assert (await env.rt.wait_exit(r.id)).exit_code == 0
    with cgwarm.own_cgroup_writer() as write:
        assert write is not None and write() and write()
    with open("/proc/self/cgroup") as f:
        assert f.read() == before


async def test_exit_code_and_stderr(env):
    r = env.req("sh", "-c", "echo out; echo err >&2; printf partial; exit 3")
    await env.rt.start(r)
    assert (await env.rt.wait_exit(r.id)).exit_code == 3
    logs = await log_text(env.rt, r.id)
    out = b"".join(d for s, d in logs if s == "stdout")
    assert out == b"out\npartial" and b"".join(d for s, d in logs if s == "stderr") == b"err\n"


async def test_missing_executable_leaves_nothing(env):
    r = env.req("nosuchcmd")
    with pytest.raises(InvalidParameter) as ei:
        await env.rt.start(r)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in str(ei.value)
    assert ei.value.exit_code == 127
    assert_nothing_left(env, r.id)


async def test_unknown_user(env):
    r = env.req("true", user="nosuch")
    # moby: every error while building the spec is a System error (500)
    with pytest.raises(SystemFailure, match="unable to find user nosuch: no matching entries in passwd file"):
        await env.rt.start(r)
    assert_nothing_left(env, r.id)


async def test_user_workdir_and_groups(env):
    r = env.req("sh", "-c", "id; pwd", user="user", cwd="/new/dir")
    await env.rt.start(r)
    out = await output_of(env.rt, r.id)
    assert b"uid=1000(user) gid=1000(user)" in out and b"10(wheel)" in out
    assert out.endswith(b"/new/dir\n")
    r2 = env.req("id", user="1234:55")
    await env.rt.start(r2)
    assert (await output_of(env.rt, r2.id)).startswith(b"uid=1234 gid=55")


async def test_kill_long_sleep(env):
    r = env.req("sleep", "1000")
    await env.rt.start(r)
    assert (await env.rt.state(r.id)).status == "running"
    await env.rt.kill(r.id, signal.SIGKILL)
    assert (await env.rt.wait_exit(r.id)).exit_code == 137


async def test_pause_resume(env):
    r = env.req("sleep", "1000")
    await env.rt.start(r)
    await env.rt.pause(r.id)
    assert (await env.rt.state(r.id)).status == "paused"
    await env.rt.resume(r.id)
    assert (await env.rt.state(r.id)).status == "running"
    # sleep as PID 1 ignores SIGTERM (no handler): SIGKILL, as docker stop does after its timeout
    await env.rt.kill(r.id, signal.SIGKILL)
    assert (await env.rt.wait_exit(r.id)).exit_code == 137


async def test_memory_limit_stats_top_update(env):
    r = env.req(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; exec sleep 1000",
        host_config={"Memory": 32 * 1024 * 1024, "PidsLimit": 50},
    )
    pid = await env.rt.start(r)
    with open(f"/sys/fs/cgroup/memory/shim/{r.id}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 32 * 1024 * 1024
    h = await env.rt.attach(r.id)
    _stream, data = await asyncio.wait_for(h.read(), 30)
    await h.close()
    assert data == b"33554432\n"
    st = await env.rt.stats(r.id)
    assert st["memory_stats"]["limit"] == 32 * 1024 * 1024
    assert st["memory_stats"]["usage"] > 0
    assert st["pids_stats"]["limit"] == 50 and st["pids_stats"]["current"] >= 1
    assert st["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    # the shell execs sleep after its output: not necessarily done when the output is read
    await asyncio.to_thread(wait_for, lambda: _exec_done(pid) == b"sleep\x001000\x00", "sh to exec sleep")
    titles, procs = await env.rt.top(r.id, "")
    assert titles[:3] == ["UID", "PID", "PPID"] and titles[-1] == "CMD"
    assert len(procs) == 1 and procs[0][-1] == "sleep 1000"
    await env.rt.update(r.id, {"Memory": 64 * 1024 * 1024})
    with open(f"/sys/fs/cgroup/memory/shim/{r.id}/memory.limit_in_bytes") as f:
        assert int(f.read()) == 64 * 1024 * 1024
    await env.rt.kill(r.id, signal.SIGKILL)
    await env.rt.wait_exit(r.id)


async def test_monitor_survives_shimd_crash(env):
    r = env.req("sh", "-c", "echo before; sleep 1; echo after; exit 7")
    await env.rt.start(r)
    env.rt = None  # shimd "crashes": the adapter and its event-loop state are gone
    await asyncio.sleep(0.1)
    rt = env.new_runtime()
    assert (await rt.state(r.id)).status in ("running", "stopped")
    assert (await rt.wait_exit(r.id)).exit_code == 7
    assert await log_text(rt, r.id) == [("stdout", b"before\nafter\n")]


async def test_exit_while_down_is_reported(env):
    r = env.req("sh", "-c", "exit 42")
    ends = exit_watch(await env.rt.start(r))
    await asyncio.to_thread(wait_exited, ends, "the process to exit while no adapter watches")
    rt = env.new_runtime()
    info = await rt.wait_exit(r.id)
    assert info.exit_code == 42


async def test_survey_tells_what_runc_list_tells(env):
    """A restarted shimd's survey: running, paused and exited-while-down containers as `runc list`
    (and the exit file) give them, without running it; a container whose monitor was killed while
    it runs is one only runc can tell about (the survey asks it then)."""
    running, paused, exited = env.req("sleep", "1000"), env.req("sleep", "1000"), env.req("sh", "-c", "exit 3")
    pids = {r.id: await env.rt.start(r) for r in (running, paused)}
    ends = exit_watch(await env.rt.start(exited))
    await env.rt.pause(paused.id)
    await asyncio.to_thread(wait_exited, ends, "the process to exit while no adapter watches")
    known = {running.id, paused.id, exited.id}

    async def survey() -> dict[str, tuple[str, int, bool]]:
        states = await env.new_runtime().survey(known)
        return {cid: (s.status, s.pid, s.held) for cid, s in states.items()}

    want = {running.id: ("running", pids[running.id], True), paused.id: ("paused", pids[paused.id], True)}
    got = await survey()
    assert {k: got[k] for k in want} == want and got[exited.id][0] == "stopped" and got[exited.id][2]
    assert (await env.rt.state(exited.id)).exit.exit_code == 3
    os.kill(env.rt._conmon_pid(running.id), signal.SIGKILL)
    await asyncio.to_thread(wait_for, lambda: not env.rt._conmon_alive(running.id), "the monitor to be gone")
    got = await survey()
    assert got[running.id] == ("running", pids[running.id], True) and got[paused.id] == want[paused.id]
    await env.rt.resume(paused.id)
    for r in (running, paused):
        await env.rt.kill(r.id, signal.SIGKILL)


async def test_attach_stdin_cat(env):
    r = env.req("cat", open_stdin=True, stdin_once=True)
    await env.rt.start(r)
    h = await env.rt.attach(r.id)
    await h.write(b"hello\n")
    await h.close_stdin()
    out = b""
    while (item := await asyncio.wait_for(h.read(), 30)) is not None:
        out += item[1]
    await h.close()
    assert out == b"hello\n"
    assert (await env.rt.wait_exit(r.id)).exit_code == 0


async def test_follow_logs_until_exit(env):
    r = env.req("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    await env.rt.start(r)
    got = [c.data async for c in env.rt.logs(r.id, LogQuery(follow=True))]
    assert got == [b"1\n", b"2\n", b"3\n"]  # each woken by its write (inotify), one chunk each


async def test_tty_resize(env):
    r = env.req("sh", tty=True, open_stdin=True, stdin_once=True)
    await env.rt.start(r)
    h = await env.rt.attach(r.id)
    await env.rt.resize(r.id, 30, 100)
    await h.write(b"stty size; exit 5\n")
    out = b""
    while (item := await asyncio.wait_for(h.read(), 30)) is not None:
        assert item[0] == 1  # a tty has one stream
        out += item[1]
    await h.close()
    assert b"30 100\r\n" in out
    assert (await env.rt.wait_exit(r.id)).exit_code == 5


async def test_readonly_init_and_clamped_ulimit(env):
    r = env.req(
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo rw || echo ro; cat /proc/1/cmdline | tr '\\0' ' '; echo; ulimit -n",
        host_config={
            "ReadonlyRootfs": True,
            "Init": True,
            "Ulimits": [{"Name": "nofile", "Soft": 1048576, "Hard": 1048576}],
        },
    )
    await env.rt.start(r)
    out = (await output_of(env.rt, r.id)).decode()
    lines = out.splitlines()
    assert lines[0] == "ro"
    assert lines[1].startswith("/sbin/docker-init -- sh -c")
    assert lines[2] == "20000"
    assert (await env.rt.wait_exit(r.id)).exit_code == 0


async def test_cap_drop_all(env):
    r = env.req("sh", "-c", "grep CapEff /proc/self/status", host_config={"CapDrop": ["ALL"]})
    await env.rt.start(r)
    assert (await output_of(env.rt, r.id)).split() == [b"CapEff:", b"0000000000000000"]


async def test_oom_killed(env):
    r = env.req("sh", "-c", "head -c 100000000 /dev/zero | tail", host_config={"Memory": 8 * 1024 * 1024})
    await env.rt.start(r)
    info = await env.rt.wait_exit(r.id)
    assert info.oom_killed is True and info.exit_code == 137


async def test_restart_same_container_keeps_diff_and_logs(env):
    r = env.req("sh", "-c", "cat /mark 2>/dev/null || echo first > /mark; echo run")
    await env.rt.start(r)
    await env.rt.wait_exit(r.id)
    await env.rt.cleanup(r.id)
    assert os.path.exists(os.path.join(env.rt.upper_dir(r.id), "mark"))
    await env.rt.start(r)
    assert (await env.rt.wait_exit(r.id)).exit_code == 0
    assert b"".join(d for _, d in await log_text(env.rt, r.id)) == b"run\nfirst\nrun\n"


async def test_loopback_only_netns_and_bind_mount(env, tmp_path):
    from shim.engine.ports import MountSpec

    (tmp_path / "f.txt").write_text("from host\n")
    r = env.req(
        "sh",
        "-c",
        "cat /data/f.txt; ip -o link | cut -d: -f2 | tr -d ' '",
        mounts=[MountSpec("/data", str(tmp_path), options=["ro"])],
    )
    await env.rt.start(r)
    assert (await output_of(env.rt, r.id)).split() == [b"from", b"host", b"lo"]


async def test_lost_monitor_is_reported(env):
    r = env.req("sleep", "1000")
    await env.rt.start(r)
    os.kill(env.rt._conmon_pid(r.id), signal.SIGKILL)
    await env.rt.kill(r.id, signal.SIGKILL)
    info = await asyncio.wait_for(env.rt.wait_exit(r.id), 30)
    assert info.exit_code == 255  # the monitor that knew the real code is gone


async def test_blkio_and_cpu_settings_start(env):
    """Settings this kernel can't honour (no blkio.weight here) must not break the start."""
    hc = {
        "BlkioWeight": 300,
        "NanoCpus": 500_000_000,
        "CpuShares": 512,
        "PidsLimit": 20,
        "OomKillDisable": True,
        "MemoryReservation": 16 << 20,
    }
    disks = [f"/dev/{d}" for d in sorted(os.listdir("/sys/block")) if d.startswith(("vd", "sd", "nvme"))]
    if disks and os.path.exists(disks[0]):
        hc["BlkioDeviceReadBps"] = [{"Path": disks[0], "Rate": 1048576}]
    r = env.req("cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", host_config=hc)
    await env.rt.start(r)
    assert await output_of(env.rt, r.id) == b"50000\n"
    assert (await env.rt.wait_exit(r.id)).exit_code == 0


async def test_join_another_containers_pid_and_ipc(env):
    a = env.req("sleep", "1000")
    pid = await env.rt.start(a)
    b = env.req(
        "sh",
        "-c",
        "ps -o comm | grep -c sleep",
        host_config={"PidMode": f"container:{a.id}", "IpcMode": f"container:{a.id}"},
        namespace_paths={"pid": f"/proc/{pid}/ns/pid", "ipc": f"/proc/{pid}/ns/ipc"},
    )
    await env.rt.start(b)
    assert await output_of(env.rt, b.id) == b"1\n"  # sees the other container's sleep
    await env.rt.kill(a.id, signal.SIGKILL)
    await env.rt.wait_exit(a.id)


async def test_start_without_runc_start(env):
    r = env.req("sleep", "30")
    await asyncio.to_thread(env.rt._prepare, r)
    pid = await env.rt._spawn(r)  # conmon has run `runc create`: init waits for the start
    assert (await env.rt.state(r.id)).status == "created"
    # the start without a `runc start` process: runc's own view agrees it is running
    assert await execfifo.start(os.path.join(env.exec_root, "runc", r.id), pid) is True
    st = await env.rt.state(r.id)
    assert st.status == "running" and st.pid == pid
    # The fifo's EOF comes a moment before the exec, as after `runc start`: runc with the
    # CVE-2024-21626 fix (1.1.12+, Debian's 1.1.5+ds1-1+deb12u1) closes init's fds, the fifo's
    # write end among them, right before execve. Until then /proc/PID/cmdline reads "runc init".
    argv = await asyncio.to_thread(wait_for, lambda: _exec_done(pid), "runc init to exec sleep", 10)
    assert argv == b"sleep\x0030\x00"
    await env.rt.kill(r.id, signal.SIGKILL)
    assert (await env.rt.wait_exit(r.id)).exit_code == 137


def _exec_done(pid: int) -> bytes | None:
    """The process's argv once it is no longer runc's init (nor inside execve: empty)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read()
    return None if not argv or argv.endswith(b"\x00init\x00") else argv
