"""Clients that go away mid-stream (issue 16): what a stream held is freed.

Followed logs, events, stats, attach and a pull are opened and dropped without reading to the end,
many times; afterwards the daemon holds no more file descriptors and threads than before (a log
follower that kept its file, a hijacked socket never closed or an events subscriber never removed
would each keep one), and every stream it still serves works.
"""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

ROUNDS = 15
# asyncio's default executor starts threads as work comes (at most min(32, CPUs + 4)) and keeps
# them: that many more threads is its warm-up, a leak per dropped stream would be ROUNDS more
EXECUTOR_THREADS = min(32, (os.cpu_count() or 1) + 4)


def _open(d, request: bytes, read: int = 1) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(d.socket)
    s.sendall(request)
    got = b""
    while len(got) < read:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    return s


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.fixture
def chatty(shimd, unique):
    name = unique("chatty")
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.05; done"], "OpenStdin": True}
    status, _, out = shimd.http("POST", f"/v1.41/containers/create?name={name}", body)
    assert status == 201, out
    cid = json.loads(out)["Id"]
    assert shimd.http("POST", f"/v1.41/containers/{cid}/start")[0] == 204
    try:
        yield cid
    finally:
        shimd.http("DELETE", f"/v1.41/containers/{cid}?force=1")


def test_dropped_streams_free_what_they_held(shimd, chatty):
    pid = shimd.proc.pid
    streams = [
        f"GET /v1.41/containers/{chatty}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n",
        f"GET /v1.41/containers/{chatty}/stats HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        (
            f"POST /v1.41/containers/{chatty}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
            "Upgrade: tcp\r\nConnection: Upgrade\r\n\r\n"
        ).encode(),
        (
            b"POST /v1.41/images/create?fromImage=127.0.0.1:9/hostile/none&tag=x HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: 0\r\n\r\n"
        ),
    ]
    # one round first: lazily opened things (the events ring, a cgroup file cache) are not leaks
    for req in streams:
        _open(shimd, req).close()
    time.sleep(1)
    before_fds, before_threads = _fds(pid), _threads(pid)
    peak = 0
    for _ in range(ROUNDS):
        socks = [_open(shimd, req) for req in streams]
        peak = max(peak, _fds(pid))
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
            s.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fds, threads = _fds(pid), _threads(pid)
        if fds <= before_fds + 2 and threads <= before_threads + EXECUTOR_THREADS:
            break
        time.sleep(0.2)
    assert peak >= before_fds + len(streams) - 1, "the open streams did not show in the count: it measures nothing"
    held = sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds <= before_fds + 2, f"{fds} fds after {ROUNDS} rounds of dropped streams, {before_fds} before: {held}"
    assert threads <= before_threads + EXECUTOR_THREADS, f"{threads} threads, {before_threads} before"
    # and the daemon still serves the same streams
    s = _open(shimd, streams[0], read=200)
    s.close()
    status, _, _ = shimd.http("GET", "/_ping")
    assert status == 200
