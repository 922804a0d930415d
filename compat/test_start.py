"""Start semantics, including the legacy start-time HostConfig (api-traffic.md section 7).

The legacy scenarios speak raw HTTP on pinned versions: /v1.21 and /v1.23 (HostConfig in the start
body replaces the container's), /v1.24 and /v1.41 (such a body is a 400). Errors at 1.23 and below
are plain text.
"""

import socket

import pytest

from compat.lib import V

pytestmark = pytest.mark.feature("containers")

DEPRECATED = "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"
CREATE_BODY = {
    "Image": "busybox",
    "Cmd": ["sleep", "300"],
    "ExposedPorts": {"80/tcp": {}},
    "HostConfig": {"Memory": 67108864, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
}


def create(eng, body=None):
    name = eng.name("c")
    r = eng.http("POST", f"{V}/containers/create?name={name}", body=body or CREATE_BODY)
    assert r.status == 201, r
    return name


def hostconfig(eng, name):
    return eng.http("GET", f"{V}/containers/{name}/json").json()["HostConfig"]


@pytest.fixture
def bind_src(tmp_path):
    (tmp_path / "f").write_text("from the host\n")
    return str(tmp_path)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ------------------------------------------------------------------ start semantics (any version)


@pytest.mark.feature("start_semantics")
def test_start_running_is_304(eng):
    """Starting a running container: 304 with an empty body."""
    name = create(eng)
    assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
    r = eng.http("POST", f"{V}/containers/{name}/start")
    assert (r.status, r.body) == (304, b"")


@pytest.mark.feature("start_semantics")
def test_cli_start_running_is_quiet(eng):
    """`docker start` of a running container exits 0 and prints its name."""
    name = create(eng)
    eng.out("start", name)
    p = eng.cli("start", name)
    assert (p.returncode, p.stdout.strip()) == (0, name)


@pytest.mark.feature("start_semantics", "lifecycle")
def test_start_paused_is_409(eng):
    """Starting a paused container: 409 'cannot start a paused container, try unpause instead'."""
    name = create(eng)
    eng.out("start", name)
    eng.out("pause", name)
    r = eng.http("POST", f"{V}/containers/{name}/start")
    assert r.status == 409
    assert r.json() == {"message": "cannot start a paused container, try unpause instead"}


@pytest.mark.feature("start_semantics")
def test_start_missing_is_404(eng):
    """Starting a missing container: 404 'No such container: x'; the CLI exits 1."""
    name = eng.name("nosuch")
    r = eng.http("POST", f"{V}/containers/{name}/start")
    assert r.status == 404 and r.json() == {"message": f"No such container: {name}"}
    p = eng.cli("start", name)
    assert p.returncode == 1
    assert f"No such container: {name}" in p.stderr


@pytest.mark.feature("start_semantics")
def test_start_failure_keeps_error(eng):
    """A start that fails (missing executable): 400 with the exec error; State.Error set, ExitCode 127."""
    name = create(eng, {"Image": "busybox", "Cmd": ["nosuchcmd"]})
    r = eng.http("POST", f"{V}/containers/{name}/start")
    assert r.status == 400
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.message
    st = eng.http("GET", f"{V}/containers/{name}/json").json()["State"]
    assert st["Running"] is False and st["Pid"] == 0
    assert st["ExitCode"] == 127
    assert 'exec: "nosuchcmd"' in st["Error"]


@pytest.mark.feature("start_semantics")
def test_start_failure_then_cli_start(eng):
    """`docker start` of such a container exits 1 and says it failed to start it."""
    name = create(eng, {"Image": "busybox", "Cmd": ["nosuchcmd"]})
    p = eng.cli("start", name)
    assert p.returncode == 1
    assert "executable file not found" in p.stderr
    assert f"Error: failed to start containers: {name}" in p.stderr


@pytest.mark.feature("start_semantics")
def test_start_empty_body_ok_v141(eng):
    """/v1.41 start with a body of 7 bytes or less ({}) is a normal start (204)."""
    name = create(eng)
    r = eng.http("POST", f"/v1.41/containers/{name}/start", body=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 204
    assert eng.state(name)["Running"] is True


# ------------------------------------------------------------------ legacy start-time HostConfig


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
@pytest.mark.parametrize("version", ["1.21", "1.23"])
def test_legacy_hostconfig_replaces(eng, bind_src, version):
    """/v1.21, /v1.23: the start body is a whole HostConfig: Binds set, Memory and RestartPolicy reset."""
    name = create(eng)
    r = eng.http("POST", f"/v{version}/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]})
    assert (r.status, r.body) == (204, b"")
    assert "content-type" not in r.headers
    hc = hostconfig(eng, name)
    assert hc["Binds"] == [f"{bind_src}:/mnt:ro"]
    assert hc["Memory"] == 0
    assert hc["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}
    assert eng.state(name)["Running"] is True


@pytest.mark.feature("legacy_start", "binds")
@pytest.mark.needs_legacy_api
def test_legacy_bind_is_mounted(eng, bind_src):
    """/v1.21: the bind given at start is mounted, read-only, in the running container."""
    name = create(eng)
    assert eng.http("POST", f"/v1.21/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]}).status == 204
    pid = eng.state(name)["Pid"]
    with open(f"/proc/{pid}/root/mnt/f") as f:
        assert f.read() == "from the host\n"
    mounts = eng.http("GET", f"{V}/containers/{name}/json").json()["Mounts"]
    assert [(m["Type"], m["Source"], m["Destination"], m["RW"]) for m in mounts] == [("bind", bind_src, "/mnt", False)]


@pytest.mark.feature("legacy_start", "ports")
@pytest.mark.needs_legacy_api
def test_legacy_port_bindings(eng):
    """/v1.21: PortBindings given at start are published (`docker port` shows them)."""
    name = create(eng)
    port = free_port()
    body = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}}
    assert eng.http("POST", f"/v1.21/containers/{name}/start", body=body).status == 204
    assert eng.out("port", name) == f"80/tcp -> 127.0.0.1:{port}"


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_memory_in_body(eng):
    """/v1.23: fields given in the start body (Memory) are applied as given."""
    name = create(eng)
    r = eng.http("POST", f"/v1.23/containers/{name}/start", body={"Memory": 33554432})
    assert r.status == 204
    hc = hostconfig(eng, name)
    assert hc["Memory"] == 33554432 and hc["RestartPolicy"]["Name"] == ""


@pytest.mark.feature("legacy_start", "net_modes")
@pytest.mark.needs_legacy_api
def test_legacy_network_mode_switch(eng):
    """/v1.21 body {"NetworkMode":"none"}: the container starts in network mode none."""
    name = create(eng)
    assert eng.http("POST", f"/v1.21/containers/{name}/start", body={"NetworkMode": "none"}).status == 204
    c = eng.http("GET", f"{V}/containers/{name}/json").json()
    assert c["HostConfig"]["NetworkMode"] == "none"
    assert list(c["NetworkSettings"]["Networks"]) == ["none"]


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_no_body_is_plain_start(eng):
    """/v1.21 start with no body: 204, the create-time HostConfig is kept."""
    name = create(eng)
    assert eng.http("POST", f"/v1.21/containers/{name}/start").status == 204
    assert hostconfig(eng, name)["Memory"] == 67108864


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_running_is_304(eng, bind_src):
    """/v1.21 start with a body on a running container: 304, empty body."""
    name = create(eng)
    assert eng.http("POST", f"{V}/containers/{name}/start").status == 204
    r = eng.http("POST", f"/v1.21/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]})
    assert (r.status, r.body) == (304, b"")


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_wrong_content_type(eng, bind_src):
    """/v1.21 body with Content-Type text/plain: 400 in plain text; the container stays created."""
    name = create(eng)
    r = eng.http(
        "POST",
        f"/v1.21/containers/{name}/start",
        body=f'{{"Binds":["{bind_src}:/mnt:ro"]}}'.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "Content-Type specified (text/plain) must be 'application/json'\n"
    assert eng.state(name)["Status"] == "created"


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_paused_is_409_plain_text(eng):
    """/v1.23 start of a paused container: 409 in plain text."""
    name = create(eng)
    eng.out("start", name)
    eng.out("pause", name)
    r = eng.http("POST", f"/v1.23/containers/{name}/start")
    assert r.status == 409 and r.headers["content-type"].startswith("text/plain")
    assert r.text == "cannot start a paused container, try unpause instead\n"


@pytest.mark.feature("legacy_start")
@pytest.mark.needs_legacy_api
def test_legacy_failed_start_still_replaces(eng, bind_src):
    """/v1.23: when the start then fails, the HostConfig was replaced anyway; error in plain text."""
    name = create(eng, {"Image": "busybox", "Cmd": ["nosuchcmd"], "HostConfig": {"Memory": 67108864}})
    r = eng.http("POST", f"/v1.23/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]})
    assert r.status == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.text
    hc = hostconfig(eng, name)
    assert hc["Binds"] == [f"{bind_src}:/mnt:ro"] and hc["Memory"] == 0
    st = eng.state(name)
    assert st["Status"] == "created" and st["ExitCode"] == 127


@pytest.mark.feature("legacy_start", "ports")
@pytest.mark.needs_legacy_api
def test_legacy_port_taken_500_plain_text(eng):
    """/v1.23 with the host port already bound: 500 in plain text, HostConfig replaced anyway."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        name = create(eng)
        body = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}}
        r = eng.http("POST", f"/v1.23/containers/{name}/start", body=body)
        assert r.status == 500 and r.headers["content-type"].startswith("text/plain")
        assert "address already in use" in r.text or "port is already allocated" in r.text
        hc = hostconfig(eng, name)
        assert hc["PortBindings"]["80/tcp"][0]["HostPort"] == str(port) and hc["Memory"] == 0
        assert eng.state(name)["Running"] is False
    finally:
        taken.close()


@pytest.mark.feature("legacy_start")
@pytest.mark.parametrize("version", ["1.24", "1.41"])
def test_body_refused_from_124(eng, bind_src, version):
    """/v1.24, /v1.41: a start body is 400 'starting container with non-empty request body was deprecated...'."""
    name = create(eng)
    r = eng.http("POST", f"/v{version}/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]})
    assert r.status == 400
    assert r.json() == {"message": DEPRECATED}
    assert eng.state(name)["Status"] == "created"
    hc = hostconfig(eng, name)
    assert hc["Memory"] == 67108864 and not hc["Binds"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}


@pytest.mark.feature("legacy_start")
@pytest.mark.api("1.50")
def test_body_refused_at_150(eng, bind_src):
    """/v1.50 (the CLI 28's version): a start body is refused with 400 too."""
    name = create(eng)
    r = eng.http("POST", f"/v1.50/containers/{name}/start", body={"Binds": [f"{bind_src}:/mnt:ro"]})
    assert r.status == 400
    assert eng.state(name)["Status"] == "created"


@pytest.mark.feature("legacy_start")
def test_body_size_counts_not_content(eng):
    """/v1.41 body {"Binds":[]} (12 bytes, empty content) is still a 400: only the size counts."""
    name = create(eng)
    r = eng.http(
        "POST", f"/v1.41/containers/{name}/start", body=b'{"Binds":[]}', headers={"Content-Type": "application/json"}
    )
    assert r.status == 400 and r.message == DEPRECATED


@pytest.mark.feature("legacy_start")
def test_chunked_body_counts(eng):
    """/v1.41 body {} sent chunked (unknown length) is treated as a body: 400."""
    name = create(eng)
    r = eng.http(
        "POST",
        f"/v1.41/containers/{name}/start",
        body=b"{}",
        headers={"Content-Type": "application/json"},
        chunked=True,
    )
    assert r.status == 400 and r.message == DEPRECATED
    assert eng.state(name)["Status"] == "created"
