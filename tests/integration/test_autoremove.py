"""`docker run --rm`: the container is removed as its exit is applied, its runtime released after.

What a client sees right after `docker run --rm` returns is dockerd's after its removal: not
listed, inspect 404, its name, network alias and published port free for the next container, its
anonymous volumes gone and its named ones removable, `die` then `destroy`, both wait conditions
answered with the exit code. The runtime's release (runc delete, the rootfs unmount, the monitor,
the files) runs in a background task: a daemon whose runc hangs in `delete` still answers, its
stop waits for the release, and a SIGKILL during it is repaired at the next start
(docs/RELIABILITY.md "Container exit with AutoRemove").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from tests import hoststate
from tests.shimd_harness import Shimd, UnixHTTPConnection
from tests.waiting import wait_for

# runc as shimd finds it on its PATH: `delete` hangs while ARM exists (writing its PID to REACHED
# first), everything else is the real runc.
RUNC_WRAPPER = """#!/bin/sh
for a in "$@"; do
  if [ "$a" = delete ] && [ -e {arm} ]; then echo $$ > {reached}.tmp; mv {reached}.tmp {reached}; exec sleep 600; fi
done
exec {runc} "$@"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _events(d: Shimd, since: float, name: str) -> list[str]:
    out = d.cli(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--filter", f"container={name}",
        "--format", "{{.Type}} {{.Action}}",
    ).stdout  # fmt: skip
    return [line.split()[1] for line in out.splitlines() if line.startswith("container ")]


def test_run_rm_frees_everything_a_client_can_see_at_once(shimd, unique):
    name, net, named, alias = unique("rm"), unique("rmnet"), unique("rmvol"), unique("alias")
    port = _free_port()
    shimd.cli("network", "create", net)
    try:
        vols_before = set(shimd.cli("volume", "ls", "-q").stdout.split())
        since = time.time() - 1
        args = ["--name", name, "--network", net, "--network-alias", alias, "-p", f"{port}:80"]
        vols = ["-v", "/anon", "-v", f"{named}:/named"]
        r = shimd.cli("run", "--rm", *args, *vols, "busybox", "sh", "-c", "exit 3", check=False)
        assert r.returncode == 3, r.stderr
        assert name not in shimd.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
        st, _, _ = shimd.http("GET", f"/containers/{name}/json")
        assert st == 404
        assert set(shimd.cli("volume", "ls", "-q").stdout.split()) == vols_before | {named}  # the anonymous one went
        shimd.cli("volume", "rm", named)  # no longer in use
        assert _events(shimd, since, name)[-2:] == ["die", "destroy"]
        # the same name, alias and host port for the next container, at once; the alias resolves to it alone
        probe = "nslookup {a} 127.0.0.11 | awk '/^Address: /{{print $2}}'; ip -4 -o addr show eth0"
        r = shimd.cli("run", "--rm", *args, "busybox", "sh", "-c", probe.format(a=alias))
        lines = r.stdout.split("\n")
        own = next(line for line in lines if "inet " in line).split("inet ")[1].split("/")[0]
        resolved = [line.strip() for line in lines if line.strip() and "inet " not in line]
        assert resolved == [own], r.stdout
    finally:
        shimd.cli("rm", "-f", name, check=False)
        shimd.cli("volume", "rm", "-f", named, check=False)
        shimd.cli("network", "rm", net, check=False)


def test_both_wait_conditions_answer_the_exit_code(shimd, unique):
    """The CLI's order: the wait asked before the start (its headers come once it is registered)."""
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "exit 7"], "HostConfig": {"AutoRemove": True}}
    st, _, out = shimd.http("POST", f"/v1.41/containers/create?name={unique('rmwait')}", body)
    assert st == 201, out
    cid = json.loads(out)["Id"]
    waits = []
    try:
        for cond in ("next-exit", "removed"):
            conn = UnixHTTPConnection(shimd.api_socket, timeout=60)
            conn.request("POST", f"/v1.41/containers/{cid}/wait?condition={cond}")
            waits.append((cond, conn, conn.getresponse()))  # headers: registered
        assert shimd.http("POST", f"/v1.41/containers/{cid}/start")[0] == 204
        for cond, _, resp in waits:
            assert resp.status == 200 and json.loads(resp.read())["StatusCode"] == 7, cond
    finally:
        for _, conn, _ in waits:
            conn.close()
    assert shimd.http("GET", f"/containers/{cid}/json")[0] == 404


