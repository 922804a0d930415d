"""The hostile-input catalogue against a real shimd (issue 16): every case a 4xx with a message,
never a 5xx, never a hang, and nothing changed.

The cases are data (tests/integration/hostile_cases.py, by category: json, types, values, names,
query, versions, archives, conflicts) plus the raw-protocol ones here. Before the first case the
test takes a snapshot of what a client can see (containers and their state, volumes, networks,
images, the test's own containers' HostConfig, exec sessions and /tmp); after each case the
snapshot must be the same. Requests go to the daemon's own socket (not the response-check proxy).
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import tarfile
import time
import uuid

import pytest

from tests.integration import hostile_cases_more  # noqa: F401 (adds its cases to CASES)
from tests.integration.hostile_cases import CASES, STREAM_ERROR, Case
from tests.shimd_harness import UnixHTTPConnection

# Python's exception names (an internal fault must never show one) and a traceback
PYTHON_FAULT = re.compile(
    r"Traceback|\b(Key|Attribute|Type|Value|Recursion|OS|Index|Runtime|Assertion|UnicodeDecode|ZeroDivision)Error\b|"
    r"\[Errno \d+\]"
)
TIMEOUT = 60.0


class Target:
    """The test's own objects: a running container with a volume on a network, a stopped one."""

    def __init__(self, d) -> None:
        tag = uuid.uuid4().hex[:8]
        self.d = d
        self.net_name, self.vol, self.run_name = f"hostile-n-{tag}", f"hostile-v-{tag}", f"hostile-c-{tag}"
        self.net = self._ok("POST", "/v1.41/networks/create", {"Name": self.net_name})["Id"]
        body = {
            "Image": "busybox",
            "Cmd": ["sleep", "600"],
            "HostConfig": {"Binds": [f"{self.vol}:/data"], "NetworkMode": self.net_name},
        }
        self.run = self._ok("POST", f"/v1.41/containers/create?name={self.run_name}", body)["Id"]
        self.stopped = self._ok("POST", "/v1.41/containers/create", {"Image": "busybox", "Cmd": ["true"]})["Id"]
        status, _, out = self.request("POST", f"/v1.41/containers/{self.run}/start")
        assert status == 204, out

    def _ok(self, method: str, path: str, body=None):
        status, _, out = self.request(method, path, body)
        assert status in (200, 201), (status, out)
        return json.loads(out) if out.strip() else None

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict, bytes]:
        return self.d.http(method, path, body, headers=headers, timeout=TIMEOUT, via=self.d.socket)

    def fill(self, text: str) -> str:
        return (
            text.replace("{c}", self.run)
            .replace("{s}", self.stopped)
            .replace("{n}", self.net)
            .replace("{v}", self.vol)
            .replace("{c_name}", self.run_name)
            .replace("{n_name}", self.net_name)
            .replace("{data_root}", self.d.data_root)
        )

    def snapshot(self) -> dict:
        """What a client can see, minus what moves on its own (status texts, times)."""

        def get(path: str):
            status, _, out = self.request("GET", path)
            assert status == 200, (path, status, out)
            return json.loads(out)

        run, stopped = get(f"/v1.41/containers/{self.run}/json"), get(f"/v1.41/containers/{self.stopped}/json")
        status, _, tmp = self.request("GET", f"/v1.41/containers/{self.run}/archive?path=/tmp")
        assert status == 200
        with tarfile.open(fileobj=io.BytesIO(tmp)) as tf:
            tmp_names = sorted(tf.getnames())
        return {
            "containers": sorted((c["Id"], c["State"], tuple(c["Names"])) for c in get("/v1.41/containers/json?all=1")),
            "volumes": sorted(v["Name"] for v in get("/v1.41/volumes")["Volumes"] or []),
            "networks": sorted((n["Id"], n["Name"]) for n in get("/v1.41/networks")),
            "images": sorted((i["Id"], tuple(i["RepoTags"] or ())) for i in get("/v1.41/images/json?all=1")),
            "running": (run["State"]["Running"], run["RestartCount"], run["HostConfig"], run["ExecIDs"], run["Name"]),
            "stopped": (stopped["State"]["Status"], stopped["HostConfig"], stopped["Name"]),
            "tmp": tmp_names,
            "host": [p for p in ("/hostile-escape", "/tmp/hostile-escape") if os.path.exists(p)],
        }

    def remove(self) -> None:
        for cid in (self.run, self.stopped):
            self.request("DELETE", f"/v1.41/containers/{cid}?force=1&v=1")
        self.request("DELETE", f"/v1.41/volumes/{self.vol}")
        self.request("DELETE", f"/v1.41/networks/{self.net}")


