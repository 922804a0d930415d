"""Logs and attach: what `docker logs` prints, stdcopy frames, hijacked attach streams."""

import time

import pytest

from compat.lib import RFC3339NANO, V, demux

pytestmark = pytest.mark.feature("containers")

FIVE = "echo err >&2; sleep 0.2; for i in 1 2 3 4 5; do echo line$i; done"


@pytest.fixture(scope="module")
def finished(eng):
    """An exited container that printed one stderr line, then five stdout lines."""
    name = eng.shared_name("logs")
    p = eng.cli("run", "--name", name, "busybox", "sh", "-c", FIVE)
    assert p.returncode == 0, p.stderr
    yield name
    eng.cli("rm", "-f", name)


@pytest.mark.feature("logs")
def test_logs_stdout_stderr(eng, finished):
    """`docker logs` writes the container's stdout to stdout and its stderr to stderr."""
    p = eng.cli("logs", finished)
    assert p.stdout.splitlines() == ["line1", "line2", "line3", "line4", "line5"]
    assert p.stderr == "err\n"


@pytest.mark.feature("logs")
def test_logs_timestamps(eng, finished):
    """`docker logs -t` prefixes every line with an RFC 3339 nano timestamp and a space."""
    lines = eng.cli("logs", "-t", finished).stdout.splitlines()
    assert len(lines) == 5
    for ln in lines:
        assert RFC3339NANO.match(ln), ln
    assert lines[0].endswith(" line1")


@pytest.mark.feature("logs")
def test_logs_tail(eng, finished):
    """`docker logs --tail 2` prints only the last two lines (counted across both streams)."""
    p = eng.cli("logs", "--tail", "2", finished)
    assert (p.stdout, p.stderr) == ("line4\nline5\n", "")
    p = eng.cli("logs", "--tail", "6", finished)
    assert (p.stdout.count("\n"), p.stderr) == (5, "err\n")


@pytest.mark.feature("logs")
def test_logs_tail_zero(eng, finished):
    """`docker logs --tail 0` prints nothing."""
    p = eng.cli("logs", "--tail", "0", finished)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


@pytest.mark.feature("logs")
def test_logs_since_future(eng, finished):
    """`docker logs --since` a time after the output prints nothing."""
    p = eng.cli("logs", "--since", str(int(time.time()) + 5), finished)
    assert (p.stdout, p.stderr) == ("", "")


@pytest.mark.feature("logs")
def test_logs_until_past(eng, finished):
    """`docker logs --until` a time before the container ran prints nothing."""
    p = eng.cli("logs", "--until", "2001-01-01T00:00:00Z", finished)
    assert (p.stdout, p.stderr) == ("", "")


@pytest.mark.feature("logs")
def test_logs_http_frames(eng, finished):
    """GET logs answers stdcopy frames: stream 1 for stdout, 2 for stderr, one line each."""
    r = eng.http("GET", f"{V}/containers/{finished}/logs?stdout=1&stderr=1")
    assert r.status == 200
    assert r.body[0] in (1, 2) and r.body[1:4] == b"\0\0\0"
    out, err = demux(r.body)
    assert out == b"line1\nline2\nline3\nline4\nline5\n" and err == b"err\n"


@pytest.mark.feature("logs")
def test_logs_http_stderr_only(eng, finished):
    """GET logs?stderr=1 alone gives only the stderr frames."""
    r = eng.http("GET", f"{V}/containers/{finished}/logs?stderr=1")
    assert demux(r.body) == (b"", b"err\n")


@pytest.mark.feature("logs")
def test_logs_follow_ends_with_container(eng):
    """`docker logs -f` streams new lines and returns when the container exits."""
    name = eng.run_d("busybox", "sh", "-c", "echo a; sleep 1; echo b")
    p = eng.cli("logs", "-f", name, timeout=30)
    assert (p.returncode, p.stdout) == (0, "a\nb\n")


