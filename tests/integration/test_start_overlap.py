"""A start wires the network beside `runc create` (issue 17): what a client sees is unchanged.

The namespace and the hosts files are made first (runc joins the one and bind-mounts the others);
the veth, address, route, DNS and firewall rules are made while runc creates the container, and
the container's process runs only once they are all in place. A failure of either side rolls
back both, as a failed start always did: no runc state, mount, veth, namespace, address, port or
rule is left, and the error is the one the client got before.

The daemon here finds `iptables-restore` and `runc` through wrappers on its PATH (the real
programs underneath): while a marker file exists, `iptables-restore` is slow (the wiring still
runs long after runc's create is done) or fails once for a given rule (the wiring fails while
runc creates); the
runc wrapper logs its commands (it shows the created container deleted) and can make `create`
slow (the wiring fails while it runs).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import hoststate
from tests.shimd_harness import Shimd

IPT_WRAPPER = """#!/bin/sh
if [ -e {slow} ]; then sleep 1.5; fi
if [ -e {fail} ]; then
  input=$(cat)
  if printf '%s' "$input" | grep -q -- "$(cat {fail})"; then
    rm -f {fail}; echo "iptables-restore: injected failure" >&2; exit 1
  fi
  printf '%s\\n' "$input" | exec {real} "$@"
fi
exec {real} "$@"
"""

RUNC_WRAPPER = """#!/bin/sh
echo "$*" >> {log}
case " $* " in *" create "*) if [ -e {slow} ]; then sleep 1.5; fi ;; esac
exec {real} "$@"
"""


class Rigged:
    def __init__(self, d: Shimd, marks: Path) -> None:
        self.d = d
        self.marks = marks
        self.runc_log = marks / "runc.log"

    def arm(self, *names: str, match: str = "") -> None:
        """`match`: fail-ipt fails the first transaction whose rules hold it (a rule of the test's own)."""
        for n in names:
            (self.marks / n).write_text(match)

    def disarm(self) -> None:
        for n in ("slow-ipt", "fail-ipt", "slow-create"):
            (self.marks / n).unlink(missing_ok=True)

    def runc_calls(self, cid: str) -> list[str]:
        """The runc commands run for container `cid`, in order (create, delete, …)."""
        lines = self.runc_log.read_text().splitlines() if self.runc_log.exists() else []
        return [_verb(ln) for ln in lines if cid in ln.split()]


def _verb(line: str) -> str:
    words = line.split()
    for w in ("create", "delete", "start", "state", "kill"):
        if w in words:
            return w
    return words[0]


@pytest.fixture(scope="module")
def rigged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rigged]:
    marks = tmp_path_factory.mktemp("rig")
    wrap = marks / "bin"
    wrap.mkdir()
    real_ipt = shutil.which("iptables-restore") or "/usr/sbin/iptables-restore"
    real_runc = shutil.which("runc") or "/usr/sbin/runc"
    (wrap / "iptables-restore").write_text(
        IPT_WRAPPER.format(slow=marks / "slow-ipt", fail=marks / "fail-ipt", real=real_ipt)
    )
    (wrap / "runc").write_text(RUNC_WRAPPER.format(log=marks / "runc.log", slow=marks / "slow-create", real=real_runc))
    for f in wrap.iterdir():
        f.chmod(0o755)
    d = Shimd(direct=True)
    try:
        d.start(env={"PATH": f"{wrap}:{os.environ['PATH']}"})
        d.load_busybox()
        yield Rigged(d, marks)
    finally:
        left = d.destroy()
    assert not left, "shimd left behind:\n" + "\n".join(left)


@pytest.fixture
def rig(rigged: Rigged) -> Iterator[Rigged]:
    rigged.disarm()
    try:
        yield rigged
    finally:
        rigged.disarm()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _gateway(d: Shimd) -> str:
    out = d.cli("network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}").stdout
    return out.strip()


