"""Registries with the real docker CLI and docker-py against a real shimd: Debian's docker-registry
on 127.0.0.1 (plain, htpasswd, token auth with the test token server, TLS trusted through
/etc/docker/certs.d), seeded with skopeo from the busybox fixture."""

from __future__ import annotations

import base64
import json
import subprocess

import docker
import pytest

from tests.registry_harness import Registry, build_archive
from tests.shimd_harness import Shimd
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def plain():
    reg = Registry("plain").start()
    try:
        reg.seed("busybox:1")
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def fresh(shimd, unique):
    """Names this test pulls or pushes, removed from the daemon afterwards."""
    made: list[str] = []
    yield made
    for ref in made:
        shimd.cli("rmi", "-f", ref, check=False)


def _digest_of(shimd, ref: str) -> list[str]:
    return json.loads(shimd.cli("image", "inspect", ref).stdout)[0]["RepoDigests"]


def test_pull_draws_progress_and_records_the_digest(shimd, plain, unique, fresh, tmp_path):
    repo = f"{plain.addr}/{unique('pull')}"
    # busybox plus a layer no store has seen: it is downloaded, the busybox one "Already exists"
    plain.seed(f"{repo.split('/', 1)[1]}:1", build_archive(tmp_path / "img.tar", [600_000]))
    fresh.append(f"{repo}:1")
    out = shimd.cli("pull", f"{repo}:1").stdout
    lines = out.splitlines()
    assert lines[0] == f"1: Pulling from {repo.split('/', 1)[1]}"
    assert any(line.endswith(": Pull complete") for line in lines)
    assert any(line.endswith(": Download complete") for line in lines)
    assert any(line.endswith(": Already exists") for line in lines)
    digest = next(line.split()[1] for line in lines if line.startswith("Digest: "))
    assert f"Status: Downloaded newer image for {repo}:1" in lines
    assert _digest_of(shimd, f"{repo}:1") == [f"{repo}@{digest}"]
    listed = shimd.cli("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", repo).stdout
    assert listed.split() == [repo, "1", digest]
    again = shimd.cli("pull", f"{repo}:1").stdout
    assert f"Status: Image is up to date for {repo}:1" in again and "Pull complete" not in again
    # by digest: the same image, its digest reference
    by_digest = shimd.cli("pull", f"{repo}@{digest}").stdout
    assert f"Digest: {digest}" in by_digest
    assert shimd.cli("run", "--rm", f"{repo}@{digest}", "echo", "by-digest").stdout == "by-digest\n"


def test_run_of_an_absent_image_pulls_it(shimd, plain, unique, fresh):
    repo = f"{plain.addr}/{unique('run')}"
    plain.seed(f"{repo.split('/', 1)[1]}:1")
    fresh.append(f"{repo}:1")
    res = shimd.cli("run", "--rm", f"{repo}:1", "echo", "pulled-and-ran")
    assert f"Unable to find image '{repo}:1' locally" in res.stderr
    assert res.stdout == "pulled-and-ran\n"


def test_missing_image_is_a_clean_404(shimd, plain, unique):
    res = shimd.cli("pull", f"{plain.addr}/{unique('nosuch')}:latest", check=False)
    assert res.returncode == 1
    assert "not found: manifest unknown: manifest unknown" in res.stderr
    status, _, body = shimd.http("POST", f"/v1.41/images/create?fromImage={plain.addr}/nosuch&tag=latest")
    assert status == 404 and json.loads(body)["message"] == (
        f"manifest for {plain.addr}/nosuch:latest not found: manifest unknown: manifest unknown"
    )


