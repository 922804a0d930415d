"""Containers through docker-py 7, and a shimd killed with SIGKILL while containers run."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess

import docker
import pytest

from tests.shimd_harness import Shimd
from tests.waiting import exit_watch, wait_exited, wait_for


def test_run_remove_true(shimd):
    out = shimd.client.containers.run("busybox", "echo hi", remove=True)
    assert out == b"hi\n"


def test_run_detach_logs_wait_stop(shimd, unique):
    c = shimd.client.containers.run(
        "busybox", ["sh", "-c", "echo one; echo two >&2; sleep 300"], detach=True, name=unique("py")
    )
    try:
        assert c.status in ("created", "running")
        stream = c.logs(stream=True, follow=True)
        got = b""
        for chunk in stream:
            got += chunk
            if b"two" in got:
                break
        assert b"one\n" in got and b"two\n" in got
        c.reload()
        assert c.status == "running" and c.attrs["State"]["Pid"] > 0
        stats = c.stats(stream=False)
        assert stats["memory_stats"]["usage"] > 0 and stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)


def test_wait_returns_exit_code(shimd):
    c = shimd.client.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True)
    try:
        assert c.wait(timeout=30) == {"Error": None, "StatusCode": 5}
    finally:
        c.remove(force=True)


def test_attach_socket(shimd):
    api = shimd.client.api
    c = api.create_container("busybox", ["cat"], stdin_open=True)
    try:
        sock = api.attach_socket(c["Id"], params={"stdin": 1, "stdout": 1, "stream": 1})
        api.start(c["Id"])
        raw = sock._sock
        raw.sendall(b"via-attach\n")
        want = struct.pack(">BxxxI", 1, len(b"via-attach\n")) + b"via-attach\n"
        data = b""
        raw.settimeout(20)
        while len(data) < len(want):
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data == want
        api.kill(c["Id"])
        assert api.wait(c["Id"], timeout=30)["StatusCode"] == 137
        raw.close()
    finally:
        api.remove_container(c["Id"], force=True)


def test_not_found_errors_for_docker_py(shimd):
    with pytest.raises(docker.errors.NotFound):
        shimd.client.containers.get("nosuch-ctr")
    with pytest.raises(docker.errors.ImageNotFound):
        shimd.client.api.create_container("nosuch-image:latest")


def test_sigkill_shimd_then_restart(unique):
    """Containers outlive a SIGKILLed shimd: still running, logs continue, an exit during the
    downtime is reported with its real code; restart policies apply again."""
    d = Shimd()
    try:
        d.start()
        d.load_busybox()
        d.cli(
            "run",
            "-d",
            "--name",
            "alive",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
        )
        # "dies" and "always" end with their own exit code when told to (SIGTERM): the test makes them
        # exit while shimd is down, whatever the load (a timed exit could land before the kill or after
        # the restart). A trapped signal reaches a pid-1 shell.
        until_term = "trap 'exit {}' TERM; while true; do sleep 0.1; done"
        d.cli("run", "-d", "--name", "dies", "busybox", "sh", "-c", until_term.format(9))
        d.cli("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", until_term.format(2))
        pids = {n: json.loads(d.cli("inspect", n).stdout)[0]["State"]["Pid"] for n in ("alive", "dies", "always")}
        ends = {n: exit_watch(pids[n]) for n in ("dies", "always")}
        d.stop(kill=True)
        for n, pidfd in ends.items():
            os.kill(pids[n], signal.SIGTERM)
            wait_exited(pidfd, f"{n!r} to exit while shimd is down")
        d.start()
        alive = json.loads(d.cli("inspect", "alive").stdout)[0]["State"]
        assert alive["Running"] and alive["Pid"] == pids["alive"]
        n_before = d.cli("logs", "alive").stdout.count("tick")
        wait_for(lambda: d.cli("logs", "alive").stdout.count("tick") > n_before, "ticks logged after the restart")
        dies = json.loads(d.cli("inspect", "dies").stdout)[0]["State"]
        assert dies["Status"] == "exited" and dies["ExitCode"] == 9
        assert d.cli("wait", "dies").stdout.strip() == "9"
        wait_for(lambda: json.loads(d.cli("inspect", "always").stdout)[0]["RestartCount"] >= 1, "'always' restarted")
        d.cli("stop", "-t", "0", "alive")
        assert json.loads(d.cli("inspect", "alive").stdout)[0]["State"]["ExitCode"] == 137
    finally:
        for n in ("alive", "dies", "always"):
            d.cli("rm", "-f", n, check=False)
        d.destroy()


def test_paused_containers_stay_paused_across_a_shimd_restart(unique):
    """A paused container is still paused after shimd's restart (dockerd's live-restore keeps it so),
    also one frozen by a `docker pause` cut between runc's freeze and the record (simulated with runc
    itself while shimd is down); both unpause and run on. The daemon start tells paused from running
    by the freezer, not by `runc list` (issue 17, fourth pass)."""
    d = Shimd()
    names = ("p-recorded", "p-cut", "p-running")
    try:
        d.start()
        d.load_busybox()
        for n in names:
            d.cli("run", "-d", "--name", n, "busybox", "sleep", "300")
        d.cli("pause", "p-recorded")
        cut = json.loads(d.cli("inspect", "p-cut").stdout)[0]["Id"]
        d.stop(kill=True)
        root = os.path.join(d.exec_root, "runc")
        subprocess.run(["runc", "--root", root, "pause", cut], check=True, capture_output=True)
        d.start()
        for n, paused in (("p-recorded", True), ("p-cut", True), ("p-running", False)):
            st = json.loads(d.cli("inspect", n).stdout)[0]["State"]
            assert (st["Status"], st["Paused"], st["Running"]) == ("paused" if paused else "running", paused, True)
        for n in ("p-recorded", "p-cut"):
            d.cli("unpause", n)
            assert json.loads(d.cli("inspect", n).stdout)[0]["State"]["Status"] == "running"
            assert d.cli("exec", n, "echo", "up").stdout == "up\n"
    finally:
        for n in names:
            d.cli("rm", "-f", n, check=False)
        d.destroy()


# Runs 1 and 2 fail (the policy restarts them), run 3 says "ready" once its trap is set and waits for
# a SIGTERM (a pid-1 shell gets only the signals it traps), then fails with 3. The count lives in the
# container's own rootfs, which its restarts keep.
FLAP = (
    "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; [ $n -le 2 ] && exit 1; "
    "trap 'exit 3' TERM; echo ready; while true; do sleep 0.1; done"
)


def test_on_failure_retry_count_goes_on_across_a_shimd_restart(unique):
    """dockerd makes a container's restart manager from its RestartCount (container.RestartManager:
    restartmanager.New(policy, RestartCount)): on-failure:2 spent before a SIGKILL and restart of the
    daemon stays spent, and the next failure is final (shimd used to count from 0 again)."""
    d = Shimd()
    try:
        d.start()
        d.load_busybox()
        d.cli("run", "-d", "--name", "flap", "--restart", "on-failure:2", "busybox", "sh", "-c", FLAP)
        wait_for(lambda: d.cli("logs", "flap").stdout.count("ready") == 1, "the third run to be ready")
        before = json.loads(d.cli("inspect", "flap").stdout)[0]
        assert (before["State"]["Status"], before["RestartCount"]) == ("running", 2)
        d.stop(kill=True)
        d.start()
        pid = json.loads(d.cli("inspect", "flap").stdout)[0]["State"]["Pid"]
        assert pid == before["State"]["Pid"]  # the same run, still going
        os.kill(pid, signal.SIGTERM)

        def settled():  # exited for good, or restarted once more (the defect)
            info = json.loads(d.cli("inspect", "flap").stdout)[0]
            return (info["State"]["Status"] == "exited" or info["RestartCount"] > 2) and info

        info = wait_for(settled, "the third run's exit to be applied")
        assert (info["State"]["Status"], info["State"]["ExitCode"], info["RestartCount"]) == ("exited", 3, 2)
    finally:
        d.cli("rm", "-f", "flap", check=False)
        d.destroy()
