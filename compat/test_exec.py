"""Exec: commands in a running container, stdin, exit codes, users, inspect of exec sessions."""

import pytest

from compat.lib import V, demux

pytestmark = pytest.mark.feature("containers", "exec")


@pytest.fixture(scope="module")
def box(eng):
    """A running container with an env var and a label, shared by the exec scenarios."""
    name = eng.shared_name("exec")
    eng.out("run", "-d", "--name", name, "-e", "FROM_RUN=yes", "busybox", "sleep", "600")
    yield name
    eng.cli("rm", "-f", name)


def test_exec_echo(eng, box):
    """`docker exec c echo hi` prints hi."""
    p = eng.cli("exec", box, "echo", "hi")
    assert (p.returncode, p.stdout) == (0, "hi\n"), p.stderr


def test_exec_exit_code(eng, box):
    """`docker exec c sh -c 'exit 5'` exits 5."""
    assert eng.cli("exec", box, "sh", "-c", "exit 5").returncode == 5


def test_exec_stdout_stderr(eng, box):
    """An exec's stdout and stderr reach the CLI's stdout and stderr."""
    p = eng.cli("exec", box, "sh", "-c", "echo out; echo err >&2")
    assert (p.stdout, p.stderr) == ("out\n", "err\n")


def test_exec_stdin(eng, box):
    """`echo hi | docker exec -i c cat` prints hi."""
    p = eng.cli("exec", "-i", box, "cat", input="hi\n")
    assert (p.returncode, p.stdout) == (0, "hi\n")


def test_exec_env(eng, box):
    """exec sees the container's env and -e adds to it."""
    assert eng.out("exec", "-e", "EXTRA=1", box, "sh", "-c", "echo $FROM_RUN $EXTRA") == "yes 1"


def test_exec_user(eng, box):
    """`docker exec -u nobody` runs as uid 65534; -u 1000:1000 as that uid/gid."""
    assert eng.out("exec", "-u", "nobody", box, "id", "-u") == "65534"
    assert eng.out("exec", "-u", "1000:1000", box, "id").startswith("uid=1000 gid=1000")


def test_exec_workdir(eng, box):
    """`docker exec -w /tmp` runs in /tmp."""
    assert eng.out("exec", "-w", "/tmp", box, "pwd") == "/tmp"


def test_exec_tty(eng, box):
    """`docker exec -t` runs on a pty."""
    p = eng.cli("exec", "-t", box, "tty", binary=True)
    assert p.stdout.startswith(b"/dev/pts/") and p.stdout.endswith(b"\r\n")


def test_exec_same_namespaces(eng, box):
    """An exec shares the container's filesystem: a file written by one exec is read by the next."""
    eng.out("exec", box, "sh", "-c", "echo shared > /tmp/x")
    assert eng.out("exec", box, "cat", "/tmp/x") == "shared"


def test_exec_detached(eng, box):
    """`docker exec -d` returns at once; the command runs in the background."""
    p = eng.cli("exec", "-d", box, "sh", "-c", "sleep 0.3; echo done > /tmp/detached")
    assert (p.returncode, p.stdout) == (0, "")
    eng.wait_for(lambda: eng.cli("exec", box, "cat", "/tmp/detached").stdout == "done\n", what="detached exec")


def test_exec_missing_command(eng, box):
    """A missing executable: the CLI prints the exec error and exits 126 (dockerd 20.10; newer: 127)."""
    p = eng.cli("exec", box, "nosuchcmd")
    assert p.returncode in (126, 127)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in p.stdout + p.stderr


def test_exec_stopped_container(eng):
    """exec in a stopped container: exit 1, 'Container <id> is not running' (409)."""
    name = eng.name("c")
    eng.cli("run", "--name", name, "busybox", "true")
    cid = eng.inspect(name)["Id"]
    p = eng.cli("exec", name, "true")
    assert p.returncode == 1 and f"Container {cid} is not running" in p.stderr
    r = eng.http("POST", f"{V}/containers/{name}/exec", body={"Cmd": ["true"]})
    assert r.status == 409


