"""A shared host (docs/RELIABILITY.md): what shimd made and someone else removed is made again at
its next use; what shimd did not make is never removed by it.

An administrator (or another daemon, a firewall reload) deletes shimd's bridges, flushes its
iptables chains and jumps, unmounts a container's network namespace pin: the next run, publish,
`container:` join or connect works (never a 500 `bridge … not found`), and running containers get
their connectivity back. A bridge that existed before shimd (named with --bridge) survives its
shutdown.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

from tests import hoststate
from tests.shimd_harness import Shimd

HTTPD = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(port: int, timeout: float = 15) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/passwd", timeout=2).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def flush_our_firewall(d: Shimd) -> None:
    """What `iptables -F; iptables -X` does to us (a firewall reload): jumps and chains gone."""
    from shim.runtime.iptables import chain_names, jumps

    for table, chain, rule in jumps(d.bridge):
        subprocess.run(["iptables", "-w", "-t", table, "-D", chain, *rule], capture_output=True)
    dnat, post, fwd = chain_names(d.bridge)
    for table, chain in (("nat", dnat), ("nat", post), ("filter", fwd)):
        subprocess.run(["iptables", "-w", "-t", table, "-F", chain], check=True, capture_output=True)
        subprocess.run(["iptables", "-w", "-t", table, "-X", chain], check=True, capture_output=True)


def test_vanished_bridges_chains_and_netns_pins_are_made_again_at_next_use():
    d = Shimd(direct=True)
    try:
        d.start()
        d.load_busybox()
        d.cli("network", "create", "sharednet")
        port, port2 = free_port(), free_port()
        d.cli("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", *HTTPD)
        d.cli("run", "-d", "--name", "onnet", "--network", "sharednet", "busybox", "sleep", "1000")
        assert b"root:x:0:0" in fetch(port)
        user_bridge = next(b for b in hoststate.our_bridges(d) if b != d.bridge)

        # Bridges deleted under the running containers: the next run recreates them, no 500.
        for br in (d.bridge, user_bridge):
            subprocess.run(["ip", "link", "del", br], check=True)
        r = d.cli("run", "--rm", "busybox", "echo", "bridge-ok", check=False)
        assert r.returncode == 0 and r.stdout == "bridge-ok\n", r.stderr
        r = d.cli(
            "run", "--rm", "--network", "sharednet", "busybox", "ping", "-c", "3", "-W", "5", "onnet", check=False
        )
        assert r.returncode == 0, r.stdout + r.stderr  # the running container's veth is back on its bridge
        assert b"root:x:0:0" in fetch(port)  # and the published port answers again

        # Our chains and jumps flushed: the next use (a run publishing a port) writes them again,
        # for every running container, not only the new one.
        flush_our_firewall(d)
        d.cli("run", "-d", "--name", "web2", "-p", f"127.0.0.1:{port2}:80", *HTTPD)
        assert b"root:x:0:0" in fetch(port2)
        assert b"root:x:0:0" in fetch(port)

        # A namespace pin unmounted and deleted: joining or connecting the container pins it again.
        cid = json.loads(d.cli("inspect", "web").stdout)[0]["Id"]
        pin = os.path.join(d.exec_root, "netns", cid)
        subprocess.run(["umount", pin], check=True)
        os.unlink(pin)
        r = d.cli("run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-", "127.0.0.1/passwd")
        assert "root:x:0:0" in r.stdout
        d.cli("network", "connect", "sharednet", "web")
        assert os.path.exists(pin)
        r = d.cli("run", "--rm", "--network", "sharednet", "busybox", "wget", "-qO-", "web/passwd", check=False)
        assert "root:x:0:0" in r.stdout, r.stderr

        d.cli("rm", "-f", "web", "web2", "onnet")
        d.cli("network", "rm", "sharednet")
        assert not hoststate.settle(d)
    finally:
        left = d.destroy()
    assert not left, left


def test_a_netns_pin_unmounted_while_shimd_is_down_is_made_again_at_its_start():
    """The restore checks every live container's pin (all in one pass) and pins a vanished one
    again from the container's process: its network is still live after the restart."""
    d = Shimd(direct=True)
    try:
        d.start()
        d.load_busybox()
        port = free_port()
        d.cli("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", *HTTPD)
        d.cli("run", "-d", "--name", "other", "busybox", "sleep", "1000")
        cid = json.loads(d.cli("inspect", "web").stdout)[0]["Id"]
        pin = os.path.join(d.exec_root, "netns", cid)
        d.stop()
        subprocess.run(["umount", pin], check=True)
        os.unlink(pin)
        d.start()
        assert os.path.ismount(pin)
        assert b"root:x:0:0" in fetch(port)
        r = d.cli("run", "--rm", "--network", "container:web", "busybox", "wget", "-qO-", "127.0.0.1/passwd")
        assert "root:x:0:0" in r.stdout
        assert json.loads(d.cli("inspect", "other").stdout)[0]["NetworkSettings"]["IPAddress"]
        d.cli("rm", "-f", "web", "other")
        assert not hoststate.settle(d)
    finally:
        left = d.destroy()
    assert not left, left


def test_a_bridge_shimd_did_not_make_survives_its_shutdown():
    d = Shimd(direct=True)
    bridge = "shtpre" + os.urandom(2).hex()
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", bridge, "alias", "an administrator's bridge"], check=True)
        d.bridge = bridge
        d.start()
        d.load_busybox()
        assert d.cli("run", "--rm", "busybox", "echo", "ok").stdout == "ok\n"
        d.stop()  # nothing runs: shimd removes its own bridges and rules at shutdown, never this one
        link = subprocess.run(["ip", "-o", "link", "show", bridge], capture_output=True, text=True).stdout
        assert bridge in link and "an administrator's bridge" in link
        d.start()  # and uses it again
        assert d.cli("run", "--rm", "busybox", "echo", "again").stdout == "again\n"
    finally:
        left = d.destroy()
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    assert not left, left