def test_platform_is_chosen_from_an_index(shimd, plain, unique, fresh):
    name = unique("multi")
    plain.seed_multiarch(f"{name}:1", "busybox:1")
    ref = f"{plain.addr}/{name}:1"
    fresh.append(ref)
    shimd.cli("pull", "--platform", "linux/arm64", ref)
    assert json.loads(shimd.cli("image", "inspect", ref).stdout)[0]["Architecture"] == "arm64"
    shimd.cli("pull", ref)
    assert json.loads(shimd.cli("image", "inspect", ref).stdout)[0]["Architecture"] == "amd64"
    res = shimd.cli("pull", "--platform", "linux/s390x", ref, check=False)
    assert res.returncode == 1 and "no matching manifest for linux/s390x in the manifest list entries" in res.stderr
    status, _, body = shimd.http("GET", f"/v1.41/distribution/{ref}/json")
    doc = json.loads(body)
    assert status == 200 and doc["Descriptor"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert {(p["os"], p["architecture"]) for p in doc["Platforms"]} == {("linux", "amd64"), ("linux", "arm64")}


def test_push_of_a_commit_round_trips_with_the_same_digest(shimd, plain, unique, fresh):
    repo = f"{plain.addr}/{unique('push')}"
    box = unique("box")
    shimd.cli("run", "--name", box, "busybox", "sh", "-c", "echo pushed-content > /data.txt")
    try:
        shimd.cli("commit", box, f"{repo}:1")
    finally:
        shimd.cli("rm", "-f", box)
    fresh.append(f"{repo}:1")
    image_id = json.loads(shimd.cli("image", "inspect", f"{repo}:1").stdout)[0]["Id"]
    out = shimd.cli("push", f"{repo}:1").stdout
    assert out.startswith(f"The push refers to repository [{repo}]")
    assert "Pushed" in out and ("Mounted from" in out or "Layer already exists" in out or out.count("Pushed") == 2)
    line = next(line for line in out.splitlines() if line.startswith("1: digest: "))
    digest = line.split()[2]
    assert _digest_of(shimd, f"{repo}:1") == [f"{repo}@{digest}"]
    second = shimd.cli("push", f"{repo}:1").stdout
    assert "Layer already exists" in second and f"1: digest: {digest}" in second
    shimd.cli("rmi", f"{repo}:1")
    shimd.cli("pull", f"{repo}:1")
    assert json.loads(shimd.cli("image", "inspect", f"{repo}:1").stdout)[0]["Id"] == image_id
    assert _digest_of(shimd, f"{repo}:1") == [f"{repo}@{digest}"]
    assert shimd.cli("run", "--rm", f"{repo}:1", "cat", "/data.txt").stdout == "pushed-content\n"


def test_docker_py_pull_push_and_aux(shimd, plain, unique, fresh):
    client = shimd.client
    repo = f"{plain.addr}/{unique('py')}"
    img = client.images.pull(f"{plain.addr}/busybox", tag="1")
    assert f"{plain.addr}/busybox:1" in img.tags
    fresh.append(f"{plain.addr}/busybox:1")
    img.tag(repo, "2")
    fresh.append(f"{repo}:2")
    stream = list(client.images.push(repo, tag="2", stream=True, decode=True))
    aux = [m["aux"] for m in stream if "aux" in m]
    assert aux and aux[0]["Tag"] == "2" and aux[0]["Digest"].startswith("sha256:") and aux[0]["Size"] > 0
    assert not [m for m in stream if "error" in m]
    assert f"{repo}@{aux[0]['Digest']}" in client.images.get(f"{repo}:2").attrs["RepoDigests"]


def test_events_of_pull_and_push(shimd, plain, unique, fresh):
    import time

    since = str(int(time.time()) - 1)
    repo = f"{plain.addr}/{unique('ev')}"
    shimd.cli("pull", f"{plain.addr}/busybox:1")
    fresh.append(f"{plain.addr}/busybox:1")
    shimd.cli("tag", f"{plain.addr}/busybox:1", f"{repo}:1")
    fresh.append(f"{repo}:1")
    shimd.cli("push", f"{repo}:1")
    until = str(int(time.time()) + 1)
    out = shimd.cli("events", "--since", since, "--until", until, "--filter", "type=image", "--format", "{{json .}}")
    evs = [json.loads(line) for line in out.stdout.splitlines()]
    acts = {(e["Action"], e["Actor"]["ID"]) for e in evs}
    assert ("pull", f"{plain.addr}/busybox:1") in acts
    assert ("tag", next(e["Actor"]["ID"] for e in evs if e["Action"] == "tag")) in acts
    assert ("push", f"{repo}:1") in acts


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_login_then_pull_and_push(shimd, kind, unique, fresh, tmp_path):
    reg = Registry(kind).start()
    try:
        reg.seed("busybox:1")
        res = shimd.cli("login", "-u", "alice", "--password-stdin", reg.addr, input="wrong", check=False)
        refusal = {
            "basic": f"login attempt to http://{reg.addr}/v2/ failed with status: 401 Unauthorized",
            "token": f'Get "http://{reg.addr}/v2/": unauthorized: invalid username or password',
        }[kind]
        assert res.returncode == 1 and refusal in res.stderr
        if kind == "token":  # anonymous pulls are allowed by the token server, pushes are not
            shimd.cli("pull", f"{reg.addr}/busybox:1")
            fresh.append(f"{reg.addr}/busybox:1")
            shimd.cli("tag", f"{reg.addr}/busybox:1", f"{reg.addr}/anon:1")
            fresh.append(f"{reg.addr}/anon:1")
            denied = shimd.cli("push", f"{reg.addr}/anon:1", check=False, input="")
            assert denied.returncode == 1 and "denied: requested access to the resource is denied" in denied.stderr
        else:
            # raw HTTP: on a 401 the CLI (28) would prompt "Login prior to pull", as with dockerd 23+
            status, _, body = shimd.http("POST", f"/v1.41/images/create?fromImage={reg.addr}/busybox&tag=1")
            assert status == 401 and json.loads(body)["message"] == "unauthorized: authentication required"
        res = shimd.cli("login", "-u", "alice", "--password-stdin", reg.addr, input="s3cret")
        assert "Login Succeeded" in res.stdout
        shimd.cli("pull", f"{reg.addr}/busybox:1")
        fresh.append(f"{reg.addr}/busybox:1")
        target = f"{reg.addr}/{unique('mine')}:1"
        shimd.cli("tag", f"{reg.addr}/busybox:1", target)
        fresh.append(target)
        out = shimd.cli("push", target).stdout
        assert "1: digest: sha256:" in out
        shimd.cli("logout", reg.addr)
        # docker-py: login checks the password too
        client = docker.DockerClient(base_url=shimd.docker_host)
        assert client.login("alice", "s3cret", registry=reg.addr, reauth=True)["Status"] == "Login Succeeded"
        with pytest.raises(docker.errors.APIError):
            client.login("alice", "nope", registry=reg.addr, reauth=True)
    finally:
        reg.stop()


def test_tls_registry_trusted_through_certs_d(shimd, unique, fresh):
    # Every loopback address is an insecure registry (127.0.0.0/8 and ::1, as dockerd 28), and an
    # insecure registry is never verified: a secure one needs an address of its own on this
    # machine, here the test daemon's own bridge.
    reg = Registry("tls", host=shimd.bip.split("/")[0]).start()
    try:
        reg.trust()
        reg.seed("busybox:1")
        reg.untrust()
        ref = f"{reg.addr}/busybox:1"
        res = shimd.cli("pull", ref, check=False, input="")
        assert res.returncode == 1 and "certificate" in res.stderr
        reg.trust()
        shimd.cli("pull", ref)
        fresh.append(ref)
        assert shimd.cli("run", "--rm", ref, "echo", "tls").stdout == "tls\n"
    finally:
        reg.stop()
    assert not reg.certs_dir.exists()


def test_corrupt_blob_fails_the_pull_and_leaves_nothing(shimd, unique, tmp_path):
    name = unique("corrupt")
    box = Registry("plain").start()
    try:
        box.seed(f"{name}:1", build_archive(tmp_path / "img.tar", [300_000, 200_000]))
        doc, _ = box.get_json(f"/v2/{name}/manifests/1")
        box.corrupt_blob(doc["layers"][-1]["digest"])
        layers_before = _layer_dirs(shimd)
        res = shimd.cli("pull", f"{box.addr}/{name}:1", check=False)
        assert res.returncode == 1 and "filesystem layer verification failed" in res.stderr
        assert shimd.cli("images", "-q", f"{box.addr}/{name}").stdout == ""
        assert _layer_dirs(shimd) == layers_before
    finally:
        box.stop()


def _layer_dirs(shimd) -> set[str]:
    import os

    return set(os.listdir(os.path.join(shimd.data_root, "image", "layers")))


def test_hub_name_served_by_a_mirror():
    mirror = Registry("plain").start()
    d = Shimd()
    try:
        mirror.seed("library/hubonly:latest")
        d.start(["--registry-mirror", f"http://{mirror.addr}"])
        out = d.cli("pull", "hubonly").stdout
        assert (
            "latest: Pulling from library/hubonly" in out and "Status: Downloaded newer image for hubonly:latest" in out
        )
        info = d.client.info()
        assert info["RegistryConfig"]["Mirrors"] == [f"http://{mirror.addr}/"]
    finally:
        d.destroy()
        mirror.stop()


def test_search_where_the_registry_answers_and_where_not(shimd, plain):
    tok = Registry("token").start()
    try:
        assert tok.token_server is not None
        tok.token_server.search_results = [
            {"name": "team/app", "description": "an app", "star_count": 7, "is_official": False, "is_automated": False}
        ]
        # the token server doubles as a v1 search endpoint: ask it through its own address
        term = f"127.0.0.1:{tok.token_server.port}/app"
        status, _, body = shimd.http("GET", f"/v1.41/images/search?term={term}")
        assert status == 200 and json.loads(body)[0]["name"] == "team/app"
        out = shimd.cli("search", "--format", "{{.Name}} {{.StarCount}}", term).stdout
        assert out.split() == ["team/app", "7"]
    finally:
        tok.stop()
    status, _, body = shimd.http("GET", f"/v1.41/images/search?term={plain.addr}/busybox")
    assert status == 500 and "Unexpected status code 404" in json.loads(body)["message"]


def test_registry_auth_header_is_not_logged(shimd, plain):
    creds = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "very-secret-pw"}).encode()).decode()
    shimd.http("POST", f"/v1.41/images/create?fromImage={plain.addr}/busybox&tag=1", headers={"X-Registry-Auth": creds})
    assert "very-secret-pw" not in shimd.log_path.read_text()
    shimd.cli("rmi", f"{plain.addr}/busybox:1", check=False)


