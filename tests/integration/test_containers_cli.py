"""Containers driven by the real docker CLI against a real shimd (runc + conmon + overlayfs)."""

from __future__ import annotations

import contextlib
import json
import time

from tests.waiting import wait_for


@contextlib.contextmanager
def container(shimd, *names):
    try:
        yield
    finally:
        for n in names:
            shimd.cli("rm", "-f", n, check=False)


def inspect(shimd, name):
    return json.loads(shimd.cli("inspect", name).stdout)[0]


def test_run_rm_echo_hello(shimd):
    before = shimd.cli("ps", "-aq").stdout
    r = shimd.cli("run", "--rm", "busybox", "echo", "hello")
    assert r.stdout == "hello\n"
    assert shimd.cli("ps", "-aq").stdout == before  # --rm: the daemon removed it


def test_run_exit_code_and_stderr(shimd, unique):
    name = unique("exit")
    with container(shimd, name):
        r = shimd.cli("run", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
        assert r.returncode == 3 and r.stdout == "out\n" and r.stderr == "err\n"
        st = inspect(shimd, name)["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 3 and st["FinishedAt"] != "0001-01-01T00:00:00Z"
        assert "Exited (3)" in shimd.cli("ps", "-a", "--filter", f"name={name}").stdout


def test_piped_stdin(shimd):
    r = shimd.cli("run", "--rm", "-i", "busybox", "cat", input="piped-stdin\n")
    assert r.stdout == "piped-stdin\n"


def test_missing_executable_is_127(shimd, unique):
    name = unique("noexec")
    with container(shimd, name):
        r = shimd.cli("run", "--name", name, "busybox", "nosuchcmd", check=False)
        assert r.returncode == 127
        assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.stderr
        st = inspect(shimd, name)["State"]
        assert st["ExitCode"] == 127 and "executable file not found" in st["Error"] and not st["Running"]


def test_detached_lifecycle(shimd, unique):
    name = unique("life")
    with container(shimd, name, name + "-new"):
        cid = shimd.cli(
            "run",
            "-d",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; trap 'exit 7' HUP; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
        ).stdout.strip()
        assert len(cid) == 64
        wait_for(lambda: "line 2" in shimd.cli("logs", name).stdout, "the third log line", timeout=20, interval=0.1)
        st = inspect(shimd, name)
        assert st["State"]["Running"] and st["State"]["Pid"] > 0 and st["Name"] == "/" + name
        top = shimd.cli("top", name).stdout
        assert ("PID" in top and "sleep" in top) or "sh -c" in top
        shimd.cli("pause", name)
        assert inspect(shimd, name)["State"]["Status"] == "paused"
        shimd.cli("unpause", name)
        shimd.cli("kill", "-s", "HUP", name)  # PID 1 ignores default-action signals: the trap answers
        wait_for(lambda: not inspect(shimd, name)["State"]["Running"], "the HUP trap's exit", timeout=20, interval=0.1)
        assert inspect(shimd, name)["State"]["ExitCode"] == 7
        shimd.cli("start", name)
        assert inspect(shimd, name)["State"]["Running"]
        shimd.cli("restart", "-t", "1", name)
        assert inspect(shimd, name)["State"]["Running"]
        shimd.cli("stop", "-t", "1", name)
        assert inspect(shimd, name)["State"]["ExitCode"] == 0  # the TERM trap
        shimd.cli("rename", name, name + "-new")
        assert inspect(shimd, name + "-new")["Id"] == cid
        r = shimd.cli("wait", name + "-new")
        assert r.stdout.strip() == "0"


def test_logs_follow_ends_with_container(shimd, unique):
    name = unique("logf")
    with container(shimd, name):
        shimd.cli("run", "-d", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done")
        r = shimd.cli("logs", "-f", name, timeout=30)
        assert r.stdout == "n1\nn2\nn3\n"
        r = shimd.cli("logs", "--tail", "1", "-t", name)
        assert r.stdout.endswith(" n3\n") and r.stdout.count("\n") == 1


def test_stop_sigkill_after_timeout_and_stats_update(shimd, unique):
    name = unique("stop")
    with container(shimd, name):
        shimd.cli(
            "run",
            "-d",
            "--name",
            name,
            "--memory",
            "32m",
            "busybox",
            "sh",
            "-c",
            "trap '' TERM; while true; do sleep 0.1; done",
        )
        hc = inspect(shimd, name)["HostConfig"]
        assert hc["Memory"] == 32 * 1024 * 1024 and hc["MemorySwap"] == 64 * 1024 * 1024
        out = shimd.cli("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout
        assert "32MiB" in out
        shimd.cli("update", "--memory", "48m", "--memory-swap", "96m", name)
        assert inspect(shimd, name)["HostConfig"]["Memory"] == 48 * 1024 * 1024
        out = shimd.cli("stats", "--no-stream", "--format", "{{.MemUsage}}", name).stdout
        assert "48MiB" in out
        shimd.cli("stop", "-t", "1", name)
        assert inspect(shimd, name)["State"]["ExitCode"] == 137


def test_rm_running_needs_force_and_prune(shimd, unique):
    name, dead = unique("rmf"), unique("prune")
    with container(shimd, name, dead):
        cid = shimd.cli("run", "-d", "--name", name, "busybox", "sleep", "300").stdout.strip()
        r = shimd.cli("rm", name, check=False)
        assert r.returncode == 1 and f"You cannot remove a running container {cid}" in r.stderr
        shimd.cli("rm", "-f", name)
        assert shimd.cli("ps", "-aq", "--filter", f"id={cid}").stdout == ""
        shimd.cli("create", "--name", dead, "--label", f"prune={dead}", "busybox", "true")
        out = shimd.cli("container", "prune", "-f", "--filter", f"label=prune={dead}").stdout
        assert "Deleted Containers" in out
        assert shimd.cli("ps", "-aq", "--filter", f"name={dead}").stdout == ""


def test_errors(shimd, unique):
    r = shimd.cli("start", "nosuchctr", check=False)
    assert "No such container: nosuchctr" in r.stderr
    r = shimd.cli("kill", "nosuchctr", check=False)
    assert "Cannot kill container: nosuchctr: No such container: nosuchctr" in r.stderr
    name = unique("dup")
    with container(shimd, name):
        shimd.cli("create", "--name", name, "busybox")
        r = shimd.cli("create", "--name", name, "busybox", check=False)
        assert f'The container name "/{name}" is already in use' in r.stderr
        r = shimd.cli("pause", name, check=False)
        assert "is not running" in r.stderr


def test_restart_policy_on_failure(shimd, unique):
    name = unique("rp")
    with container(shimd, name):
        shimd.cli("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
        seen: dict = {}

        def ended():  # one inspect per poll: the fields asserted are those of one moment
            seen.update(inspect(shimd, name))
            return seen["RestartCount"] == 2 and seen["State"]["Status"] == "exited"

        wait_for(ended, "exited with RestartCount 2", timeout=20, interval=0.1)
        assert seen["State"]["ExitCode"] == 1  # an exited container carries its real exit code
        after = inspect(shimd, name)  # and that was the end: no restart was still to come
        assert (after["State"]["Status"], after["RestartCount"], after["State"]["ExitCode"]) == ("exited", 2, 1)


def test_restart_policy_reads_restarting_until_the_last_exit(shimd, unique):
    """dockerd's handleContainerExit: from each exit the policy restarts until the new process runs,
    the container reads "restarting" with RestartCount counted, never "exited" (shimd used to show
    "exited" during the exit's cleanup and the restart's start: a poller saw exited/2/1, then running)."""
    name = unique("rp")
    with container(shimd, name):
        shimd.cli("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
        views: list[tuple[str, int, int]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not views or views[-1] != ("exited", 2, 1)):
            status, _, body = shimd.http("GET", f"/containers/{name}/json")  # as fast as the API answers
            assert status == 200
            d = json.loads(body)
            view = (d["State"]["Status"], d["RestartCount"], d["State"]["ExitCode"])
            if not views or views[-1] != view:
                views.append(view)
        # in this order, each seen or not (a poll may miss a short one); the exited view only at the end
        order = [("running", 0, 0), ("restarting", 1, 1), ("running", 1, 0), ("restarting", 2, 1), ("running", 2, 0)]
        order.append(("exited", 2, 1))
        assert all(v in order for v in views), views
        assert [order.index(v) for v in views] == sorted({order.index(v) for v in views}) and views[-1] == order[-1]


def test_docker_run_it_through_a_pty(shimd):
    import os
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("/usr/local/bin/docker", ["docker", "run", "--rm", "-it", "busybox", "sh"], shimd.env())
    try:
        out = b""
        sent = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if not sent and b"# " in out:  # the shell's prompt: it is reading its tty
                os.write(fd, b"echo typed-$((6*7))\nexit 4\n")
                sent = True
        _, status = os.waitpid(pid, 0)
        assert b"typed-42" in out, out
        assert os.waitstatus_to_exitcode(status) == 4
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def test_oom_killed(shimd, unique):
    name = unique("oom")
    since = time.time() - 1
    with container(shimd, name):
        r = shimd.cli(
            "run",
            "--name",
            name,
            "-m",
            "8m",
            "--memory-swap",
            "8m",
            "busybox",
            "sh",
            "-c",
            "tail /dev/zero",
            check=False,
        )
        assert r.returncode == 137
        st = inspect(shimd, name)["State"]
        assert st["OOMKilled"] is True and st["ExitCode"] == 137
        ev = shimd.cli(
            "events",
            "--since",
            str(since),
            "--until",
            str(time.time() + 1),
            "--filter",
            f"container={name}",
            "--format",
            "{{.Action}}",
        ).stdout.split()
        assert "oom" in ev and ev.index("oom") < ev.index("die")