@pytest.mark.feature("logs")
def test_logs_tty_raw(eng):
    """Logs of a -t container are raw bytes with CRLF line ends, no frames."""
    name = eng.name("c")
    eng.cli("run", "-t", "--name", name, "busybox", "sh", "-c", "echo tty-out; echo tty-err >&2")
    r = eng.http("GET", f"{V}/containers/{name}/logs?stdout=1&stderr=1")
    assert r.status == 200
    assert r.body == b"tty-out\r\ntty-err\r\n"


@pytest.mark.feature("logs")
def test_logs_survive_restart(eng):
    """Logs keep the output of earlier runs after `docker restart`."""
    name = eng.run_d("busybox", "sh", "-c", "echo run; sleep 300")
    eng.wait_for(lambda: eng.cli("logs", name).stdout == "run\n", what="first output")
    eng.out("restart", "-t", "0", name)
    eng.wait_for(lambda: eng.cli("logs", name).stdout == "run\nrun\n", what="second output")


@pytest.mark.feature("logs")
def test_logs_missing_container(eng):
    """`docker logs nosuch` exits 1 with No such container."""
    name = eng.name("nosuch")
    p = eng.cli("logs", name)
    assert p.returncode == 1 and f"No such container: {name}" in p.stderr


@pytest.mark.feature("logs")
def test_dockerpy_logs_stream(client, eng):
    """docker-py: logs(stream=True, follow=True) yields the output as it comes."""
    c = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 0.3; echo two"], detach=True, name=eng.name("c"))
    got = b"".join(c.logs(stream=True, follow=True))
    assert got == b"one\ntwo\n"


@pytest.mark.feature("logs")
def test_dockerpy_logs_split(client, finished):
    """docker-py: logs(stdout=False) returns only stderr."""
    assert client.containers.get(finished).logs(stdout=False, stderr=True) == b"err\n"


# ------------------------------------------------------------------ attach


@pytest.mark.feature("attach")
def test_attach_upgrade_101(eng):
    """POST attach with Upgrade: tcp answers 101 with the upgrade headers, then stdcopy frames."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "sh", "-c", "sleep 0.3; echo attached")
    h = eng.hijack("POST", f"{V}/containers/{name}/attach?stream=1&stdout=1&stderr=1")
    try:
        assert h.status == 101
        assert h.headers["upgrade"] == "tcp" and h.headers["connection"].lower() == "upgrade"
        assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
        assert demux(h.read_all()) == (b"attached\n", b"")
    finally:
        h.close()


@pytest.mark.feature("attach")
def test_attach_without_upgrade_200(eng):
    """POST attach without Upgrade: 200 raw-stream, frames until the container exits."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "sh", "-c", "sleep 0.3; echo out; echo err >&2")
    h = eng.hijack("POST", f"{V}/containers/{name}/attach?stream=1&stdout=1&stderr=1", upgrade=False)
    try:
        assert h.status == 200
        assert h.headers["content-type"] == "application/vnd.docker.raw-stream"
        eng.http("POST", f"{V}/containers/{name}/start")
        assert demux(h.read_all()) == (b"out\n", b"err\n")
    finally:
        h.close()


@pytest.mark.feature("attach")
def test_attach_stdin_roundtrip(eng):
    """Attach with stdin to `cat` (-i): bytes written come back on stdout."""
    name = eng.run_d("-i", "busybox", "cat")
    h = eng.hijack("POST", f"{V}/containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1")
    try:
        assert h.status == 101
        h.send(b"ping-through-attach\n")
        out, _ = demux(h.read_until(b"ping-through-attach\n"), lenient=True)
        assert out == b"ping-through-attach\n"
    finally:
        h.close()
    assert eng.state(name)["Running"] is True  # without StdinOnce the container's stdin stays open


