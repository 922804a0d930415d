"""Errors: Docker's error model as a client sees it: status codes, body shapes, exact wording.

Shapes: {"message": "..."} + "\\n" as JSON above API 1.23 (and unprefixed); plain text (text/plain,
X-Content-Type-Options: nosniff) at 1.23 and below.
"""

import json
import urllib.parse

import pytest

from compat.lib import V

pytestmark = pytest.mark.feature("system")


def count_containers(eng):
    r = eng.http("GET", f"{V}/containers/json?all=1")
    return len(r.json()) if r.status == 200 else None


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/v1.41/nosuchendpoint"), ("GET", "/nosuch"), ("PUT", "/v1.41/version"), ("DELETE", "/v1.41/info")],
)
def test_unknown_route_404(eng, method, path):
    """An unknown endpoint (or method): 404 {"message":"page not found"}."""
    r = eng.http(method, path)
    assert r.status == 404
    assert r.headers["content-type"] == "application/json"
    assert r.body == b'{"message":"page not found"}\n'


def test_json_error_shape(eng):
    """Errors at /v1.24+ are JSON {"message": ...} ending with a newline."""
    r = eng.http("GET", "/v1.24/images/cmp-nosuch-image/json")
    assert r.status == 404
    assert r.headers["content-type"] == "application/json"
    assert r.body.endswith(b"}\n") and set(r.json()) == {"message"}


def test_plain_text_error_v123(eng):
    """Errors at /v1.23 are plain text with nosniff, the message ending with a newline."""
    r = eng.http("GET", "/v1.23/images/cmp-nosuch-image/json")
    assert r.status == 404
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.text.endswith("No such image: cmp-nosuch-image:latest\n")
    assert not r.text.startswith("{")


def test_plain_text_error_v112(eng):
    """Even the oldest supported version (1.12) gets plain-text errors."""
    r = eng.http("GET", "/v1.12/images/cmp-nosuch-image/json")
    assert r.status == 404 and r.headers["content-type"].startswith("text/plain")


def test_unversioned_errors_are_json(eng):
    """Errors on unprefixed paths are JSON (served as the current version)."""
    r = eng.http("GET", "/images/cmp-nosuch-image/json")
    assert r.status == 404 and r.headers["content-type"] == "application/json"


@pytest.mark.feature("images")
def test_tag_uppercase_repo(eng):
    """Tagging to an upper-case repository is refused: 'repository name must be lowercase'.

    dockerd 20.10 answers 500; 400 (a bad parameter) is accepted as well."""
    r = eng.http("POST", f"{V}/images/busybox/tag?repo=CMPUPPER&tag=1")
    assert r.status in (400, 500)
    assert "invalid reference format: repository name must be lowercase" in r.message


@pytest.mark.feature("images")
def test_images_bad_filter_value(eng):
    """An invalid filter value (dangling=maybe): 400 "Invalid filter 'dangling=[maybe]'"."""
    flt = urllib.parse.quote(json.dumps({"dangling": {"maybe": True}}))
    r = eng.http("GET", f"{V}/images/json?filters={flt}")
    assert r.status == 400
    assert r.message == "Invalid filter 'dangling=[maybe]'"


@pytest.mark.feature("images")
def test_malformed_filters_json(eng):
    """Malformed filters JSON is refused (dockerd 20.10: 500; 400 accepted) with a message, no trace."""
    r = eng.http("GET", f"{V}/images/json?filters=%7Bbad")
    assert r.status in (400, 500)
    assert r.json()["message"] and "Traceback" not in r.text


# ------------------------------------------------------------------ container errors