def test_the_process_runs_once_its_address_route_and_published_port_are_in_place(rig, unique):
    """With the firewall's transaction (the wiring's first step) 1.5 s slow, runc's create is long
    done before the wiring is: the container's first command still finds eth0 with its address, the
    default route, and its own published port reachable through the host's DNAT rule."""
    d, port = rig.d, _free_port()
    gw = _gateway(d)
    script = (
        "ip -4 -o addr show eth0; ip route | grep ^default; "
        "(echo pong | nc -l -p 80 &); until netstat -ltn | grep -q ':80 '; do :; done; "
        f"echo ping | nc -w 2 {gw} {port}"
    )
    rig.arm("slow-ipt")
    r = d.cli("run", "--rm", "-p", f"{port}:80", "busybox", "sh", "-c", script, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert f"inet {gw.rsplit('.', 1)[0]}." in lines[0] and "eth0" in lines[0], r.stdout
    assert f"default via {gw} dev eth0" in lines[1], r.stdout
    assert "pong" in lines[2:], r.stdout  # through the host's DNAT rule, at once
    assert not hoststate.settle(d), hoststate.problems(d)


def test_a_wiring_failure_during_runc_create_rolls_back_both(rig, unique):
    """The firewall's transaction fails while runc creates the container (held 1.5 s): the client
    gets the firewall's error as before, the created runc container is deleted, and nothing of the
    start is left: no runc state, rootfs mount, namespace, veth, address lease, rule or intent."""
    d, name, port = rig.d, unique("ovfail"), _free_port()
    rig.arm("fail-ipt", "slow-create", match=f"--dport {port} ")
    r = d.cli("run", "--name", name, "-p", f"{port}:80", "busybox", "true", check=False)
    rig.disarm()
    assert r.returncode != 0
    assert "injected failure" in r.stderr, r.stderr
    info = json.loads(d.cli("inspect", name).stdout)[0]
    assert info["State"]["Status"] == "created" and "injected failure" in info["State"]["Error"], info["State"]
    assert info["State"]["ExitCode"] == 128
    cid = info["Id"]
    calls = rig.runc_calls(cid)
    assert calls[:1] == ["create"] and "delete" in calls, calls  # created beside the wiring, then deleted
    assert not hoststate.settle(d), hoststate.problems(d)
    # the address and the host port are free again: the same container starts as usual now
    r = d.cli("start", "-a", name, check=False)
    assert r.returncode == 0, r.stderr
    d.cli("rm", "-f", name)
    assert not hoststate.settle(d), hoststate.problems(d)


def test_a_runc_create_failure_while_the_wiring_runs_rolls_back_both(rig, unique):
    """runc's create fails (no such command) while the firewall's transaction is still running: the
    client gets runc's error and exit code as before, `--rm` removes the container, and the wiring,
    once done, is rolled back too: its port is free for the next container at once."""
    d, name, port = rig.d, unique("ovrunc"), _free_port()
    rig.arm("slow-ipt")
    r = d.cli("run", "--rm", "--name", name, "-p", f"{port}:80", "busybox", "/no/such/cmd", check=False)
    rig.disarm()
    assert r.returncode == 127, (r.returncode, r.stderr)
    assert "/no/such/cmd" in r.stderr and "no such file or directory" in r.stderr, r.stderr
    assert d.http("GET", f"/containers/{name}/json")[0] == 404
    assert not hoststate.settle(d), hoststate.problems(d)
    r = d.cli("run", "--rm", "-p", f"{port}:80", "busybox", "true", check=False)
    assert r.returncode == 0, r.stderr


def test_an_interface_sysctl_finds_its_interface_at_create(rig, unique):
    """A net.* sysctl is written by runc's create inside the namespace; one naming eth0 needs it
    there (dockerd's endpoints join before the task is created): such a start is wired first,
    even with the firewall's transaction slow."""
    d, port = rig.d, _free_port()
    rig.arm("slow-ipt")
    r = d.cli(
        "run", "--rm", "-p", f"{port}:80", "--sysctl", "net.ipv4.conf.eth0.rp_filter=2",
        "busybox", "cat", "/proc/sys/net/ipv4/conf/eth0/rp_filter", check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
