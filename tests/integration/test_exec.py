"""docker exec through a real shimd: exit codes, stdin, TTY through a pty, errors, inspect, docker-py exec_run."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import struct
import termios
import time

import pytest

from tests.waiting import wait_for


@pytest.fixture
def box(shimd, unique):
    name = unique("ex")
    shimd.cli("run", "-d", "--name", name, "busybox", "sleep", "300")
    yield name
    shimd.cli("rm", "-f", name, check=False)


def test_exec_exit_code_streams_and_stdin(shimd, box):
    p = shimd.cli("exec", box, "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (5, "out\n", "err\n")
    assert shimd.cli("exec", "-i", box, "cat", input="hi\n").stdout == "hi\n"
    out = shimd.cli("exec", "-u", "1000:1000", "-w", "/tmp", "-e", "A=b", box, "sh", "-c", "id -u; pwd; echo $A").stdout
    assert out == "1000\n/tmp\nb\n"


def test_exec_missing_command_126(shimd, box):
    p = shimd.cli("exec", box, "nosuchcmd", check=False)
    assert p.returncode == 126
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in p.stdout + p.stderr


def test_exec_inspect_ids_and_restart_409(shimd, box):
    status, _, body = shimd.http(
        "POST", f"/v1.41/containers/{box}/exec", body={"Cmd": ["sh", "-c", "exit 3"], "AttachStdout": True}
    )
    assert status == 201
    eid = json.loads(body)["Id"]
    assert eid in json.loads(shimd.cli("inspect", box).stdout)[0]["ExecIDs"]
    status, headers, _ = shimd.http("POST", f"/v1.41/exec/{eid}/start", body={"Detach": True, "Tty": False})
    assert status == 200 and headers.get("content-length") == "0"

    def ended() -> dict | None:
        info = json.loads(shimd.http("GET", f"/v1.41/exec/{eid}/json")[2])
        return info if not info["Running"] and info["ExitCode"] is not None else None

    info = wait_for(ended, "the detached exec to end")
    assert list(info) == [
        "ID",
        "Running",
        "ExitCode",
        "ProcessConfig",
        "OpenStdin",
        "OpenStderr",
        "OpenStdout",
        "CanRemove",
        "ContainerID",
        "DetachKeys",
        "Pid",
    ]
    assert info["ExitCode"] == 3 and info["ProcessConfig"]["entrypoint"] == "sh" and info["Pid"] > 0
    status, _, body = shimd.http("POST", f"/v1.41/exec/{eid}/start", body={"Detach": True, "Tty": False})
    assert status == 409 and json.loads(body)["message"] == f"Error: Exec command {eid} has already run"
    status, _, body = shimd.http("GET", "/v1.41/exec/nosuchexec/json")
    assert status == 404 and json.loads(body)["message"] == "No such exec instance: nosuchexec"
    # the container stops: its exec sessions are released
    shimd.cli("stop", "-t", "0", box)
    assert json.loads(shimd.cli("inspect", box).stdout)[0]["ExecIDs"] is None
    status, _, _ = shimd.http("GET", f"/v1.41/exec/{eid}/json")
    assert status == 404


def test_exec_in_stopped_and_paused(shimd, box, unique):
    shimd.cli("pause", box)
    try:
        p = shimd.cli("exec", box, "true", check=False)
        cid = json.loads(shimd.cli("inspect", box).stdout)[0]["Id"]
        assert p.returncode != 0 and f"Container {box} is paused, unpause the container before exec" in p.stderr
    finally:
        shimd.cli("unpause", box)
    shimd.cli("kill", box)
    shimd.cli("wait", box)
    p = shimd.cli("exec", box, "true", check=False)
    assert p.returncode != 0 and f"Container {cid} is not running" in p.stderr


def test_exec_it_through_a_pty(shimd, box):
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        os.execvpe("/usr/local/bin/docker", ["docker", "exec", "-it", box, "sh"], shimd.env())
    try:
        out = b""
        sent = False
        deadline = time.monotonic() + 30
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
            if not sent and (b"#" in out or time.monotonic() > deadline - 25):
                os.write(fd, b"echo typed-$((6*7)); stty size; tty\nexit 4\n")
                sent = True
        _, status = os.waitpid(pid, 0)
        assert b"typed-42" in out
        assert b"33 111" in out
        assert b"/dev/pts/" in out
        assert os.waitstatus_to_exitcode(status) == 4
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def test_dockerpy_exec_run(shimd, box):
    c = shimd.client.containers.get(box)
    res = c.exec_run("sh -c 'echo o; echo e >&2; exit 2'")
    assert res.exit_code == 2 and b"o\n" in res.output and b"e\n" in res.output
    res = c.exec_run("sh -c 'echo o; echo e >&2'", demux=True)
    assert res.output == (b"o\n", b"e\n")
    res = c.exec_run("sh -c 'for i in 1 2 3; do echo $i; done'", stream=True)
    assert b"".join(res.output) == b"1\n2\n3\n"
    sock = c.exec_run("cat", stdin=True, socket=True).output
    raw = getattr(sock, "_sock", sock)
    raw.sendall(b"through stdin\n")
    raw.shutdown(1)
    data = b""
    raw.settimeout(30)
    while True:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    raw.close()
    assert data[8:] == b"through stdin\n" and data[0] == 1
