"""Registries: pull, push, login, remote inspect, against real local registries both engines reach.

The suite starts its own Debian docker-registry (distribution 2.8) processes on 127.0.0.1: plain,
htpasswd basic auth, and token auth with a small token server (tests/registry_harness.py), seeded
with skopeo from the busybox archive. 127.0.0.0/8 is an insecure registry range for every engine
(dockerd's default), so nothing needs configuring; nothing leaves the machine.
"""

import hashlib
import json
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from compat.lib import V
from tests.registry_harness import Registry, build_archive

pytestmark = pytest.mark.feature("registry")


@pytest.fixture(scope="module")
def plain():
    reg = Registry("plain").start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def token():
    reg = Registry("token", anonymous=("pull",)).start()
    try:
        reg.seed("shared/busybox:1")
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def basic():
    reg = Registry("basic").start()
    try:
        reg.seed("shared/busybox:1")
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def docker_config():
    """A CLI config directory of the scenario's own: logins never touch the user's."""
    with tempfile.TemporaryDirectory(prefix="cmp-docker-config-") as d:
        yield {"DOCKER_CONFIG": d}


def seeded(eng, reg, layers=(1024,), tag="1"):
    """A repository of this scenario's own on `reg`: busybox plus new random layers, so that its
    image is no other (pulling busybox itself would add RepoDigests to the engine's busybox)."""
    name = eng.name("repo")
    with tempfile.TemporaryDirectory() as tmp:
        reg.seed(f"{name}:{tag}", build_archive(Path(tmp) / f"{name}.tar", list(layers)))
    return f"{reg.addr}/{name}"


@pytest.fixture
def remove_after(eng):
    """References and image IDs the scenario leaves that name-prefix cleanup can't see (digest
    references, untagged images): removed at the end, the scenario's own only."""
    refs = []
    yield refs
    for ref in refs:
        eng.http("DELETE", f"{V}/images/{urllib.parse.quote(ref, safe='')}?force=1")