@pytest.mark.feature("attach")
def test_attach_logs_replay(eng, finished):
    """attach?logs=1&stream=0 replays the logged output as frames and closes."""
    h = eng.hijack("POST", f"{V}/containers/{finished}/attach?logs=1&stream=0&stdout=1&stderr=1")
    try:
        assert h.status == 101
        out, err = demux(h.read_all())
        assert out == b"line1\nline2\nline3\nline4\nline5\n" and err == b"err\n"
    finally:
        h.close()


@pytest.mark.feature("attach")
def test_cli_attach_stopped(eng, finished):
    """`docker attach` to an exited container exits 1: 'You cannot attach to a stopped container'."""
    p = eng.cli("attach", finished)
    assert p.returncode == 1
    assert "You cannot attach to a stopped container, start it first" in p.stderr


@pytest.mark.feature("attach")
def test_cli_attach_running(eng):
    """`docker attach` shows the output of a running container and exits with its code."""
    name = eng.run_d("busybox", "sh", "-c", "sleep 1; echo late; exit 4")
    p = eng.cli("attach", "--no-stdin", name, timeout=30)
    assert (p.returncode, p.stdout) == (4, "late\n")


@pytest.mark.feature("attach")
def test_run_attach_stdout_only(eng):
    """`docker run -a stdout` shows stdout but not stderr."""
    p = eng.cli("run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("out\n", "")


@pytest.mark.feature("attach")
def test_run_stdin_once_closes(eng):
    """`docker run -i` closes the container's stdin at the client's EOF: cat ends, exit 0."""
    p = eng.cli("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo after-eof", input="x\n")
    assert (p.returncode, p.stdout) == (0, "x\nafter-eof\n")


@pytest.mark.feature("attach")
def test_dockerpy_attach_socket(client, eng):
    """docker-py: attach_socket on a created container receives its output after start."""
    c = client.containers.create("busybox", ["sh", "-c", "sleep 0.3; echo via-socket"], name=eng.name("c"))
    sock = c.attach_socket(params={"stdout": 1, "stream": 1})
    try:
        c.start()
        raw = sock._sock
        raw.settimeout(20)
        data = b""
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        assert demux(data)[0] == b"via-socket\n"
    finally:
        sock.close()


# ------------------------------------------------------------------ interactive terminals


def _cli_env(eng):
    import os

    env = dict(os.environ, DOCKER_HOST=eng.docker_host, TERM="xterm")
    env.pop("DOCKER_API_VERSION", None)
    return env


@pytest.mark.feature("attach", "runtime_config")
def test_run_it_through_pty(eng):
    """`docker run --rm -it busybox sh` in a real terminal: typed commands run, `exit 4` exits 4."""
    from compat.lib import DOCKER, run_in_pty

    code, out = run_in_pty(
        [DOCKER, "run", "--rm", "-it", "busybox", "sh"], b"echo typed-$((6*7))\nexit 4\n", _cli_env(eng)
    )
    assert code == 4, out
    assert b"typed-42" in out


@pytest.mark.feature("attach", "runtime_config")
def test_run_it_terminal_size(eng):
    """`docker run -it` gives the container the client's terminal size (stty size: 25 90)."""
    from compat.lib import DOCKER, run_in_pty

    code, out = run_in_pty(
        [DOCKER, "run", "--rm", "-it", "busybox", "sh"], b"stty size; exit 0\n", _cli_env(eng), rows=25, cols=90
    )
    assert code == 0, out
    assert b"25 90" in out


@pytest.mark.feature("exec")
def test_exec_it_through_pty(eng):
    """`docker exec -it c sh` in a real terminal: typed commands run in the container, exit code kept."""
    from compat.lib import DOCKER, run_in_pty

    name = eng.run_d("busybox", "sleep", "300")
    code, out = run_in_pty([DOCKER, "exec", "-it", name, "sh"], b"echo in-$(hostname)\nexit 6\n", _cli_env(eng))
    cid = eng.inspect(name)["Id"]
    assert code == 6, out
    assert f"in-{cid[:12]}".encode() in out
