"""`-H` parsing as dockerd's opts.ParseDaemonHost (moby daemon/pkg/opts/hosts.go and its tests)."""

import pytest

from shim.hosts import HostError, normalise_hosts, parse_daemon_host

DEFAULT = "unix:///run/shim/docker.sock"


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("tcp://", "tcp://localhost:2375"),  # no port: 2375, the plain-HTTP IANA port, even with TLS
        ("tcp://:8080", "tcp://localhost:8080"),
        ("tcp://127.0.0.1", "tcp://127.0.0.1:2375"),
        ("tcp://127.0.0.1:2376", "tcp://127.0.0.1:2376"),
        ("127.0.0.1:2376", "tcp://127.0.0.1:2376"),  # no proto: TCP
        ("tcp://[::1]:2376", "tcp://[::1]:2376"),
        ("tcp://0.0.0.0:", "tcp://0.0.0.0:2375"),
        ("unix://", DEFAULT),
        ("unix:///tmp/x.sock", "unix:///tmp/x.sock"),
        ("fd://", "fd://"),
        ("fd://*", "fd://*"),
        ("fd://3", "fd://3"),
    ],
)
def test_hosts_normalised_as_dockerd(given, want):
    assert parse_daemon_host(given, DEFAULT).url == want


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("http://127.0.0.1:2375", "invalid bind address (http://127.0.0.1:2375): unsupported proto 'http'"),
        ("tcp://127.0.0.1:0", "invalid bind address (tcp://127.0.0.1:0): invalid port: 0"),
        ("tcp://127.0.0.1:abc", "invalid port: abc"),
        ("tcp://127.0.0.1:2375/path", "should not contain a path element"),
        ("unix://unix://x", "invalid unix address: unix://x"),
        ("fd://three", "failed to parse systemd fd address: should be a number: three"),
    ],
)
def test_bad_hosts_are_refused_with_dockerds_words(given, message):
    with pytest.raises(HostError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_daemon_host(given, DEFAULT)


def test_duplicates_dropped_after_normalising():
    assert normalise_hosts(["tcp://", "tcp://localhost:2375", " unix:// "], DEFAULT) == [
        "tcp://localhost:2375",
        DEFAULT,
    ]


def test_tcp_host_port_split():
    assert parse_daemon_host("tcp://[::1]:2376", DEFAULT).tcp_host_port() == ("::1", 2376)
    assert parse_daemon_host("tcp://127.0.0.1:9", DEFAULT).tcp_host_port() == ("127.0.0.1", 9)
