"""System: ping, version, info, API version negotiation."""

import json
import os
import platform

import pytest

from compat.lib import version_tuple

pytestmark = pytest.mark.feature("system")


def test_head_ping_headers_and_no_body(eng):
    """HEAD /_ping answers 200 with Api-Version, no-cache headers and no body (the CLI's first call)."""
    r = eng.http("HEAD", "/_ping")
    assert r.status == 200
    assert r.body == b""
    assert version_tuple(r.headers["api-version"]) >= (1, 24)
    assert r.headers["cache-control"] == "no-cache, no-store, must-revalidate"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["ostype"] == "linux"


def test_get_ping_body_ok(eng):
    """GET /_ping answers the body OK."""
    r = eng.http("GET", "/_ping")
    assert (r.status, r.body) == (200, b"OK")
    assert r.headers["api-version"] == eng.api_version


def test_ping_versioned(eng):
    """/v1.41/_ping answers OK too."""
    r = eng.http("GET", "/v1.41/_ping")
    assert (r.status, r.body) == (200, b"OK")


def test_version_body_shape(eng):
    """GET /version has Components with an Engine, ApiVersion, MinAPIVersion, Os, Arch, KernelVersion."""
    v = eng.http("GET", "/version").json()
    names = [c["Name"] for c in v["Components"]]
    assert "Engine" in names
    assert v["Os"] == "linux"
    assert v["Arch"] == "amd64"
    assert v["KernelVersion"] == platform.release()
    assert version_tuple(v["MinAPIVersion"]) <= (1, 24) <= version_tuple(v["ApiVersion"])
    engine = next(c for c in v["Components"] if c["Name"] == "Engine")
    assert engine["Details"]["ApiVersion"] == v["ApiVersion"]


def test_version_response_headers(eng):
    """Every versioned answer carries Api-Version, Server, Ostype, Docker-Experimental, JSON content type."""
    r = eng.http("GET", "/v1.41/version")
    assert r.status == 200
    assert r.headers["api-version"] == eng.api_version
    assert r.headers["ostype"] == "linux"
    assert r.headers["docker-experimental"] == "false"
    assert r.headers["server"]
    assert r.headers["content-type"] == "application/json"
    assert r.body.endswith(b"\n")


@pytest.mark.parametrize(
    "v", ["1.12", "1.18", "1.21", "1.23", "1.24", "1.25", "1.30", "1.40", "1.41", "1.44", "1.50", "1.51", "1.56"]
)
def test_version_prefix_in_range(eng, v):
    """/vX.Y/version answers 200 inside [MinAPIVersion, ApiVersion] and 400 'too new' above it."""
    r = eng.http("GET", f"/v{v}/version")
    if version_tuple(v) < version_tuple(eng.min_api):
        assert r.status == 400 and "is too old" in r.message
    elif version_tuple(v) > version_tuple(eng.api_version):
        assert r.status == 400
        assert r.message == (f"client version {v} is too new. Maximum supported API version is {eng.api_version}")
    else:
        assert r.status == 200, r
        assert r.json()["ApiVersion"] == eng.api_version


def test_version_too_new_json(eng):
    """/v<max+0.1>/version: 400 JSON 'client version X is too new. Maximum supported API version is <max>'."""
    major, minor = version_tuple(eng.api_version)
    v = f"{major}.{minor + 1}"
    r = eng.http("GET", f"/v{v}/version")
    assert r.status == 400
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"message": f"client version {v} is too new. Maximum supported API version is {eng.api_version}"}


def test_version_far_too_new(eng):
    """/v9.99/version is refused with the same wording."""
    r = eng.http("GET", "/v9.99/version")
    assert r.status == 400
    assert r.message.startswith("client version 9.99 is too new. Maximum supported API version is ")


def test_version_too_old_plain_text(eng):
    """/v1.11/version: 400 in plain text (old API) with dockerd's 'too old ... upgrade' wording."""
    r = eng.http("GET", "/v1.11/version")
    assert r.status == 400
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == (
        f"client version 1.11 is too old. Minimum supported API version is {eng.min_api}, "
        "please upgrade your client to a newer version\n"
    )