def test_pull_prints_progress_digest_and_status(eng, plain):
    """`docker pull REG/x:1`: Pulling from, per-layer Pull complete, Digest:, Status: Downloaded newer image."""
    repo = seeded(eng, plain, [200_000])
    p = eng.cli("pull", f"{repo}:1", timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"1: Pulling from {repo.split('/', 1)[1]}"
    assert any(line.endswith(": Pull complete") for line in lines)
    assert any(line.startswith("Digest: sha256:") for line in lines)
    assert f"Status: Downloaded newer image for {repo}:1" in lines
    assert lines[-1] == f"{repo}:1"


def test_pull_again_is_up_to_date_and_keeps_the_digest(eng, plain):
    """A second pull: `Image is up to date`; RepoDigests and `images --digests` name the manifest."""
    repo = seeded(eng, plain)
    first = eng.out("pull", f"{repo}:1", timeout=120)
    digest = next(line.split()[1] for line in first.splitlines() if line.startswith("Digest: "))
    again = eng.out("pull", f"{repo}:1", timeout=120)
    assert f"Status: Image is up to date for {repo}:1" in again
    assert eng.inspect(f"{repo}:1", "image")["RepoDigests"] == [f"{repo}@{digest}"]
    listed = eng.out("images", "--digests", "--format", "{{.Tag}} {{.Digest}}", repo)
    assert listed.split() == ["1", digest]


def test_pull_by_digest(eng, plain, remove_after):
    """`docker pull REG/x@sha256:…` pulls that manifest; the image carries the digest reference."""
    repo = seeded(eng, plain)
    _, raw = plain.get_json(f"/v2/{repo.split('/', 1)[1]}/manifests/1")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    remove_after.append(f"{repo}@{digest}")
    out = eng.out("pull", f"{repo}@{digest}", timeout=120)
    assert f"Digest: {digest}" in out and f"Status: Downloaded newer image for {repo}@{digest}" in out
    assert f"{repo}@{digest}" in eng.inspect(f"{repo}@{digest}", "image")["RepoDigests"]


def test_pull_of_a_missing_tag_is_a_404(eng, plain):
    """A tag the registry lacks: 404 before any stream, `manifest for … not found: manifest unknown`."""
    repo = f"{plain.addr}/{eng.name('none')}"
    r = eng.http("POST", f"{V}/images/create?fromImage={urllib.parse.quote(repo, safe='')}&tag=nosuch")
    assert r.status == 404
    assert r.message == f"manifest for {repo}:nosuch not found: manifest unknown: manifest unknown"
    p = eng.cli("pull", f"{repo}:nosuch", timeout=60)
    assert p.returncode == 1 and "manifest unknown" in p.stderr


def test_run_of_an_absent_image_pulls_it(eng, plain):
    """`docker run REG/x:1` of an absent image: `Unable to find image … locally`, pulls, runs."""
    repo = seeded(eng, plain)
    p = eng.cli("run", "--rm", f"{repo}:1", "echo", "from-the-registry", timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"Unable to find image '{repo}:1' locally" in p.stderr
    assert p.stdout == "from-the-registry\n"


def test_platform_from_an_index(eng, plain, remove_after):
    """`docker pull --platform linux/arm64` of an OCI index picks the arm64 manifest; default is amd64."""
    name = eng.name("multi")
    source = seeded(eng, plain).split("/", 1)[1]
    plain.seed_multiarch(f"{name}:1", f"{source}:1")
    ref = f"{plain.addr}/{name}:1"
    assert eng.cli("pull", "--platform", "linux/arm64", ref, timeout=120).returncode == 0
    arm = eng.inspect(ref, "image")
    remove_after.append(arm["Id"])  # untagged once amd64 takes the tag
    assert arm["Architecture"] == "arm64"
    assert eng.cli("pull", ref, timeout=120).returncode == 0
    assert eng.inspect(ref, "image")["Architecture"] == "amd64"


def test_push_then_pull_back_gives_the_same_image(eng, plain):
    """`docker push` of a committed image, rmi, pull back: same image ID, same manifest digest."""
    repo = f"{plain.addr}/{eng.name('push')}"
    box = eng.name("box")
    assert eng.cli("run", "--name", box, "busybox", "sh", "-c", "echo pushed > /f").returncode == 0
    assert eng.cli("commit", box, f"{repo}:1").returncode == 0
    image_id = eng.inspect(f"{repo}:1", "image")["Id"]
    out = eng.out("push", f"{repo}:1", timeout=120)
    assert out.startswith(f"The push refers to repository [{repo}]")
    digest = next(line.split()[2] for line in out.splitlines() if line.startswith("1: digest: "))
    assert f"{repo}@{digest}" in eng.inspect(f"{repo}:1", "image")["RepoDigests"]
    assert eng.cli("rmi", f"{repo}:1").returncode == 0
    again = eng.out("pull", f"{repo}:1", timeout=120)
    assert f"Digest: {digest}" in again
    assert eng.inspect(f"{repo}:1", "image")["Id"] == image_id


def test_docker_py_push_stream_has_the_aux_digest(eng, client, plain):
    """docker-py `images.push(stream=True, decode=True)`: progress, then aux {Tag, Digest, Size}."""
    repo = f"{plain.addr}/{eng.name('py')}"
    client.images.get("busybox:latest").tag(repo, "7")
    msgs = list(client.images.push(repo, tag="7", stream=True, decode=True))
    assert msgs[0] == {"status": f"The push refers to repository [{repo}]"}
    assert not [m for m in msgs if "error" in m]
    aux = next(m["aux"] for m in msgs if "aux" in m)
    assert aux["Tag"] == "7" and aux["Digest"].startswith("sha256:") and aux["Size"] > 0
    line = next(m["status"] for m in msgs if m.get("status", "").startswith("7: digest: "))
    assert line == f"7: digest: {aux['Digest']} size: {aux['Size']}"
    img = client.images.pull(repo, tag="7")
    assert f"{repo}:7" in img.tags


def test_remote_descriptor(eng, plain):
    """GET /distribution/{name}/json: the manifest's descriptor and the image's platform."""
    repo = seeded(eng, plain)
    _, raw = plain.get_json(f"/v2/{repo.split('/', 1)[1]}/manifests/1")

    r = eng.http("GET", f"{V}/distribution/{repo}:1/json")
    assert r.status == 200, r
    doc = r.json()
    assert doc["Descriptor"]["digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert doc["Descriptor"]["size"] == len(raw)
    assert doc["Descriptor"]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {"architecture": "amd64", "os": "linux"} in [
        {k: p[k] for k in ("architecture", "os")} for p in doc["Platforms"]
    ]


def test_login_to_a_basic_auth_registry(eng, basic, docker_config):
    """`docker login` with htpasswd: a wrong password refused, the right one `Login Succeeded`, then pull."""
    bad = eng.cli("login", "-u", "alice", "--password-stdin", basic.addr, input="wrong", env=docker_config)
    assert bad.returncode == 1 and "401 Unauthorized" in bad.stderr
    good = eng.cli("login", "-u", "alice", "--password-stdin", basic.addr, input="s3cret", env=docker_config)
    assert good.returncode == 0 and "Login Succeeded" in good.stdout
    ref = f"{basic.addr}/shared/busybox:1"
    p = eng.cli("pull", ref, env=docker_config, timeout=120)
    assert p.returncode == 0, p.stderr
    eng.cli("rmi", ref)


def test_auth_endpoint_status(eng, basic):
    """POST /auth: 200 `Login Succeeded` for good credentials; a refusal for bad ones (dockerd 20.10
    answers 500, shim 401 as the issue asks: both name the registry's 401)."""
    r = eng.http("POST", f"{V}/auth", body={"username": "alice", "password": "s3cret", "serveraddress": basic.addr})
    assert r.status == 200 and r.json()["Status"] == "Login Succeeded"
    r = eng.http("POST", f"{V}/auth", body={"username": "alice", "password": "x", "serveraddress": basic.addr})
    assert r.status in (401, 500) and "401 Unauthorized" in r.message


def test_token_registry_anonymous_push_denied_then_login_push(eng, token, docker_config):
    """Token auth: anonymous pull works, anonymous push is denied in the stream; after login it pushes."""
    ref = f"{token.addr}/shared/busybox:1"
    assert eng.cli("pull", ref, env=docker_config, timeout=120).returncode == 0
    mine = f"{token.addr}/{eng.name('tok')}:1"
    assert eng.cli("tag", ref, mine).returncode == 0
    denied = eng.cli("push", mine, env=docker_config, timeout=120, input="")
    assert denied.returncode == 1 and "denied: requested access to the resource is denied" in denied.stderr
    login = eng.cli("login", "-u", "alice", "--password-stdin", token.addr, input="s3cret", env=docker_config)
    assert login.returncode == 0 and "Login Succeeded" in login.stdout
    pushed = eng.cli("push", mine, env=docker_config, timeout=120)
    assert pushed.returncode == 0 and "1: digest: sha256:" in pushed.stdout, pushed.stderr
    eng.cli("rmi", ref)


def test_pull_and_push_events(eng, plain):
    """Events: `pull` and `push` with the image reference as the actor and its repository as name."""
    repo = seeded(eng, plain)
    since = str(int(time.time()) - 1)
    eng.out("pull", f"{repo}:1", timeout=120)
    eng.out("push", f"{repo}:1", timeout=120)
    until = str(int(time.time()) + 1)
    out = eng.out("events", "--since", since, "--until", until, "--filter", "type=image", "--format", "{{json .}}")
    evs = [json.loads(line) for line in out.splitlines()]
    got = {(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name")) for e in evs}
    assert ("pull", f"{repo}:1", repo) in got
    assert ("push", f"{repo}:1", repo) in got
