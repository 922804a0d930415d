"""The operator surface against real shimd processes: TCP with mutual TLS (docker CLI, docker-py), refused
clients, stalled handshakes, hijacked streams over TLS, metrics, plain TCP policy, the socket group,
systemd socket activation, SIGHUP reload, --version."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.shimd_harness import DOCKER, SHIMD, Shimd
from tests.tlscerts import make_certs
from tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TLSDaemon:
    def __init__(self, base: Path) -> None:
        self.certs = make_certs(base / "certs")
        self.port = free_port()
        self.metrics_port = free_port()
        self.d = Shimd()
        self.url = f"tcp://127.0.0.1:{self.port}"

    def start(self) -> None:
        c = self.certs
        self.d.start(
            [
                "-H", self.url, "--tlsverify", "--tlscacert", str(c["ca"]), "--tlscert", str(c["server"]),
                "--tlskey", str(c["server-key"]), "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
            ]
        )  # fmt: skip
        self.d.load_busybox()

    def env(self, who: str | None = "client", verify: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=self.url, DOCKER_CONFIG=str(self.d.base / "docker-config"))
        if verify:
            env["DOCKER_TLS_VERIFY"] = "1"
        if who is not None:
            env["DOCKER_CERT_PATH"] = str(self.certs[who])
        return env

    def cli(self, *args: str, who: str | None = "client", verify: bool = True, input: str | None = None):
        return subprocess.run(
            [DOCKER, *args], env=self.env(who, verify), input=input, capture_output=True, text=True, timeout=120
        )

    def log(self) -> str:
        return self.d.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30) as r:
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            return r.read().decode()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    t = TLSDaemon(tmp_path_factory.mktemp("tls"))
    try:
        t.start()
        yield t
    finally:
        left = t.d.destroy()
    assert not left, "shimd left behind:\n" + "\n".join(left)


# --- mutual TLS ---------------------------------------------------------------------------------


def test_docker_cli_over_mutual_tls(tls, unique):
    res = tls.cli("version", "--format", "{{.Server.Os}}")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "linux"
    res = tls.cli("run", "--rm", "--name", unique("tls"), "busybox", "echo", "over-tls")
    assert res.returncode == 0 and res.stdout == "over-tls\n", res.stderr


def test_docker_py_tlsconfig(tls, monkeypatch):
    import docker
    from docker.tls import TLSConfig

    # requests lets these override the session's CA (its trust_env quirk); a docker-py user unsets them
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    c = tls.certs["client"]
    tls_config = TLSConfig(
        client_cert=(str(c / "cert.pem"), str(c / "key.pem")), ca_cert=str(c / "ca.pem"), verify=True
    )
    client = docker.DockerClient(base_url=f"https://127.0.0.1:{tls.port}", tls=tls_config, timeout=60)
    try:
        assert client.ping() is True
        assert client.containers.run("busybox", ["echo", "py-tls"], remove=True) == b"py-tls\n"
    finally:
        client.close()


@pytest.mark.parametrize(
    ("who", "client_sees", "daemon_logs"),
    [
        ("expired", "tls: expired certificate", "client certificate refused: certificate has expired"),
        ("foreign", "tls: unknown certificate authority", "certificate signed by unknown authority"),
    ],
)
def test_bad_client_certificates_refused_and_named(tls, who, client_sees, daemon_logs):
    res = tls.cli("version", "--format", "{{.Server.Version}}", who=who)
    assert res.returncode != 0 and client_sees in res.stderr
    wait_for(lambda: daemon_logs in tls.log(), f"the daemon log to name the {who} certificate")
    assert "http: TLS handshake error from 127.0.0.1:" in tls.log()
    assert tls.cli("version", "--format", "{{.Server.Os}}").stdout.strip() == "linux"  # still serving


def test_client_without_certificate_refused(tls):
    ctx = ssl.create_default_context(cafile=str(tls.certs["ca"]))  # trusts the server, has no certificate
    with socket.create_connection(("127.0.0.1", tls.port), timeout=30) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = s.recv(100)  # TLS 1.3: the refusal arrives after the client's Finished
        except (ssl.SSLError, ConnectionError) as e:
            answer = str(e).encode()
    assert not answer.startswith(b"HTTP/")
    wait_for(lambda: "client sent no certificate" in tls.log(), "the daemon log to say no certificate was sent")


def test_plain_http_on_the_tls_port_refused(tls):
    res = tls.cli("version", who=None, verify=False)
    assert res.returncode != 0 and "Client sent an HTTP request to an HTTPS server." in res.stderr


def test_stalled_handshakes_do_not_stop_others(tls):
    silent = socket.create_connection(("127.0.0.1", tls.port), timeout=30)  # connects, sends nothing
    partial = socket.create_connection(("127.0.0.1", tls.port), timeout=30)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello, then nothing
    try:
        for _ in range(3):
            res = tls.cli("version", "--format", "{{.Server.Os}}")
            assert res.returncode == 0 and res.stdout.strip() == "linux", res.stderr
    finally:
        silent.close()
        partial.close()


def test_hijacked_streams_over_tls(tls, unique):
    # stdin ends (the CLI half-closes the TLS connection) while the container still has output to send
    res = tls.cli("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after-eof", input="piped\n")
    assert res.returncode == 0 and res.stdout == "piped\nafter-eof\n", res.stderr
    name = unique("tls-exec")
    assert tls.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        # -it needs a terminal: script(1) gives the CLI one
        cmd = f"{DOCKER} exec -it {name} sh"
        res = subprocess.run(
            ["script", "-q", "-e", "-c", cmd, "/dev/null"],
            env=tls.env(), input="tty; echo typed-$((6*7)); exit 3\n", capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert "/dev/pts/" in res.stdout and "typed-42" in res.stdout, res.stdout + res.stderr
        assert res.returncode == 3
    finally:
        tls.cli("rm", "-f", name)


def test_metrics_endpoint(tls, unique):
    name = unique("metrics")
    assert tls.cli("run", "-d", "--name", name, "busybox", "sleep", "300").returncode == 0
    try:
        text = tls.metrics()
        assert 'engine_daemon_container_states_containers{state="running"} 1.0' in text
        assert "engine_daemon_engine_info{" in text and "engine_daemon_events_total" in text
        counts = [
            line for line in text.splitlines() if line.startswith("engine_daemon_container_actions_seconds_count")
        ]
        assert any('action="start"' in line and not line.endswith(" 0.0") for line in counts), counts
        assert 'shim_http_requests_total{code="204",method="POST",route="/containers/{id}/start"}' in text
        assert "shim_images 1.0" in text
    finally:
        tls.cli("rm", "-f", name)
    text = tls.metrics()
    assert 'engine_daemon_container_states_containers{state="running"} 0.0' in text


def test_info_has_no_api_warning_with_mutual_tls(tls):
    info = tls.d.client.info()
    assert not info["Warnings"]


# --- plain TCP policy ---------------------------------------------------------------------------


def test_plain_tcp_refused_unless_explicit_then_warned():
    port = free_port()
    d = Shimd()
    try:
        with pytest.raises(RuntimeError, match=re.escape(f"refusing to listen on tcp://127.0.0.1:{port}")):
            d.start(["-H", f"tcp://127.0.0.1:{port}"])
        assert "Binding to IP address without --tlsverify is insecure" in d.log_path.read_text()
        d.start(["-H", f"tcp://127.0.0.1:{port}", "--tls=false"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=f"tcp://127.0.0.1:{port}", DOCKER_CONFIG=str(d.base / "docker-config"))
        res = subprocess.run([DOCKER, "info"], env=env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert f"WARNING: API is accessible on http://127.0.0.1:{port} without encryption." in res.stdout + res.stderr
    finally:
        d.destroy()


# --- the unix socket's group and mode -----------------------------------------------------------


def test_default_socket_group_and_mode(shimd):
    import grp

    st = os.stat(shimd.socket)
    try:
        want = grp.getgrnam("docker").gr_gid  # dockerd's default group when it exists…
    except KeyError:
        want = 0  # …root's otherwise
    assert (st.st_mode & 0o777, st.st_gid, st.st_uid) == (0o660, want, 0)


@pytest.fixture
def temp_group():
    name = "shgrp" + os.urandom(3).hex()
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        import grp

        yield name, grp.getgrnam(name).gr_gid
    finally:
        subprocess.run(["groupdel", name], capture_output=True)


def test_socket_group_flag_lets_its_members_in(temp_group):
    name, gid = temp_group
    d = Shimd()
    try:
        os.chmod(d.base, 0o711)  # the socket's directory must be traversable for a non-root user
        d.start(["-G", name])
        st = os.stat(d.socket)
        assert (st.st_mode & 0o777, st.st_gid) == (0o660, gid)

        def as_nobody(*groups: int):
            # the daemon's own socket, not the response-check proxy in front of docker_host
            setpriv = ["setpriv", "--reuid=65534", "--regid=65534"]
            setpriv += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
            return subprocess.run(
                [*setpriv, DOCKER, "version", "--format", "{{.Server.Os}}"],
                env={"PATH": os.environ["PATH"], "HOME": "/tmp", "DOCKER_HOST": f"unix://{d.socket}"},
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip

        member = as_nobody(gid)
        assert member.returncode == 0 and member.stdout.strip() == "linux", member.stderr
        stranger = as_nobody()
        assert stranger.returncode != 0 and "permission denied" in stranger.stderr
    finally:
        d.destroy()


def test_unknown_socket_group_refused():
    d = Shimd()
    try:
        with pytest.raises(RuntimeError, match="group no-such-group-shim not found"):
            d.start(["-G", "no-such-group-shim"])
    finally:
        d.destroy()


# --- systemd socket activation ------------------------------------------------------------------


def test_fd_socket_activation_with_systemd_socket_activate():
    d = Shimd()
    try:
        # systemd's own tool: binds the socket, starts shimd with LISTEN_FDS=1/LISTEN_PID at the first connection
        d.start(listen=["-H", "fd://"], wrap=["systemd-socket-activate", "-l", d.socket])
        assert d.cli("version", "--format", "{{.Server.Os}}").stdout.strip() == "linux"
        assert "API listen on fd://3" in d.log_path.read_text()
        d.stop()
    finally:
        d.destroy()


# --- SIGHUP reload ------------------------------------------------------------------------------


def test_sighup_reloads_daemon_json(unique):
    d = Shimd()
    try:
        (d.base).mkdir(parents=True, exist_ok=True)
        (d.base / "daemon.json").write_text(json.dumps({"labels": ["stage=one"], "max-concurrent-downloads": 4}))
        d.start()
        info = d.client.info()
        assert info["Labels"] == ["stage=one"] and info["Debug"] is False
        since = str(int(time.time()) - 1)
        new = {
            "labels": ["stage=two", "team=ops"],
            "debug": True,
            "registry-mirrors": ["https://mirror.example"],
            "insecure-registries": ["reg.local:5000", "10.7.0.0/16"],
        }
        (d.base / "daemon.json").write_text(json.dumps(new))
        d.proc.send_signal(signal.SIGHUP)
        info = wait_for(lambda: (i := d.client.info())["Labels"] == new["labels"] and i, "the reloaded labels")
        assert info["Debug"] is True
        reg = info["RegistryConfig"]
        assert reg["Mirrors"] == ["https://mirror.example/"] and "10.7.0.0/16" in reg["InsecureRegistryCIDRs"]
        assert reg["IndexConfigs"]["reg.local:5000"]["Secure"] is False
        out = d.cli("info").stdout
        assert "Debug Mode: true" in out and "stage=two" in out and "https://mirror.example/" in out
        fmt = '{{.Action}} {{index .Actor.Attributes "max-concurrent-downloads"}} {{.Actor.Attributes.labels}}'
        until = str(int(time.time()) + 1)
        res = d.cli("events", "--since", since, "--until", until, "--filter", "type=daemon", "--format", fmt)
        ev = res.stdout.splitlines()
        # max-concurrent-downloads is not in the new file: back to dockerd's default, as reload.go does
        assert ev == ['reload 3 ["stage=two","team=ops"]'], ev

        # a broken file: the reload is refused, logged, the running values stay and the daemon serves
        (d.base / "daemon.json").write_text('{"labels": ["nolabel"]}')
        d.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: "Error reloading configuration: bad attribute format: nolabel" in d.log_path.read_text(), "log"
        )
        assert d.client.info()["Labels"] == new["labels"]
    finally:
        d.destroy()


def test_version_flag():
    res = subprocess.run([str(SHIMD), "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("shimd version ") and ", API 1." in res.stdout