def test_cli_version_shows_server(eng):
    """`docker version` prints both Client and Server, the server API version being the engine's."""
    p = eng.cli("version", "--format", "{{json .}}")
    assert p.returncode == 0, p.stderr
    v = json.loads(p.stdout)
    assert v["Server"]["ApiVersion"] == eng.api_version
    assert v["Client"]["ApiVersion"] == eng.cli_api


def test_cli_version_negotiates_down_only_when_needed(eng):
    """`docker version` says 'downgraded from 1.50' only when the engine's API is below 1.50."""
    p = eng.cli("version")
    assert p.returncode == 0, p.stderr
    downgraded = "downgraded from 1.50" in p.stdout
    assert downgraded == (version_tuple(eng.api_version) < (1, 50))


def test_cli_pinned_api_version(eng):
    """DOCKER_API_VERSION=1.24 docker version works and the client uses 1.24."""
    p = eng.cli(
        "version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}", env={"DOCKER_API_VERSION": "1.24"}
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1.24", eng.api_version]


def test_cli_pinned_api_version_too_new(eng):
    """DOCKER_API_VERSION=1.99 docker version exits 1 with the daemon's 'too new' message."""
    p = eng.cli("version", env={"DOCKER_API_VERSION": "1.99"})
    assert p.returncode == 1
    assert (
        f"Error response from daemon: client version 1.99 is too new. Maximum supported API "
        f"version is {eng.api_version}"
    ) in p.stderr


def test_cli_info_prints(eng):
    """`docker info` exits 0 and prints the server section without errors."""
    p = eng.cli("info")
    assert p.returncode == 0, p.stderr
    assert "Server Version:" in p.stdout
    assert "Storage Driver:" in p.stdout
    assert "ERROR" not in p.stderr.upper().replace("WARNING", "")


def test_cli_info_format(eng):
    """`docker info --format` exposes OSType, Architecture, NCPU and the kernel version."""
    p = eng.cli("info", "--format", "{{.OSType}}|{{.Architecture}}|{{.NCPU}}|{{.KernelVersion}}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"linux|x86_64|{os.cpu_count()}|{platform.release()}"


def test_info_real_figures(eng):
    """GET /info reports real figures: container counts add up, images >= 1, memory, root dir."""
    info = eng.http("GET", "/v1.41/info").json()
    assert info["Containers"] == (info["ContainersRunning"] + info["ContainersPaused"] + info["ContainersStopped"])
    assert info["Images"] >= 1
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    assert abs(info["MemTotal"] - mem_kb * 1024) < 64 * 1024 * 1024
    assert info["DockerRootDir"].startswith("/")
    assert info["OperatingSystem"]
    assert info["Name"] and info["ID"]
    assert info["ServerVersion"] == eng.server_version
    assert info["CgroupVersion"] in ("1", "2")


def test_info_storage_and_runtime(eng):
    """/info names its storage driver overlay2 and a default runtime that is in Runtimes."""
    info = eng.http("GET", "/v1.41/info").json()
    assert info["Driver"] == "overlay2"
    assert info["DefaultRuntime"] in info["Runtimes"]


def test_dockerpy_version_and_ping(client, eng):
    """docker-py: client.ping() is True and client.version() reports the engine's ApiVersion."""
    assert client.ping() is True
    assert client.version()["ApiVersion"] == eng.api_version


def test_dockerpy_info(client):
    """docker-py: client.info() works and counts images."""
    info = client.info()
    assert info["Images"] >= 1
    assert info["OSType"] == "linux"


def test_dockerpy_negotiates_version(eng):
    """docker-py with version='auto' uses the engine's ApiVersion for later calls."""
    import docker

    c = docker.APIClient(base_url=eng.docker_host, version="auto")
    try:
        assert c.api_version == eng.api_version
        assert c.version()["ApiVersion"] == eng.api_version
    finally:
        c.close()


@pytest.mark.feature("system_df")
def test_system_df(eng):
    """`docker system df` lists Images, Containers, Local Volumes and Build Cache."""
    p = eng.cli("system", "df")
    assert p.returncode == 0, p.stderr
    for row in ("Images", "Containers", "Local Volumes", "Build Cache"):
        assert row in p.stdout
