"""Log drivers and rotation through the real CLI and docker-py against a real shimd (conmon writes,
conmon_keep keeps the generations, shimd reads): what is kept on disk, reads across rotations,
`local`/`none`, refusals that create nothing, daemon defaults, rotation while shimd is down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.shimd_harness import DOCKER, Shimd
from tests.waiting import exit_watch, wait_exited, wait_for

BURST = "for i in $(seq 1 3000); do echo line-$i; done"
# The writer waits for SIGUSR1 (its trap set once "ready" is on stderr: a pid-1 shell gets only the
# signals it traps), so that a test starts it when what must watch the writing is in place.
AFTER_USR1 = "trap 'go=1' USR1; echo ready >&2; while [ -z \"$go\" ]; do sleep 0.05; done; "
PACED = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line-$i; [ $((i % 100)) = 0 ] && usleep 10000; done; true"


def _numbers(text: str) -> list[int]:
    return [int(ln.split("-", 1)[1]) for ln in text.splitlines()]


def _files(d: Shimd, name: str) -> list[Path]:
    """The container's log files on disk: the kept generations and the current one."""
    cid = json.loads(d.cli("inspect", name).stdout)[0]["Id"]
    cdir = Path(d.data_root) / "containers" / cid
    return [*sorted((cdir / "logs").glob("*")), cdir / "container.log"]


def test_rotation_keeps_max_file_times_max_size(shimd, unique):
    """3000 lines with max-size=10k max-file=3: at most ~30 kB kept on disk, the last line
    readable, the first gone, the kept lines consecutive (nothing lost at a rotation)."""
    name = unique("rot")
    shimd.cli(
        "run", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=3", "busybox", "sh", "-c", BURST
    )
    files = _files(shimd, name)
    assert len(files) == 3
    assert sum(f.stat().st_size for f in files) <= 30_000
    assert all(f.stat().st_size <= 10_000 for f in files)
    nums = _numbers(shimd.cli("logs", name).stdout)
    assert nums[-1] == 3000 and nums[0] > 1
    assert nums == list(range(nums[0], 3001))
    assert _numbers(shimd.cli("logs", "--tail", "3", name).stdout) == [2998, 2999, 3000]
    # LogPath is conmon's current file, readable as k8s-file (CRI) lines
    path = json.loads(shimd.cli("inspect", name).stdout)[0]["LogPath"]
    assert path == str(files[-1]) and open(path).read().splitlines()[-1].endswith(" stdout F line-3000")
    shimd.cli("rm", name)


def test_follow_across_rotations_cli_and_dockerpy(shimd, unique):
    """`docker logs -f` and docker-py's logs(stream, follow) see all 3000 lines across rotations."""
    name = unique("fol")
    shimd.cli(
        "run", "-d", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=4",
        "busybox", "sh", "-c", AFTER_USR1 + PACED,
    )  # fmt: skip
    # Both followers read the log before the writing starts (the first lines are rotated away
    # soon after): each has seen "ready" (stderr) when the signal starts the writer.
    stream = shimd.client.containers.get(name).logs(stream=True, follow=True)
    first = b""
    for chunk in stream:
        first += chunk
        if b"ready\n" in first:
            break
    cli = subprocess.Popen(
        [DOCKER, "logs", "-f", name], env=shimd.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert cli.stderr is not None and cli.stderr.readline() == "ready\n"
        shimd.cli("kill", "-s", "USR1", name)
        out, _ = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert _numbers(out) == list(range(1, 3001))
    assert _numbers((first.replace(b"ready\n", b"", 1) + b"".join(stream)).decode()) == list(range(1, 3001))


def test_compressed_generations(shimd, unique):
    """compress=true: rotated files become .gz on disk and read back."""
    name = unique("gz")
    shimd.cli(
        "run", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=3", "--log-opt", "compress=true",
        "busybox", "sh", "-c", BURST,
    )  # fmt: skip
    wait_for(  # shimd compresses on its worker after the rotation
        lambda: all(f.name.endswith(".gz") for f in _files(shimd, name)[:-1]),
        "the rotated files to be compressed",
        timeout=10,
        interval=0.1,
    )
    files = _files(shimd, name)
    assert [f.suffix for f in files[:-1]] == [".gz", ".gz"] and (files[0].stat().st_mode & 0o777) == 0o600
    nums = _numbers(shimd.cli("logs", name).stdout)
    assert nums[-1] == 3000 and nums == list(range(nums[0], 3001))
    shimd.cli("rm", name)


def test_local_and_none_drivers(shimd, unique):
    """local: rotated by default (20 MB x 5), readable, no LogPath; none: nothing written, `docker
    logs` refused in dockerd's words, the attached run still prints."""
    loc, none = unique("loc"), unique("none")
    shimd.cli("run", "--name", loc, "--log-driver", "local", "busybox", "sh", "-c", "echo out; echo err >&2")
    p = shimd.cli("logs", loc)
    assert (p.stdout, p.stderr) == ("out\n", "err\n")
    info = json.loads(shimd.cli("inspect", loc).stdout)[0]
    assert info["LogPath"] == "" and info["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
    policy = json.loads((Path(shimd.data_root) / "containers" / info["Id"] / "log-policy.json").read_text())
    assert policy == {"driver": "local", "max_size": 20 * 1024 * 1024, "max_file": 5, "compress": True}
    assert shimd.cli("run", "--name", none, "--log-driver", "none", "busybox", "echo", "hi").stdout == "hi\n"
    p = shimd.cli("logs", none, check=False)
    assert p.returncode == 1 and "configured logging driver does not support reading" in p.stderr
    assert not _files(shimd, none)[-1].exists()
    shimd.cli("rm", loc, none)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--log-driver", "bogus"], 'error looking up logging plugin bogus: plugin "bogus" not found'),
        (["--log-opt", "max-size=banana"], "failed to initialize logging driver: invalid size: 'banana'"),
        (["--log-opt", "max-file=0"], "failed to initialize logging driver: max-file cannot be less than 1"),
        (["--log-opt", "syslog-address=udp://x"], "unknown log opt 'syslog-address' for json-file log driver"),
        (["--log-driver", "syslog"], "shim does not support the syslog log driver"),
        (["--log-driver", "journald"], "shim does not support the journald log driver"),
    ],
)
def test_refused_at_create_nothing_created(shimd, unique, args, message):
    """Unknown drivers and bad options are refused at create (400) and leave no container."""
    name = unique("bad")
    p = shimd.cli("run", "--name", name, *args, "busybox", "true", check=False)
    assert p.returncode == 125 and message in p.stderr
    assert shimd.cli("inspect", name, check=False).returncode == 1
    status, _, body = shimd.http(
        "POST", f"/containers/create?name={name}", {"Image": "busybox", "HostConfig": {"LogConfig": _log_config(args)}}
    )
    assert status == 400 and message in json.loads(body)["message"]