@pytest.mark.feature("containers")
def test_malformed_json_create(eng):
    """Malformed JSON on create: refused (dockerd 20.10: 500, shim: 400), JSON message, no container made."""
    before = count_containers(eng)
    r = eng.http(
        "POST",
        f"{V}/containers/create?name={eng.name('c')}",
        body=b"{bad json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status in (400, 500)
    assert r.json()["message"] and "Traceback" not in r.text
    assert count_containers(eng) == before


@pytest.mark.feature("containers")
def test_wrong_type_create(eng):
    """A wrong JSON type (Image: 5) is refused naming the field; no container made."""
    before = count_containers(eng)
    r = eng.http("POST", f"{V}/containers/create", body={"Image": 5})
    assert r.status in (400, 500)
    assert "Image" in r.message
    assert count_containers(eng) == before


@pytest.mark.feature("containers")
def test_wrong_type_hostconfig_field(eng):
    """A wrong type inside HostConfig (Memory: "lots") is refused naming Memory."""
    r = eng.http("POST", f"{V}/containers/create", body={"Image": "busybox", "HostConfig": {"Memory": "lots"}})
    assert r.status in (400, 500)
    assert "Memory" in r.message


@pytest.mark.feature("containers")
def test_create_wrong_content_type(eng):
    """Create with Content-Type text/plain: 400 "Content-Type specified (text/plain) must be 'application/json'"."""
    r = eng.http("POST", f"{V}/containers/create", body=b'{"Image":"busybox"}', headers={"Content-Type": "text/plain"})
    assert r.status == 400
    assert r.message == "Content-Type specified (text/plain) must be 'application/json'"


@pytest.mark.feature("containers")
def test_create_empty_config(eng):
    """Create with {}: 400 'Config cannot be empty in order to create a container'."""
    r = eng.http("POST", f"{V}/containers/create", body={})
    assert r.status == 400
    assert r.message == "Config cannot be empty in order to create a container"


@pytest.mark.feature("containers")
def test_create_invalid_name(eng):
    """create?name=bad/name: 400 'Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'."""
    r = eng.http("POST", f"{V}/containers/create?name=bad/name", body={"Image": "busybox"})
    assert r.status == 400
    assert r.message == "Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


@pytest.mark.feature("containers")
def test_create_missing_image(eng):
    """create with a missing image: 404 'No such image: X:latest' (so the CLI says Unable to find image)."""
    name = eng.name("nosuch")
    r = eng.http("POST", f"{V}/containers/create", body={"Image": name})
    assert r.status == 404
    assert r.message == f"No such image: {name}:latest"


@pytest.mark.feature("containers")
def test_create_invalid_restart_policy(eng):
    """RestartPolicy 'sometimes': 400 "invalid restart policy 'sometimes'"."""
    r = eng.http(
        "POST",
        f"{V}/containers/create",
        body={"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
    )
    assert r.status == 400
    assert r.message == "invalid restart policy 'sometimes'"


@pytest.mark.feature("containers")
def test_create_autoremove_with_restart(eng):
    """AutoRemove with a restart policy: 400 "can't create 'AutoRemove' container with restart policy"."""
    r = eng.http(
        "POST",
        f"{V}/containers/create",
        body={"Image": "busybox", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}},
    )
    assert r.status == 400
    assert r.message == "can't create 'AutoRemove' container with restart policy"


@pytest.mark.feature("containers")
@pytest.mark.parametrize(
    "extra,hc,message",
    [
        ({}, {"CapAdd": ["CAP_CMPBOGUS"]}, 'invalid CapAdd: unknown capability: "CAP_CMPBOGUS"'),
        ({"StopSignal": "SIGCMPBOGUS"}, {}, "Invalid signal: SIGCMPBOGUS"),
        ({"Env": ["=value"]}, {}, "invalid environment variable: =value"),
        ({}, {"ExtraHosts": ["nocolon"]}, 'bad format for add-host: "nocolon"'),
        ({}, {"CpusetCpus": "0-4095"}, "Requested CPUs are not available - requested 0-4095, available: "),
        (
            {"Hostname": "h"},
            {"NetworkMode": "container:cmp-none"},
            "conflicting options: hostname and the network mode",
        ),
    ],
    ids=["capability", "stop-signal", "env", "extra-host", "cpuset", "hostname-netmode"],
)
def test_create_refused_by_verify_settings(eng, extra, hc, message):
    """Values dockerd's verifyContainerSettings (and runconfig's decode) refuse at create: 400 in its
    words, and no container is made."""
    before = count_containers(eng)
    r = eng.http("POST", f"{V}/containers/create", body={"Image": "busybox", **extra, "HostConfig": hc})
    assert r.status == 400
    assert r.message.startswith(message)
    assert count_containers(eng) == before


@pytest.mark.feature("containers")
def test_cli_run_rm_and_restart(eng):
    """`docker run --rm --restart always` is refused by the CLI or daemon and exits 125."""
    p = eng.cli("run", "--rm", "--restart", "always", "busybox", "true")
    assert p.returncode == 125


@pytest.mark.feature("containers")
def test_containers_bad_filter(eng):
    """An unknown filter on /containers/json: 400 "Invalid filter 'nosuchfilter'"."""
    flt = urllib.parse.quote(json.dumps({"nosuchfilter": {"x": True}}))
    r = eng.http("GET", f"{V}/containers/json?filters={flt}")
    assert r.status == 400 and r.message == "Invalid filter 'nosuchfilter'"


@pytest.mark.feature("containers")
@pytest.mark.parametrize(
    "method,path,message",
    [
        ("GET", "/containers/{n}/json", "No such container: {n}"),
        ("POST", "/containers/{n}/stop", "No such container: {n}"),
        ("POST", "/containers/{n}/start", "No such container: {n}"),
        ("DELETE", "/containers/{n}", "No such container: {n}"),
        ("POST", "/containers/{n}/kill", "No such container: {n}"),
        ("POST", "/containers/{n}/wait", "No such container: {n}"),
    ],
)
def test_missing_container_404(eng, method, path, message):
    """Operations on a missing container: 404 whose message contains 'No such container: X'."""
    n = eng.name("nosuch")
    r = eng.http(method, V + path.format(n=n))
    assert r.status == 404
    assert message.format(n=n) in r.message


@pytest.mark.feature("containers")
def test_missing_container_plain_text_v123(eng):
    """At /v1.23 a missing container is a plain-text 404 'No such container: X'."""
    n = eng.name("nosuch")
    r = eng.http("GET", f"/v1.23/containers/{n}/json")
    assert r.status == 404 and r.headers["content-type"].startswith("text/plain")
    assert r.text == f"No such container: {n}\n"


@pytest.mark.feature("containers")
def test_cli_inspect_nothing(eng):
    """`docker inspect <unknown>` prints [] and 'Error: No such object: X', exit 1."""
    n = eng.name("nosuch")
    p = eng.cli("inspect", n)
    assert p.returncode == 1
    assert p.stdout.strip() == "[]"
    assert f"Error: No such object: {n}" in p.stderr


@pytest.mark.feature("containers")
def test_cli_kill_missing(eng):
    """`docker kill <missing>` exits 1 with 'No such container'."""
    n = eng.name("nosuch")
    p = eng.cli("kill", n)
    assert p.returncode == 1 and f"No such container: {n}" in p.stderr


@pytest.mark.feature("containers")
def test_cli_run_daemon_error_125(eng):
    """`docker run` exits 125 when the daemon refuses the container (invalid restart policy)."""
    p = eng.cli("run", "--restart", "sometimes", "busybox", "true")
    assert p.returncode == 125


@pytest.mark.feature("containers")
def test_dockerpy_api_error_status(client, eng):
    """docker-py: a conflict raises APIError with status_code 409 and the daemon's explanation."""
    import docker

    name = eng.name("c")
    client.containers.create("busybox", "true", name=name)
    with pytest.raises(docker.errors.APIError) as ei:
        client.containers.create("busybox", "true", name=name)
    assert ei.value.status_code == 409
    assert "is already in use by container" in ei.value.explanation


def test_dockerpy_too_new_version(eng):
    """docker-py pinned to version 1.99: APIError 400 'client version 1.99 is too new'."""
    import docker

    c = docker.APIClient(base_url=eng.docker_host, version="1.99")
    try:
        with pytest.raises(docker.errors.APIError) as ei:
            c.version(api_version=True)
        assert ei.value.status_code == 400
        assert "client version 1.99 is too new" in str(ei.value)
    finally:
        c.close()


def test_head_ping_with_version_prefix_too_new(eng):
    """/v1.99/_ping is refused like any other path: 400."""
    r = eng.http("GET", "/v1.99/_ping")
    assert r.status == 400 and "is too new" in r.message
