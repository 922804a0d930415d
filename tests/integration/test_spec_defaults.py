"""Integration: what dockerd's spec defaults let a container's process do, against a real shimd.

moby daemon/oci_linux.go (20.10 and later): a container with a network namespace of its own gets
`net.ipv4.ip_unprivileged_port_start=0` (a non-root user binds port 80) and
`net.ipv4.ping_group_range=0 2147483647` (ping without CAP_NET_RAW, over an ICMP datagram
socket); `--sysctl` wins; the host's namespace and a joined one are left alone. And
`process.oomScoreAdj` is always set, so a container does not inherit the daemon's own score.
"""

from __future__ import annotations

import struct

import pytest

from compat.lib import LISTEN_ONCE
from tests.shimd_harness import Shimd

NOBODY = ("-u", "65534")
PING_RANGE = "/proc/sys/net/ipv4/ping_group_range"
PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


def _icmp_socket_elf() -> bytes:
    """A static x86_64 ELF that opens socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) (what ping uses
    without CAP_NET_RAW; busybox's ping has no such fallback) and exits with the low byte of the
    result: 3 (the fd) when allowed, 243 (-EACCES) when the gid is outside ping_group_range."""
    code = b"\xb8" + struct.pack("<I", 41)  # mov eax, 41 (socket)
    code += b"\xbf\x02\x00\x00\x00\xbe\x02\x00\x00\x00\xba\x01\x00\x00\x00"  # edi=2, esi=2, edx=1
    code += b"\x0f\x05\x89\xc7\xb8\x3c\x00\x00\x00\x0f\x05"  # syscall; mov edi, eax; exit
    base, head = 0x400000, 64 + 56
    size = head + len(code)
    ehdr = struct.pack(
        "<4s5B7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, 0x3E, 1, base + head, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    return ehdr + struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000) + code


ICMP_SOCKET_FD, EACCES_LOW_BYTE = 3, 256 - 13


@pytest.fixture(scope="module")
def icmp_probe(tmp_path_factory):
    d = tmp_path_factory.mktemp("icmp")
    (d / "icmp").write_bytes(_icmp_socket_elf())
    (d / "icmp").chmod(0o755)
    return d


def icmp_socket(shimd, probe, *opts: str) -> int:
    """The exit of the probe run by a non-root user: the answer to its socket() call."""
    return run(shimd, "-v", f"{probe}:/p:ro", *opts, *NOBODY, "busybox", "/p/icmp").returncode


def run(shimd, *args: str):
    return shimd.cli("run", "--rm", *args, check=False)


def listen(shimd, port: int, *opts: str):
    return run(shimd, *opts, *NOBODY, "busybox", "sh", "-c", LISTEN_ONCE, "sh", str(port))


def read(shimd, *opts: str) -> list[str]:
    p = run(shimd, *opts, "busybox", "cat", PING_RANGE, PORT_START)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def host_values() -> list[str]:
    with open(PING_RANGE) as a, open(PORT_START) as b:
        return [a.read().rstrip("\n"), b.read().rstrip("\n")]


def test_a_non_root_user_binds_port_80_and_opens_ping_sockets_in_a_default_container(shimd, icmp_probe):
    assert read(shimd) == ["0\t2147483647", "0"]
    p = listen(shimd, 80)
    assert (p.returncode, p.stdout.splitlines()) == (0, ["client got: bound", "server exited 0"]), p.stderr
    assert icmp_socket(shimd, icmp_probe) == ICMP_SOCKET_FD


def test_the_same_in_a_user_network_and_with_network_none(shimd, unique):
    net = unique("net")
    shimd.cli("network", "create", net)
    try:
        assert read(shimd, "--network", net) == ["0\t2147483647", "0"]
        assert read(shimd, "--network", "none") == ["0\t2147483647", "0"]
        p = listen(shimd, 80, "--network", "none")
        assert p.stdout.splitlines() == ["client got: bound", "server exited 0"], p.stderr
    finally:
        shimd.cli("network", "rm", net, check=False)


def test_the_users_sysctl_wins(shimd, icmp_probe):
    opts = ("--sysctl", "net.ipv4.ip_unprivileged_port_start=1000", "--sysctl", "net.ipv4.ping_group_range=1 0")
    assert read(shimd, *opts) == ["1\t0", "1000"]
    p = listen(shimd, 80, *opts)
    assert (p.returncode, p.stdout.splitlines()) == (3, ["server exited 1"]), p.stdout
    assert "bind: Permission denied" in p.stderr
    p = listen(shimd, 1000, *opts)  # the same user, the same script: the bind alone was refused
    assert (p.returncode, p.stdout.splitlines()) == (0, ["client got: bound", "server exited 0"]), p.stderr
    assert icmp_socket(shimd, icmp_probe, *opts) == EACCES_LOW_BYTE


def test_the_hosts_network_namespace_is_left_alone(shimd):
    host = host_values()
    if host == ["0\t2147483647", "0"]:
        pytest.skip("this host already has dockerd's values: a host container could not tell")
    assert read(shimd, "--network", "host") == host
    assert host_values() == host


def test_a_joined_network_namespace_keeps_its_own_values(shimd, unique):
    name = unique("owner")
    shimd.cli(
        "run", "-d", "--name", name, "--sysctl", "net.ipv4.ip_unprivileged_port_start=1000", "busybox", "sleep", "300"
    )
    try:
        assert read(shimd, "--network", f"container:{name}") == ["0\t2147483647", "1000"]
    finally:
        shimd.cli("rm", "-f", name, check=False)


def test_oom_score_adj_is_not_inherited_from_the_daemon():
    """A shimd started with a score of its own (a unit's OOMScoreAdjust=): containers get 0, or
    --oom-score-adj; an exec gets the container's."""
    d = Shimd()
    try:
        d.start(wrap=["choom", "-n", "300", "--"])
        d.load_busybox()
        assert d.proc is not None
        with open(f"/proc/{d.proc.pid}/oom_score_adj") as f:
            assert f.read().strip() == "300"  # the daemon's own: what a container used to inherit
        assert d.cli("run", "--rm", "busybox", "cat", "/proc/1/oom_score_adj").stdout == "0\n"
        cmd = ("busybox", "cat", "/proc/1/oom_score_adj")
        assert d.cli("run", "--rm", "--oom-score-adj=200", *cmd).stdout == "200\n"
        d.cli("run", "-d", "--name", "sleeper", "busybox", "sleep", "300")
        assert d.cli("exec", "sleeper", "cat", "/proc/self/oom_score_adj").stdout == "0\n"
    finally:
        left = d.destroy()
    assert not left, "shimd left behind:\n" + "\n".join(left)