def _log_config(args: list[str]) -> dict:
    typ, opts = "", {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--log-driver":
            typ = value
        else:
            k, _, v = value.partition("=")
            opts[k] = v
    return {"Type": typ, "Config": opts}


def test_restart_starts_a_new_file_and_keeps_the_old(shimd, unique):
    """A restarted container keeps its earlier output (the old file becomes a generation)."""
    name = unique("rs")
    shimd.cli("run", "--name", name, "--log-opt", "max-size=1m", "--log-opt", "max-file=3", "busybox", "echo", "run")
    shimd.cli("start", "-a", name)
    assert shimd.cli("logs", name).stdout == "run\nrun\n"
    assert len(_files(shimd, name)) == 2
    shimd.cli("rm", name)


def test_truncated_log_path_reads_on(shimd, unique):
    """`truncate -s 0` of LogPath (a common operator habit) leaves `docker logs` working."""
    name = unique("tr")
    shimd.cli("run", "-d", "--name", name, "busybox", "sh", "-c", "echo before; sleep 2; echo after; sleep 300")
    path = json.loads(shimd.cli("inspect", name).stdout)[0]["LogPath"]
    wait_for(lambda: "after" in shimd.cli("logs", name).stdout, "the line after the sleep", timeout=10, interval=0.1)
    os.truncate(path, 0)
    assert shimd.cli("logs", name).stdout == ""
    shimd.cli("rm", "-f", name)


def test_daemon_defaults_and_rotation_while_shimd_is_down(unique):
    """--log-driver/--log-opt and daemon.json log-opts are every container's defaults (merged at
    create, shown in inspect); conmon keeps rotating with generations while shimd is SIGKILLed."""
    d = Shimd()
    try:
        (d.base / "daemon.json").write_text(json.dumps({"log-opts": {"max-file": "3"}}))
        d.start()
        d.load_busybox()
        assert d.cli("info", "--format", "{{.LoggingDriver}}").stdout.strip() == "json-file"
        d.cli("create", "--name", "c1", "--log-opt", "max-size=10k", "busybox", "true")
        lc = json.loads(d.cli("inspect", "c1").stdout)[0]["HostConfig"]["LogConfig"]
        assert lc == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10k"}}
        d.cli("run", "-d", "--name", "writer", "--log-opt", "max-size=10k", "busybox", "sh", "-c", AFTER_USR1 + PACED)
        wait_for(lambda: "ready" in d.cli("logs", "writer").stderr, "the writer's trap")
        pid = json.loads(d.cli("inspect", "writer").stdout)[0]["State"]["Pid"]
        ends = exit_watch(pid)
        d.stop(kill=True)
        os.kill(pid, signal.SIGUSR1)  # the writer rotates dozens of times with no shimd, to its end
        wait_exited(ends, "the writer to finish while shimd is down")
        d.start()
        d.cli("wait", "writer")
        nums = _numbers(d.cli("logs", "writer").stdout)
        assert nums[-1] == 3000 and nums == list(range(nums[0], 3001))
        assert len(_files(d, "writer")) == 3
    finally:
        d.destroy()


def test_daemon_log_flags_and_bad_defaults(unique):
    """shimd --log-driver local --log-opt max-file=2: local becomes the default, merged options;
    a default option the driver does not take stops shimd with dockerd's words."""
    d = Shimd()
    try:
        d.start(["--log-driver", "local", "--log-opt", "max-file=2"])
        d.load_busybox()
        assert d.cli("info", "--format", "{{.LoggingDriver}}").stdout.strip() == "local"
        d.cli("create", "--name", "c-default", "busybox", "true")
        lc = json.loads(d.cli("inspect", "c-default").stdout)[0]["HostConfig"]["LogConfig"]
        assert lc == {"Type": "local", "Config": {"max-file": "2"}}
        d.cli("create", "--name", "j-file", "--log-driver", "json-file", "busybox", "true")
        lc = json.loads(d.cli("inspect", "j-file").stdout)[0]["HostConfig"]["LogConfig"]
        assert lc == {"Type": "json-file", "Config": {}}  # another driver: the defaults don't apply
        d.stop()
        with pytest.raises(RuntimeError, match="failed to set log opts: unknown log opt 'labels' for log driver local"):
            d.start(["--log-driver", "local", "--log-opt", "labels=x"])
    finally:
        d.destroy()
