"""shimd with its blocking-call guard on (SHIM_BLOCKING_GUARD=1, shim/blockguard.py): a container's
whole lifecycle through the docker CLI, and not one blocking call on the daemon's event loop.

The guard logs each blocking call reached through shim's code (with its stack) and lets it run,
so the daemon answers as it always does and this test lists every call at once."""

from __future__ import annotations

import re

from shim import blockguard
from tests.shimd_harness import Shimd

REFUSED = re.compile(re.escape(blockguard.MARK) + r": (?!the guard is on).*")


def _lifecycle(d: Shimd, tmp: str) -> None:
    d.cli("volume", "create", "bg-vol")
    d.cli("network", "create", "bg-net")
    d.cli("run", "-d", "--name", "bg", "--network", "bg-net", "-v", "bg-vol:/data", "-p", "127.0.0.1::80",
          "-e", "A=1", "busybox", "sh", "-c", "echo hello; echo x > /data/f; sleep 300")  # fmt: skip
    assert "bg" in d.cli("ps", "--format", "{{.Names}}").stdout
    assert d.cli("inspect", "-f", "{{.State.Running}}", "bg").stdout.strip() == "true"
    assert d.cli("exec", "bg", "cat", "/data/f").stdout.strip() == "x"
    d.cli("logs", "bg")
    d.cli("top", "bg")
    d.cli("stats", "--no-stream", "bg")
    d.cli("port", "bg")
    d.cli("cp", "bg:/etc/hostname", f"{tmp}/hostname")
    d.cli("cp", f"{tmp}/hostname", "bg:/tmp/copied")
    d.cli("diff", "bg")
    d.cli("pause", "bg")
    d.cli("unpause", "bg")
    d.cli("rename", "bg", "bg2")
    d.cli("update", "--cpu-shares", "512", "bg2")
    d.cli("stop", "-t", "1", "bg2")
    d.cli("start", "bg2")
    d.cli("restart", "-t", "1", "bg2")
    d.cli("kill", "bg2")
    d.cli("wait", "bg2")
    d.cli("commit", "bg2", "bg-image:1")
    d.cli("tag", "bg-image:1", "bg-image:2")
    d.cli("history", "bg-image:1")
    d.cli("images")
    d.cli("rm", "-f", "bg2")
    d.cli("run", "--rm", "busybox", "true")
    d.cli("rmi", "bg-image:1", "bg-image:2")
    d.cli("network", "rm", "bg-net")
    d.cli("volume", "rm", "bg-vol")
    d.cli("system", "df")
    d.cli("info")
    d.cli("events", "--since", "0", "--until", "1s")
    d.cli("container", "prune", "-f")
    d.cli("image", "prune", "-f")


def test_a_container_lifecycle_makes_no_blocking_call_on_the_loop(tmp_path):
    d = Shimd()
    try:
        d.start(env={blockguard.ENV: "1"})
        d.load_busybox()
        _lifecycle(d, str(tmp_path))
        log = d.log_path.read_text(errors="replace")
    finally:
        left = d.destroy()
    assert f"{blockguard.MARK}: the guard is on" in log  # the guard can't be silently off
    refused = sorted({m.group(0) for m in REFUSED.finditer(log)})
    assert not refused, "\n".join(refused)
    assert not left, left