# ------------------------------------------------------------------ the runtime's release, hung


@dataclasses.dataclass
class _Armed:
    d: Shimd
    env: dict[str, str]
    arm: Path  # while it exists, runc's `delete` hangs
    reached: Path  # written by the hung `delete`: the pid to kill
    sleeper: int = 0


@contextlib.contextmanager
def _armed_daemon(tmp_path: Path) -> Iterator[_Armed]:
    """A private shimd whose runc hangs in `delete` while `arm` exists; at the end the hung delete
    is killed and the daemon destroyed, and nothing may be left behind."""
    wrap, arm, reached = tmp_path / "bin", tmp_path / "arm", tmp_path / "reached"
    wrap.mkdir()
    runc = shutil.which("runc") or "/usr/sbin/runc"
    (wrap / "runc").write_text(RUNC_WRAPPER.format(arm=arm, reached=reached, runc=runc))
    (wrap / "runc").chmod(0o755)
    env = {"PATH": f"{wrap}:{os.environ['PATH']}"}
    armed = _Armed(Shimd(direct=True), env, arm, reached)
    try:
        armed.d.start(env=env)
        armed.d.load_busybox()
        yield armed
    finally:
        if armed.sleeper:
            with contextlib.suppress(ProcessLookupError):
                os.kill(armed.sleeper, signal.SIGKILL)
        left = armed.d.destroy()
    assert not left, left


def test_a_sigkill_while_the_runtime_is_released_is_repaired_at_the_next_start(tmp_path):
    with _armed_daemon(tmp_path) as a:
        d = a.d
        a.arm.touch()
        # answered though runc's delete hangs: the release is not on the client's path
        d.cli("run", "--rm", "--name", "cut", "-v", "/anon", "busybox", "true", timeout=60)
        assert d.cli("ps", "-aq").stdout == "" and d.http("GET", "/containers/cut/json")[0] == 404
        assert d.cli("volume", "ls", "-q").stdout == ""
        wait_for(a.reached.exists, "the background release runs runc delete")
        a.sleeper = int(a.reached.read_text())
        host = hoststate.view(d)  # the instant: the runtime still holds what the API no longer shows
        assert len(host.runc) == 1 and len(host.rootfs_mounts) == 1 and len(host.intents) == 1, host
        d.stop(kill=True)
        os.kill(a.sleeper, signal.SIGKILL)
        a.arm.unlink()
        d.start(env=a.env)
        assert not hoststate.settle(d)  # the survey removed runc's state, the mount, the bundle; intent cleared
        assert d.cli("run", "--rm", "--name", "cut", "busybox", "echo", "again").stdout == "again\n"


def test_the_daemon_stop_waits_for_the_release(tmp_path):
    with _armed_daemon(tmp_path) as a:
        d = a.d
        a.arm.touch()
        d.cli("run", "--rm", "busybox", "true", timeout=60)
        wait_for(a.reached.exists, "the background release runs runc delete")
        a.sleeper = int(a.reached.read_text())
        assert d.proc is not None
        d.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: b"removals still releasing their runtime" in d.log_path.read_bytes(), "shimd's stop waits")
        os.kill(a.sleeper, signal.SIGKILL)  # runc delete "fails": the release goes on (monitor, unmount, files)
        d.proc.wait(timeout=30)
        assert d.proc.returncode == 0
        assert d.leftovers() == []  # nothing mounted: the stop waited for the unmount
        assert not list((Path(d.data_root) / "db" / "intents").glob("*.json"))
