"""Start as dockerd's seed at the HTTP level: 304, legacy start-time HostConfig per API version, rollback."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse

import pytest

BODY = {"Binds": ["/tmp:/mnt:ro"]}
CREATE = {
    "Image": "busybox",
    "Cmd": ["sleep", "300"],
    "ExposedPorts": {"80/tcp": {}},
    "HostConfig": {"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
}


@pytest.fixture
def ctr(shimd, unique):
    made = []

    def make(body=CREATE):
        name = unique("start")
        status, _, out = shimd.http("POST", f"/v1.41/containers/create?name={name}", body=body)
        assert status == 201, out
        made.append(name)
        return name

    yield make
    for name in made:
        shimd.http("DELETE", f"/v1.41/containers/{name}?force=1")


def inspect(shimd, name):
    status, _, body = shimd.http("GET", f"/v1.41/containers/{name}/json")
    assert status == 200
    return json.loads(body)


def start(shimd, version, name, body=None, content_type="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": content_type} if data is not None else {}
    return shimd.http("POST", f"/v{version}/containers/{name}/start", body=data, headers=headers)


@pytest.mark.parametrize("version", ["1.21", "1.23"])
def test_legacy_body_replaces_host_config(shimd, ctr, version):
    name = ctr()
    status, _, body = start(shimd, version, name, BODY)
    assert status == 204, body
    c = inspect(shimd, name)
    hc = c["HostConfig"]
    assert c["State"]["Running"]
    assert hc["Binds"] == ["/tmp:/mnt:ro"] and hc["Memory"] == 0
    assert hc["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    # the bind is really there
    status, _, _ = shimd.http(
        "POST",
        f"/v{version}/containers/{name}/start",
        body=json.dumps(BODY).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 304


@pytest.mark.parametrize("version", ["1.24", "1.41"])
def test_body_refused_from_124_and_container_untouched(shimd, ctr, version):
    name = ctr()
    status, _headers, body = start(shimd, version, name, BODY)
    assert status == 400
    assert json.loads(body)["message"] == (
        "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"
    )
    c = inspect(shimd, name)
    assert c["State"]["Status"] == "created" and c["HostConfig"]["Memory"] == 67108864
    status, _, _ = start(shimd, version, name, {})  # 2 bytes: ignored
    assert status == 204


def test_plain_text_errors_up_to_123(shimd, ctr):
    name = ctr()
    status, headers, body = start(shimd, "1.21", name, BODY, content_type="text/plain")
    assert status == 400 and headers["content-type"].startswith("text/plain")
    assert body == b"Content-Type specified (text/plain) must be 'application/json'\n"
    status, headers, body = shimd.http("POST", "/v1.23/containers/nosuchctr/start")
    assert status == 404 and body == b"No such container: nosuchctr\n"


def test_network_mode_switch_at_start(shimd, ctr):
    name = ctr()
    status, _, body = start(shimd, "1.21", name, {"NetworkMode": "none"})
    assert status == 204, body
    assert inspect(shimd, name)["HostConfig"]["NetworkMode"] == "none"


def _mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def _procs_mentioning(cid: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if cid.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


@pytest.mark.parametrize(
    "create,code",
    [
        ({"User": "nosuchuser"}, 128),  # user resolution in the rootfs
        ({"WorkingDir": "/etc/passwd/sub"}, None),  # working directory creation
        ({"HostConfig": {"Binds": ["/etc/hostname:/bin"]}}, None),  # mounts (a file over a directory)
        ({"HostConfig": {"Sysctls": {"net.nosuch.knob": "1"}}}, 128),  # runc create (OCI spec applied)
        ({"Cmd": ["nosuchcmd"]}, 127),  # exec of the command
    ],
    ids=["user", "workdir", "bind", "sysctl", "exec"],
)
def test_failed_start_rolls_back(shimd, ctr, create, code):
    """A start that fails at a setup step: Error set, ExitCode 128 (127 for a missing command),
    a die event, and no mount, cgroup or process left behind."""
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], **create}
    name = ctr(body)
    since = time.time() - 1
    status, _, out = start(shimd, "1.41", name)
    assert status in (400, 500), out
    c = inspect(shimd, name)
    st = c["State"]
    assert not st["Running"] and st["Error"] and st["Pid"] == 0 and st["Status"] == "created"
    assert st["ExitCode"] == code if code is not None else st["ExitCode"] in (126, 127, 128)
    assert not _mounts_under(os.path.join(shimd.data_root, "containers", c["Id"]))
    assert not [p for p in os.listdir("/sys/fs/cgroup/memory") if c["Id"] in p]
    assert not os.path.exists(f"/sys/fs/cgroup/memory/shim/{c['Id']}")
    assert not _procs_mentioning(c["Id"])
    status, _, ev = shimd.http(
        "GET",
        f"/events?since={since}&until={time.time() + 1}"
        "&filters=" + urllib.parse.quote(json.dumps({"container": [c["Id"]]})),
    )
    actions = [json.loads(line)["Action"] for line in ev.decode().splitlines() if line.strip()]
    assert actions.count("die") == 1 and "start" not in actions
    status, _, _ = start(shimd, "1.41", name)  # the same failure again, no leftovers in the way
    assert status in (400, 500)


def test_wait_headers_come_before_start(shimd, ctr):
    name = ctr({"Image": "busybox", "Cmd": ["sh", "-c", "exit 5"]})
    s = socket.socket(socket.AF_UNIX)
    s.connect(shimd.socket)
    s.sendall(
        f"POST /v1.41/containers/{name}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    s.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 OK") and b"chunked" in head.lower()
    assert start(shimd, "1.41", name)[0] == 204
    rest = head.split(b"\r\n\r\n", 1)[1]
    while b'"StatusCode"' not in rest:
        rest += s.recv(4096)
    assert b'{"Error":null,"StatusCode":5}\n' in rest
    s.close()


def test_concurrent_lifecycle_requests_are_serialised(shimd, ctr):
    """start/stop/kill/restart/pause/unpause (and rm -f) at once: no 5xx, a coherent end state."""
    import concurrent.futures as cf
    import random

    for round_ in range(4):
        name = ctr({"Image": "busybox", "Cmd": ["sleep", "300"]})
        ops = [
            ("POST", f"/v1.41/containers/{name}/{op}")
            for op in ("start", "stop?t=0", "kill", "start", "restart?t=0", "pause", "unpause")
        ]
        if round_ % 2:
            ops.append(("DELETE", f"/v1.41/containers/{name}?force=1"))
        random.shuffle(ops)
        with cf.ThreadPoolExecutor(len(ops)) as ex:
            results = list(ex.map(lambda o: shimd.http(*o), ops))
        server_errors = [(o, r[0], r[2]) for o, r in zip(ops, results, strict=False) if r[0] >= 500]
        assert not server_errors, server_errors
        status, _, body = shimd.http("GET", f"/v1.41/containers/{name}/json")
        if status == 404:
            continue
        st = json.loads(body)["State"]
        assert st["Running"] == (st["Pid"] > 0)
        assert st["Status"] in ("running", "paused", "exited", "created")
        assert st["Paused"] == (st["Status"] == "paused")