def test_skopeo_sees_what_shim_pushed(shimd, plain, unique, fresh):
    repo = f"{plain.addr}/{unique('sk')}"
    shimd.cli("tag", "busybox", f"{repo}:1")
    fresh.append(f"{repo}:1")
    shimd.cli("push", f"{repo}:1")
    res = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{repo}:1"], capture_output=True, text=True, check=True
    )
    assert json.loads(res.stdout)["Architecture"] == "amd64"


@pytest.mark.parametrize(
    "mode,error",
    [
        ("digest-mismatch", "manifest verification failed for digest"),
        ("endless-blob", "is larger than the"),
        ("huge-config", "is too large"),
        ("redirect-loop", "stopped after 10 redirects"),
        ("realm-elsewhere", "connection refused"),
        ("escape", "outside of"),
    ],
)
def test_a_hostile_registry_does_not_hurt_the_host(shimd, mode, error):
    from pathlib import Path

    from tests.registry_harness import HostileRegistry

    bad = HostileRegistry(mode)
    layers_before = _layer_dirs(shimd)
    try:
        ref = f"{bad.addr}/evil@{bad.manifest_digest}" if mode == "digest-mismatch" else f"{bad.addr}/evil:1"
        res = shimd.cli("pull", ref, check=False, input="")
        assert res.returncode == 1, res.stdout
        assert error in res.stderr, res.stderr
    finally:
        bad.stop()
    assert not Path("/tmp/shim-hostile-escape").exists() and not Path("/tmp/shim-hostile-symlink").exists()
    assert shimd.cli("images", "-q", f"{bad.addr}/evil").stdout == ""
    assert _layer_dirs(shimd) == layers_before
    import os

    assert os.listdir(os.path.join(shimd.data_root, "image", "tmp")) == []
    assert shimd.http("GET", "/_ping")[0] == 200


