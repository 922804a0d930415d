"""Listener rules (TCP policy, socket group), TLS error wording, systemd's fd and notify protocols."""

import logging
import os
import socket
import ssl
import subprocess
import sys

import pytest

from shim import systemd
from shim.config import load
from shim.hosts import parse_daemon_host
from shim.listeners import StartupError, check_tcp_policy, socket_gid
from shim.tlsrelay import PLAIN_HTTP_ANSWER, TLSConfigError, describe_handshake_error, server_context

TCP = parse_daemon_host("tcp://127.0.0.1:2375", "unix:///x")


def _settings(tmp_path, *flags):
    f = tmp_path / "daemon.json"
    f.write_text("{}")
    return load(["--config-file", str(f), "-H", "tcp://127.0.0.1:2375", *flags])


def test_plain_tcp_refused_unless_explicit(tmp_path, caplog):
    with caplog.at_level(logging.WARNING), pytest.raises(StartupError, match="--tls=false"):
        check_tcp_policy(_settings(tmp_path), TCP)
    # dockerd's warning wording, naming the host
    assert "Binding to IP address without --tlsverify is insecure and gives root access" in caplog.text
    assert 'host="tcp://127.0.0.1:2375"' in caplog.text


@pytest.mark.parametrize("flag", ["--tls=false", "--tlsverify=false"])
def test_explicit_intent_accepts_the_risk_with_the_warnings(tmp_path, caplog, flag):
    with caplog.at_level(logging.WARNING):
        check_tcp_policy(_settings(tmp_path, flag), TCP)
    assert "even on localhost, can also give access to scripts run in a browser" in caplog.text


def test_verified_tls_needs_no_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        check_tcp_policy(_settings(tmp_path, "--tlsverify"), TCP)
    assert caplog.text == ""


def test_socket_group_lookup_as_moby():
    assert socket_gid("root", "/s") == 0
    assert socket_gid("4242", "/s") == 4242  # a numeric gid is taken as is
    assert socket_gid("", "/s") == os.getgid()
    with pytest.raises(StartupError, match="group no-such-group-x not found"):
        socket_gid("no-such-group-x", "/s")


def test_missing_default_group_falls_back_to_ours(monkeypatch, caplog):
    import grp

    def missing(name):
        raise KeyError(name)

    monkeypatch.setattr(grp, "getgrnam", missing)
    with caplog.at_level(logging.WARNING):
        assert socket_gid("docker", "/s") == os.getgid()
    assert "could not change group /s to docker" in caplog.text


def test_tls_context_errors_name_the_file(tmp_path):
    with pytest.raises(TLSConfigError, match=r'could not load X509 key pair \(cert: ".*/nope.pem"'):
        server_context(str(tmp_path / "ca.pem"), str(tmp_path / "nope.pem"), str(tmp_path / "k.pem"), verify=True)


def test_handshake_errors_described_for_an_operator():
    expired = ssl.SSLCertVerificationError(1, "certificate verify failed")
    expired.verify_code, expired.verify_message = 10, "certificate has expired"
    assert describe_handshake_error(expired) == "client certificate refused: certificate has expired"
    foreign = ssl.SSLCertVerificationError(1, "certificate verify failed")
    foreign.verify_code, foreign.verify_message = 20, "unable to get local issuer certificate"
    assert "certificate signed by unknown authority" in describe_handshake_error(foreign)
    none = ssl.SSLError(1, "peer did not return a certificate")
    none.reason = "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert describe_handshake_error(none).startswith("client sent no certificate")
    assert describe_handshake_error(TimeoutError()) == "handshake not completed within 60s"
    assert describe_handshake_error(EOFError()) == "EOF"
    assert PLAIN_HTTP_ANSWER.endswith(b"Client sent an HTTP request to an HTTPS server.\n")


# --- systemd ------------------------------------------------------------------------------------


def test_listen_fds_ignores_another_processes_fds_and_clears_the_env():
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert systemd.listen_fds(env) == [] and env == {}
    assert systemd.listen_fds({}) == []


_CHILD = """
import os
from shim import systemd
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="2")
got = systemd.listen_fds()
print([None if s is None else s.fileno() for s in got], "LISTEN_FDS" in os.environ)
print([s.fileno() for s in systemd.select(got, "")])
for spec in ("4", "9"):
    try:
        systemd.select(got, spec)
    except systemd.ActivationError as e:
        print(e)
print([s.fileno() for s in systemd.select(got, "3")])
"""


def test_listen_fds_takes_listening_stream_sockets_from_fd_3():
    """As systemd starts us: a listening socket at fd 3, a datagram socket (not a listener) at fd 4."""
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind("\0shim-test-" + os.urandom(4).hex())
    lst.listen(1)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fds = (lst.fileno(), dgram.fileno())

    def at_3_and_4():
        os.dup2(fds[0], 3)
        os.dup2(fds[1], 4)

    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], preexec_fn=at_3_and_4, close_fds=False,
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.splitlines()  # fmt: skip
    finally:
        lst.close()
        dgram.close()
    assert out == [
        "[3, None] False",
        "[3]",
        "failed to listen on systemd activated file: fd 4",
        "too few socket activated files passed in by systemd",
        "[3]",
    ]


def test_select_without_sockets_says_so():
    with pytest.raises(systemd.ActivationError, match="make sure the service was started by systemd"):
        systemd.select([], "")


def test_notify_sends_one_datagram(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as rx:
        rx.bind(path)
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path})
        assert rx.recv(100) == b"READY=1"
    assert not systemd.notify("READY=1", {})
    assert systemd.reloading_state().startswith("RELOADING=1\nMONOTONIC_USEC=")
