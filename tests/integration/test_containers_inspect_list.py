"""Inspect and list shapes, ps filters, attach/detach and events through the real CLI and raw HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import termios
import time
import urllib.parse

from tests.waiting import wait_for

INSPECT_KEYS = [
    "Id",
    "Created",
    "Path",
    "Args",
    "State",
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "Name",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    "HostConfig",
    "GraphDriver",
    "Mounts",
    "Config",
    "NetworkSettings",
]
STATE_KEYS = [
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "Pid",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
]
LIST_KEYS = [
    "Id",
    "Names",
    "Image",
    "ImageID",
    "Command",
    "Created",
    "Ports",
    "Labels",
    "State",
    "Status",
    "HostConfig",
    "NetworkSettings",
    "Mounts",
]


@contextlib.contextmanager
def cleanup(shimd, *names):
    try:
        yield
    finally:
        for n in names:
            shimd.cli("rm", "-f", n, check=False)


def test_inspect_and_list_shapes(shimd, unique):
    name = unique("shape")
    with cleanup(shimd, name):
        shimd.cli(
            "run",
            "-d",
            "--name",
            name,
            "--memory",
            "64m",
            "--restart",
            "on-failure:2",
            "-e",
            "A=1",
            "busybox",
            "sleep",
            "300",
        )
        status, _, body = shimd.http("GET", f"/v1.41/containers/{name}/json")
        assert status == 200, body
        c = json.loads(body)
        for k in INSPECT_KEYS:
            assert k in c, k
        assert list(c["State"]) == STATE_KEYS
        assert c["HostConfig"]["MemorySwap"] == 134217728 and c["HostConfig"]["ShmSize"] == 67108864
        assert c["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert c["Config"]["Env"][0] == "A=1" and c["Config"]["Cmd"] == ["sleep", "300"]
        assert c["Image"].startswith("sha256:") and c["Name"] == "/" + name and c["Platform"] == "linux"
        _status, _, body = shimd.http(
            "GET", "/v1.41/containers/json?filters=" + urllib.parse.quote(json.dumps({"name": {name: True}}))
        )
        [item] = json.loads(body)
        assert list(item) == LIST_KEYS
        assert item["Names"] == ["/" + name] and item["Command"] == "sleep 300" and item["State"] == "running"
        assert item["Status"].startswith("Up ")
        # API 1.19: no State in the list, 1.19 inspect has Volumes instead of Mounts
        _, _, body = shimd.http("GET", f"/v1.19/containers/{name}/json")
        assert "Volumes" in json.loads(body) and "Mounts" not in json.loads(body)


def test_ps_filters(shimd, unique):
    a, b, c = unique("fa"), unique("fb"), unique("fc")
    with cleanup(shimd, a, b, c):
        shimd.cli("create", "--name", a, "--label", "grp=x", "busybox", "true")
        shimd.cli("run", "--name", b, "--label", "grp=x", "busybox", "sh", "-c", "exit 2", check=False)
        shimd.cli("run", "-d", "--name", c, "busybox", "sleep", "300")

        def names(*args):
            out = shimd.cli("ps", "-a", "--format", "{{.Names}}", *args).stdout.split()
            return sorted(n for n in out if n in (a, b, c))

        assert names("--filter", "label=grp=x") == sorted([a, b])
        assert names("--filter", "status=exited") == [b]
        assert names("--filter", "status=created") == [a]
        assert names("--filter", "exited=2") == [b]
        assert names("--filter", "ancestor=busybox") == sorted([a, b, c])
        assert names("--filter", f"since={a}") == sorted([b, c])
        assert names("--filter", f"before={c}") == sorted([a, b])
        assert names("--filter", f"name={c}") == [c]
        assert names("--filter", "network=bridge", "--filter", f"name={c}") == [c]
        assert names("--filter", "volume=/nowhere") == []
        running = shimd.cli("ps", "--format", "{{.Names}}").stdout.split()
        assert c in running and a not in running and b not in running
        assert shimd.cli("ps", "-a", "-n", "1", "--format", "{{.Names}}").stdout.split() == [c]
        r = shimd.cli("ps", "--filter", "bogus=1", check=False)
        assert r.returncode != 0 and "Invalid filter 'bogus'" in r.stderr


def test_attach_detach_keys_and_events(shimd, unique):
    name = unique("att")
    with cleanup(shimd, name):
        shimd.cli("run", "-dit", "--name", name, "busybox", "sh")
        since = time.time() - 1
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe("/usr/local/bin/docker", ["docker", "attach", name], shimd.env())
        try:
            # the CLI puts the terminal in raw mode once attached (its hijacked stream is up)
            wait_for(lambda: not termios.tcgetattr(fd)[3] & termios.ICANON, "docker attach to set raw mode")
            os.write(fd, b"echo attached-$((2*21))\n")
            out = b""
            deadline = time.monotonic() + 15
            while b"attached-42" not in out and time.monotonic() < deadline:
                r, _, _ = select.select([fd], [], [], 0.5)
                if r:
                    out += os.read(fd, 4096)
            assert b"attached-42" in out
            os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q: detach, the container keeps running
            tail = b""
            with contextlib.suppress(OSError):
                while select.select([fd], [], [], 5)[0]:
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    tail += chunk
            os.waitpid(pid, 0)
            assert b"read escape sequence" in tail  # the CLI's own words on a detach (it exits 1)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        assert json.loads(shimd.cli("inspect", name).stdout)[0]["State"]["Running"]
        shimd.cli("kill", name)
        ev = shimd.cli(
            "events",
            "--since",
            str(since),
            "--until",
            str(time.time() + 1),
            "--filter",
            f"container={name}",
            "--format",
            "{{.Action}} {{json .Actor.Attributes}}",
        ).stdout
        lines = ev.splitlines()
        actions = [line.split(" ", 1)[0] for line in lines]
        assert "attach" in actions and "kill" in actions and "die" in actions
        die = json.loads(next(line for line in lines if line.startswith("die ")).split(" ", 1)[1])
        assert die["exitCode"] == "137" and die["name"] == name and die["image"] == "busybox"


def test_healthcheck_states_and_events(shimd, unique):
    name = unique("health")
    with cleanup(shimd, name):
        shimd.cli(
            "run",
            "-d",
            "--name",
            name,
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
            "sleep",
            "300",
        )

        def health():
            return json.loads(shimd.cli("inspect", name).stdout)[0]["State"].get("Health", {}).get("Status")

        wait_for(lambda: health() == "unhealthy", "the health to read unhealthy", timeout=20, interval=0.2)
        assert health() == "unhealthy"
        assert "(unhealthy)" in shimd.cli("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
        shimd.cli("exec", name, "touch", "/tmp/ok")
        wait_for(lambda: health() == "healthy", "the health to read healthy", timeout=20, interval=0.2)
        assert health() == "healthy"
        assert name in shimd.cli("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout.split()
        log = json.loads(shimd.cli("inspect", name).stdout)[0]["State"]["Health"]["Log"]
        assert 0 < len(log) <= 5 and log[-1]["ExitCode"] == 0