@pytest.fixture(scope="module")
def target(shimd):
    t = Target(shimd)
    try:
        t.baseline = t.snapshot()
        yield t
    finally:
        t.remove()


def _message(status: int, headers: dict, body: bytes, method: str) -> str:
    if method == "HEAD":
        return "(HEAD: no body)"
    if headers.get("content-type", "").startswith("application/json"):
        return str(json.loads(body)["message"])
    return body.decode(errors="replace")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}/{c.id}" for c in CASES])
def test_hostile_request_is_refused_without_side_effect(target, case: Case):
    body = case.body
    if isinstance(body, (dict, list)):
        body = json.loads(target.fill(json.dumps(body)))
    started = time.monotonic()
    status, headers, out = target.request(case.method, target.fill(case.path), body, headers=dict(case.headers))
    elapsed = time.monotonic() - started
    if case.status == (200,) and case.message == STREAM_ERROR:
        # a load: dockerd's 200 with the error in the JSON stream, nothing loaded
        assert status == 200 and b'"errorDetail"' in out and not PYTHON_FAULT.search(out.decode(errors="replace"))
        _no_side_effect(target)
        return
    message = _message(status, headers, out, case.method)
    assert 400 <= status < 500, f"{status} {message[:500]}"
    if case.status:
        assert status in case.status, f"{status} {message[:500]}"
    assert message.strip(), "a refusal without a message"
    assert not PYTHON_FAULT.search(message), message[:500]
    if case.message:
        assert re.search(case.message, message), message[:500]
    assert elapsed < 30, f"took {elapsed:.1f} s"
    _no_side_effect(target)


def _no_side_effect(target: Target) -> None:
    now = target.snapshot()
    before, target.baseline = target.baseline, now  # one side effect fails one case, not every later one
    assert now == before


# ---------------------------------------------------------------------------------------- protocol
PROTOCOL = {
    "http-0.9": b"GET /_ping\r\n\r\n",
    "request-line-100k": b"GET /_ping?" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "header-100k": b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "200-headers": b"GET /_ping HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n",
    "bad-method": b"G@T /_ping HTTP/1.1\r\nHost: x\r\n\r\n",
    "space-in-path": b"GET /_p ing HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-in-line": b"GET /_ping\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-header-name": b"GET /_ping HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    "obs-fold": b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: y\r\n z\r\n\r\n",
    "content-length-negative": b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "content-length-text": b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "content-length-twice": (
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
    ),
    "length-and-chunked": (
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    ),
    "bad-chunk-size": (
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    ),
    "unknown-transfer-encoding": (
        b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: hostile\r\n\r\n{}"
    ),
    "garbage-line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n",
    "http-2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


def _raw(path: str, data: bytes, timeout: float = 20) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
            if b"\r\n\r\n" in out and b"Content-Length: 0" in out:
                return out
    except TimeoutError:
        return out + b"<timeout>"
    finally:
        s.close()


@pytest.mark.parametrize("name", sorted(PROTOCOL))
def test_hostile_protocol_is_refused_without_side_effect(target, name):
    out = _raw(target.d.socket, PROTOCOL[name])
    first = out.split(b"\r\n", 1)[0]
    # a 4xx status line, or the connection closed without an answer; never a 5xx or a hang
    assert not out.endswith(b"<timeout>"), out[:300]
    assert not out or re.match(rb"HTTP/1\.[01] 4\d\d ", first), out[:300]
    _no_side_effect(target)


def test_pipelined_requests_are_all_answered(target):
    out = _raw(
        target.d.socket,
        b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert out.count(b"HTTP/1.1 200 OK") == 4


def test_body_past_the_json_limit_is_refused_before_reading_it(target):
    """A Content-Length past the limit is answered at once: the body is never read into memory."""
    conn = UnixHTTPConnection(target.d.socket, timeout=20)
    try:
        conn.putrequest("POST", "/v1.41/containers/create")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(1 << 40))
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413 and b"too large" in resp.read()
    finally:
        conn.close()
    _no_side_effect(target)