@pytest.mark.feature("lifecycle")
def test_exec_paused_container(eng):
    """exec in a paused container: 409 'Container X is paused, unpause the container before exec'."""
    name = eng.run_d("busybox", "sleep", "300")
    eng.out("pause", name)
    p = eng.cli("exec", name, "true")
    assert p.returncode == 1
    assert f"Container {name} is paused, unpause the container before exec" in p.stderr


def test_exec_missing_container(eng):
    """exec in a missing container: exit 1, No such container."""
    name = eng.name("nosuch")
    p = eng.cli("exec", name, "true")
    assert p.returncode == 1 and f"No such container: {name}" in p.stderr


def test_exec_http_inspect(eng, box):
    """Exec create 201 {Id}; start streams frames; exec inspect has ExitCode, ProcessConfig, ContainerID."""
    r = eng.http(
        "POST",
        f"{V}/containers/{box}/exec",
        body={"Cmd": ["sh", "-c", "echo x; exit 7"], "AttachStdout": True, "AttachStderr": True},
    )
    assert r.status == 201
    eid = r.json()["Id"]
    h = eng.hijack("POST", f"{V}/exec/{eid}/start", body=b'{"Detach":false,"Tty":false}')
    try:
        assert h.status == 101
        assert demux(h.read_all()) == (b"x\n", b"")
    finally:
        h.close()
    info = eng.wait_for(
        lambda: (lambda j: j if not j["Running"] else None)(eng.http("GET", f"{V}/exec/{eid}/json").json()),
        what="exec end",
    )
    assert info["ExitCode"] == 7 and info["ID"] == eid
    assert info["ContainerID"] == eng.inspect(box)["Id"]
    assert info["ProcessConfig"]["entrypoint"] == "sh"
    assert info["ProcessConfig"]["arguments"] == ["-c", "echo x; exit 7"]


def test_exec_start_twice_409(eng, box):
    """Starting a finished exec again is a 409."""
    eid = eng.http("POST", f"{V}/containers/{box}/exec", body={"Cmd": ["true"]}).json()["Id"]
    r = eng.http("POST", f"{V}/exec/{eid}/start", body={"Detach": True})
    assert r.status == 200
    eng.wait_for(lambda: not eng.http("GET", f"{V}/exec/{eid}/json").json()["Running"], what="exec end")
    assert eng.http("POST", f"{V}/exec/{eid}/start", body={"Detach": True}).status == 409


def test_exec_ids_in_inspect(eng, box):
    """A running exec is listed in the container's ExecIDs."""
    eid = eng.http("POST", f"{V}/containers/{box}/exec", body={"Cmd": ["sleep", "2"]}).json()["Id"]
    assert eng.http("POST", f"{V}/exec/{eid}/start", body={"Detach": True}).status == 200
    assert eid in (eng.inspect(box)["ExecIDs"] or [])


def test_exec_missing_exec_id(eng):
    """GET /exec/<unknown>/json is 404 'No such exec instance'."""
    r = eng.http("GET", f"{V}/exec/{'0' * 64}/json")
    assert r.status == 404 and "No such exec instance" in r.message


def test_dockerpy_exec_run(client, box):
    """docker-py: exec_run returns (exit_code, output); demux=True splits stdout and stderr."""
    c = client.containers.get(box)
    res = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert res.exit_code == 3 and b"out\n" in res.output and b"err\n" in res.output
    res = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert res.output == (b"out\n", b"err\n")


def test_dockerpy_exec_stream(client, box):
    """docker-py: exec_run(stream=True) yields the output."""
    res = client.containers.get(box).exec_run(["sh", "-c", "echo a; sleep 0.2; echo b"], stream=True)
    assert b"".join(res.output) == b"a\nb\n"


def test_docker_py_exec_created_with_tty_started_without(eng, box):
    """docker-py: exec_create(tty=True) then exec_start() (its default Tty=false): the output is framed
    by the start's Tty, as dockerd, so docker-py's demultiplexing reads it; inspect keeps the create's."""
    api = eng.client.api
    ex = api.exec_create(box, ["echo", "hi"], tty=True)
    out = api.exec_start(ex["Id"])
    assert b"hi" in out
    assert api.exec_inspect(ex["Id"])["ProcessConfig"]["tty"] is True