def test_a_layer_writing_through_a_symlink_stays_inside_its_root(shimd):
    """A symlink to /tmp and a file "through" it: the file lands in the layer's own /tmp (chroot
    semantics, as dockerd's), never on the host."""
    from pathlib import Path

    from tests.registry_harness import HostileRegistry

    bad = HostileRegistry("symlink-escape")
    try:
        shimd.cli("pull", f"{bad.addr}/evil:1", input="")
        assert not Path("/tmp/shim-hostile-symlink").exists()
    finally:
        shimd.cli("rmi", "-f", f"{bad.addr}/evil:1", check=False)
        bad.stop()


def test_a_pull_the_client_abandons_stops_and_leaves_nothing(shimd, tmp_path, unique):
    """Ctrl-C on docker pull: the daemon stops downloading, keeps no layer and no staging file."""
    import os
    import socket

    big = Registry("plain").start()
    name = unique("abandon")
    try:
        big.seed(f"{name}:1", build_archive(tmp_path / "big.tar", [40 << 20]))
        layers_before = _layer_dirs(shimd)
        s = socket.socket(socket.AF_UNIX)
        s.connect(shimd.socket)
        s.sendall(f"POST /v1.41/images/create?fromImage={big.addr}/{name}&tag=1 HTTP/1.1\r\nHost: d\r\n\r\n".encode())
        got = b""
        while b"Downloading" not in got:  # wait until the big layer is on its way
            got += s.recv(65536)
        s.close()
        tmp = os.path.join(shimd.data_root, "image", "tmp")
        wait_for(lambda: not os.listdir(tmp), f"the abandoned pull's files in {tmp} to go", timeout=30, interval=0.1)
        assert os.listdir(os.path.join(shimd.data_root, "image", "tmp")) == []
        assert _layer_dirs(shimd) == layers_before
        assert shimd.cli("images", "-q", f"{big.addr}/{name}").stdout == ""
    finally:
        big.stop()


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that records where it was asked to go."""

    def __init__(self) -> None:
        import socket
        import threading

        self.seen: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        import select
        import socket

        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            data += chunk
        method, target = data.split(b" ", 2)[:2]
        self.seen.append(f"{method.decode()} {target.decode()}")
        if method != b"CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        host, _, port = target.decode().rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {conn: upstream, upstream: conn}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 30)
                if not ready:
                    break
                for s in ready:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError
                    pair[s].sendall(chunk)
        except OSError:
            pass
        finally:
            conn.close()
            upstream.close()

    def stop(self) -> None:
        self._stop = True
        self.sock.close()


def test_https_proxy_from_the_environment_is_used(unique):
    """HTTPS_PROXY in shimd's environment: a (non-loopback) registry is reached through the proxy,
    TLS end to end (CONNECT), the CA from certs.d still verifying the registry."""
    proxy = _ConnectProxy()
    d = Shimd()
    reg = None
    try:
        d.start(env={"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": ""})
        reg = Registry("tls", host=d.bip.split("/")[0]).start()
        reg.trust()
        reg.seed("busybox:1")
        out = d.cli("pull", f"{reg.addr}/busybox:1").stdout
        assert f"Status: Downloaded newer image for {reg.addr}/busybox:1" in out
        assert f"CONNECT {reg.addr}" in proxy.seen
    finally:
        d.destroy()
        if reg is not None:
            reg.stop()
        proxy.stop()


def test_build_from_an_image_on_a_registry_pulls_it(shimd, plain, unique, fresh):
    """The classic builder's FROM of an absent image goes through the same pull."""
    repo = f"{plain.addr}/{unique('base')}"
    plain.seed(f"{repo.split('/', 1)[1]}:1")
    tag = unique("built")
    fresh += [f"{repo}:1", tag]
    import subprocess as sp

    env = dict(shimd.env(), DOCKER_BUILDKIT="0")
    res = sp.run(["docker", "build", "-q", "-t", tag, "-"], input=f"FROM {repo}:1\nRUN echo built > /b\n",
                 capture_output=True, text=True, env=env, timeout=180)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _digest_of(shimd, f"{repo}:1")  # the base came from the registry, with its digest
    assert shimd.cli("run", "--rm", tag, "cat", "/b").stdout == "built\n"
