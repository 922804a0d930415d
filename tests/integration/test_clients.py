"""The clients people already use, unchanged, against a real shimd: testcontainers-python,
aiodocker, and docker-compose v1's wire habits through docker-py (compose v1 itself needs a
source build: scripts/try-compose.sh). What each scenario asserts is what a user sees."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from typing import Any

import aiodocker
import docker
import pytest
from docker.utils.socket import frames_iter
from testcontainers.core.config import ConnectionMode, testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.image import DockerImage
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from tests.waiting import wait_for


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _http_get(port: int, path: str) -> bytes:
    """A raw HTTP/1.0 request to 127.0.0.1 (busybox httpd answers and closes)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


# ---------------------------------------------------------------- testcontainers-python


@pytest.fixture
def tc(shimd, monkeypatch):
    """testcontainers as its users configure it for a non-default engine: DOCKER_HOST, no Ryuk
    (its image comes from a registry), and mapped ports on 127.0.0.1: this machine has a
    /.dockerenv, so testcontainers would otherwise think it runs in a container and use the
    network gateway (TESTCONTAINERS_HOST_OVERRIDE + TESTCONTAINERS_CONNECTION_MODE=docker_host)."""
    monkeypatch.setenv("DOCKER_HOST", shimd.docker_host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    monkeypatch.setattr(testcontainers_config, "tc_host_override", "127.0.0.1")
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    yield shimd
    shimd.remove_all_containers()


def test_testcontainers_command_logs_exec(tc):
    c = (
        DockerContainer("busybox")
        .with_command("sh -c 'echo hello-tc; echo oops >&2; sleep 300'")
        .with_env("GREETING", "hi")
        .with_name(_name("tc"))
        .waiting_for(LogMessageWaitStrategy("hello-tc"))
    )
    with c:
        stdout, stderr = c.get_logs()
        assert stdout == b"hello-tc\n" and stderr == b"oops\n"
        result = c.exec(["sh", "-c", "echo $GREETING; exit 3"])
        assert (result.exit_code, result.output) == (3, b"hi\n")
        wrapped = c.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running"
        cid = wrapped.id
    assert tc.http("GET", f"/containers/{cid}/json")[0] == 404  # stop() removed it


def test_testcontainers_published_port_answers_on_loopback(tc):
    with DockerContainer("busybox").with_command("httpd -f -p 80 -h /etc").with_exposed_ports(80) as c:
        assert c.get_container_host_ip() == "127.0.0.1"
        port = int(c.get_exposed_port(80))
        reply = _http_get(port, "/hostname")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert body.strip() == c.get_wrapped_container().id[:12].encode()


def test_testcontainers_wait_for_exit_code(tc):
    c = DockerContainer("busybox").with_command("sh -c 'exit 7'")
    c.start()
    try:
        assert c.get_wrapped_container().wait()["StatusCode"] == 7
    finally:
        c.stop()


def test_testcontainers_copy_into_and_from_a_container(tc, tmp_path):
    """copy_into_container puts a tar whose member names are absolute (`/opt/app/conf.txt`) at
    path=/: dockerd takes them inside the container's root."""
    with DockerContainer("busybox").with_command("sleep 300") as c:
        c.copy_into_container(b"hello-copy\n", "/opt/app/conf.txt")
        result = c.exec(["cat", "/opt/app/conf.txt"])
        assert (result.exit_code, result.output) == (0, b"hello-copy\n")
        out = tmp_path / "back.txt"
        c.copy_from_container("/opt/app/conf.txt", out)
        assert out.read_bytes() == b"hello-copy\n"


def test_testcontainers_docker_image_builds_and_runs(tc, tmp_path):
    """DockerImage(path=…) is docker-py's images.build(path=…): the classic builder's POST /build."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "msg.txt").write_text("from-context\n")
    (tmp_path / "app" / "Build.dockerfile").write_text(
        'FROM busybox\nARG WHO=nobody\nCOPY msg.txt /msg.txt\nRUN echo "built for $WHO" >> /msg.txt\n'
        'CMD ["sh", "-c", "cat /msg.txt; echo tc-built-ready; exec sleep 300"]\n'
    )
    tag = _name("tc-img")
    with DockerImage(
        path=tmp_path / "app", tag=tag, dockerfile_path="Build.dockerfile", buildargs={"WHO": "testcontainers"}
    ) as image:
        logs = "".join(x.get("stream", "") for x in image.get_logs())
        assert "Step 4/5 : RUN echo" in logs and f"Successfully tagged {tag}:latest" in logs
        assert str(image) == tag
        with DockerContainer(str(image)).waiting_for(LogMessageWaitStrategy("tc-built-ready")) as c:
            stdout, _ = c.get_logs()
            assert stdout.splitlines()[:2] == [b"from-context", b"built for testcontainers"]
        image_id = image.get_wrapped_image().id
    assert tc.http("GET", f"/images/{image_id}/json")[0] == 404  # clean_up removed it


# ---------------------------------------------------------------- aiodocker


@pytest.fixture
async def aio(shimd):
    d = aiodocker.Docker(url=shimd.docker_host)
    try:
        yield d
    finally:
        await d.close()
        shimd.remove_all_containers()


async def test_aiodocker_create_start_logs_wait_delete(aio):
    c = await aio.containers.create(
        config={"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 4"]}, name=_name("aio")
    )
    await c.start()
    assert (await c.wait())["StatusCode"] == 4
    assert await c.log(stdout=True, stderr=True) == ["out\n", "err\n"]
    assert await c.log(stdout=True) == ["out\n"]
    assert (await c.show())["State"]["Status"] == "exited"
    await c.delete()
    with pytest.raises(aiodocker.DockerError) as err:
        await aio.containers.get(c.id)
    assert err.value.status == 404


async def test_aiodocker_exec_output_stdin_and_exit_code(aio):
    c = await aio.containers.run(config={"Image": "busybox", "Cmd": ["sleep", "300"]}, name=_name("aio"))
    try:
        ex = await c.exec(["sh", "-c", "echo hi; echo e >&2; exit 2"])
        got = []
        async with ex.start(detach=False) as stream:
            while (msg := await stream.read_out()) is not None:
                got.append((msg.stream, msg.data))
        assert got == [(1, b"hi\n"), (2, b"e\n")] or sorted(got) == [(1, b"hi\n"), (2, b"e\n")]
        assert (await ex.inspect())["ExitCode"] == 2

        cat = await c.exec(["cat"], stdin=True)
        async with cat.start(detach=False) as stream:
            await stream.write_in(b"piped\n")
            msg = await stream.read_out()
        assert (msg.stream, msg.data) == (1, b"piped\n")
    finally:
        await c.delete(force=True)


async def test_aiodocker_events_of_a_container(aio):
    since = int(time.time()) - 1
    c = await aio.containers.run(config={"Image": "busybox", "Cmd": ["true"]}, name=_name("aio"))
    await c.wait()
    # since= replays from before the create: no race with the subscription's first request
    sub = aio.events.subscribe(since=str(since), filters=json.dumps({"container": [c.id]}))
    seen = []
    try:
        while "die" not in seen:
            event = await sub.get()
            assert event is not None
            if event.get("Type") == "container":
                seen.append(event["Action"])
    finally:
        await aio.events.stop()
    assert seen[:3] == ["create", "start", "die"]
    await c.delete()


async def test_aiodocker_images_list_and_inspect(aio):
    images = await aio.images.list()
    busybox = [i for i in images if "busybox:latest" in (i.get("RepoTags") or [])]
    assert len(busybox) == 1
    info = await aio.images.inspect("busybox")
    assert info["Id"] == busybox[0]["Id"]
    assert info["Config"]["Cmd"] == ["sh"]


async def test_aiodocker_websocket_attach(aio):
    c = await aio.containers.run(config={"Image": "busybox", "Cmd": ["cat"], "OpenStdin": True}, name=_name("aio"))
    try:
        ws = await c.websocket(stdin=True, stdout=True, stream=True)
        await ws.send_bytes(b"through-ws\n")
        msg = await asyncio.wait_for(ws.receive(), 10)
        await ws.close()
        assert msg.data == b"through-ws\n"
    finally:
        await c.delete(force=True)


# ---------------------------------------------------------------- docker-compose v1's wire habits


def test_compose_v1_run_attaches_stdin_stdout_stderr_apart(shimd):
    """Three attach connections (stdin, stdout, stderr, each stream=1) made before start, as
    `COMPOSE_INTERACTIVE_NO_CLI=1 docker-compose run` has them when it starts the container a
    second time (next test): each one gets its stream from the first byte, even when the
    process prints and exits at once."""
    api = docker.APIClient(base_url=shimd.docker_host)
    c = api.create_container(
        "busybox", ["sh", "-c", "echo out; echo err >&2; exit 6"], stdin_open=True, name=_name("cv1")
    )
    try:
        socks = {
            key: api.attach_socket(c["Id"], params={key: 1, "stream": 1, "logs": False})
            for key in ("stdin", "stdout", "stderr")
        }
        api.start(c["Id"])
        assert list(frames_iter(socks["stdout"], tty=False)) == [(1, b"out\n")]
        assert list(frames_iter(socks["stderr"], tty=False)) == [(2, b"err\n")]
        assert api.wait(c["Id"])["StatusCode"] == 6
        for s in socks.values():
            s.close()
    finally:
        api.remove_container(c["Id"], force=True, v=True)
        api.close()


def _compose_v1_attaches(api: docker.APIClient, cid: str) -> dict[str, Any]:
    """compose v1 1.29's attaches after its start (dockerpty's sockets() is a lazy `map`):
    stdin, stdout and stderr apart, each stream=1, logs=0."""
    return {
        key: api.attach_socket(cid, params={key: 1, "stream": 1, "logs": False})
        for key in ("stdin", "stdout", "stderr")
    }


def _read_out_err(socks: dict[str, Any]) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    return list(frames_iter(socks["stdout"], tty=False)), list(frames_iter(socks["stderr"], tty=False))


def test_compose_v1_run_attaches_right_after_start_join_a_run_still_alive(shimd: Any) -> None:
    """What compose v1 1.29 on Python 3 sends for `COMPOSE_INTERACTIVE_NO_CLI=1 run -T`: start,
    then the three attaches, an inspect, and a second start only if the process has exited. When
    the first run is still alive as the attaches land (here it waits for a line on stdin), they
    join it: they get what it writes from then on and end with it, as with dockerd; inspect says
    running, so compose does not start it again. (A quick process that prints before compose's
    attaches land loses that output for them, against dockerd too: docs/CLIENTS.md.)"""
    api = docker.APIClient(base_url=shimd.docker_host)
    try:
        for _ in range(3):
            c = api.create_container(
                "busybox",
                ["sh", "-c", 'read x; echo "out $x"; echo "err $x" >&2; exit 6'],
                stdin_open=True,
                name=_name("cv1"),
            )
            socks: dict[str, Any] = {}
            try:
                api.start(c["Id"])
                socks = _compose_v1_attaches(api, c["Id"])
                assert api.inspect_container(c["Id"])["State"]["Running"]  # blocked on its read
                # shimd connects each attach to the process's stdio in the loop step after its
                # 101 (no await before the connect), before it can read compose's next request;
                # the process writes only once it has this line, sent after the inspect
                socks["stdin"]._sock.sendall(b"1\n")
                assert _read_out_err(socks) == ([(1, b"out 1\n")], [(2, b"err 1\n")])  # ended with run 1
                assert api.wait(c["Id"])["StatusCode"] == 6
            finally:
                for s in socks.values():
                    s.close()
                api.remove_container(c["Id"], force=True, v=True)
    finally:
        api.close()


def _wait_gone(pid: int) -> None:
    """Until the process `pid` (host namespace) has ended and been reaped by its monitor."""
    if pid:
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), f"process {pid} to go", timeout=30, interval=0.005)


def test_compose_v1_run_attaches_right_after_start_wait_for_the_next_run(shimd: Any) -> None:
    """The same requests when the first run's process has ended before the attaches land (gone
    from /proc): each attach waits for the next start, as one to a stopped container (dockerd),
    inspect says exited, compose starts it again, and each attach gets that run's stream once.
    shimd has as a rule applied the exit by then; an exit not applied yet is the unit test's
    (test_attach_right_after_a_quick_exit_waits_for_the_next_start)."""
    api = docker.APIClient(base_url=shimd.docker_host)
    try:
        for _ in range(10):
            c = api.create_container(
                "busybox", ["sh", "-c", "echo out; echo err >&2; exit 6"], stdin_open=True, name=_name("cv1")
            )
            socks: dict[str, Any] = {}
            try:
                api.start(c["Id"])
                _wait_gone(api.inspect_container(c["Id"])["State"]["Pid"])
                socks = _compose_v1_attaches(api, c["Id"])
                assert not api.inspect_container(c["Id"])["State"]["Running"]
                api.start(c["Id"])
                assert _read_out_err(socks) == ([(1, b"out\n")], [(2, b"err\n")])
                assert api.wait(c["Id"])["StatusCode"] == 6
            finally:
                for s in socks.values():
                    s.close()
                api.remove_container(c["Id"], force=True, v=True)
    finally:
        api.close()


def test_compose_v1_exec_privileged(shimd):
    """`docker-compose exec --privileged` (and `docker exec --privileged`): the exec gets every
    capability shimd holds, even in a container started with fewer."""
    client = docker.DockerClient(base_url=shimd.docker_host)
    c = client.containers.run("busybox", ["sleep", "300"], cap_drop=["MKNOD"], detach=True, name=_name("cv1"))
    try:

        def cap_eff(**kw):
            code, out = c.exec_run(["sh", "-c", "grep CapEff /proc/self/status"], **kw)
            assert code == 0, out
            return int(out.split()[1], 16)

        with open("/proc/self/status") as f:
            held = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
        assert cap_eff(privileged=True) == held
        assert cap_eff() & (1 << 27) == 0  # CAP_MKNOD dropped outside the privileged exec
        code, out = c.exec_run(["id", "-u"], privileged=True, user="1000")
        assert (code, out) == (0, b"1000\n")
    finally:
        c.remove(force=True)
        client.close()
