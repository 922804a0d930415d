"""A torn or missing state file is never fatal to shimd's start (docs/RELIABILITY.md).

Every kind of record is damaged while the daemon is down (a torn JSON file, valid JSON of the
wrong shape, a directory where a file should be) and some runtime files too (a bundle's
config.json, an exit file, conmon's pid file). The daemon must start, serve, run new containers,
and leave alone what a damaged record may still own: once the record is repaired, its running
container is found again, still running.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests import hoststate
from tests.shimd_harness import Shimd


def test_damaged_records_and_runtime_files_never_stop_the_daemon():
    d = Shimd(direct=True)
    try:
        d.start()
        d.load_busybox()
        d.cli("network", "create", "tornnet")
        d.cli("volume", "create", "tornvol")
        keep = d.cli("run", "-d", "--name", "keep", "busybox", "sleep", "1000").stdout.strip()
        torn = d.cli("run", "-d", "--name", "torn", "--network", "tornnet", "busybox", "sleep", "1000").stdout.strip()
        shape = d.cli("create", "--name", "shape", "-v", "tornvol:/v", "busybox", "true").stdout.strip()
        gone = d.cli("run", "-d", "--name", "gone", "busybox", "sleep", "1000").stdout.strip()
        pid = {n: json.loads(d.cli("inspect", n).stdout)[0]["State"]["Pid"] for n in ("keep", "torn")}
        d.stop(kill=True)

        db = Path(d.data_root) / "db"
        torn_record = db / "containers" / f"{torn}.json"
        original = torn_record.read_bytes()
        torn_record.write_bytes(original[: len(original) // 2])  # a torn write
        (db / "containers" / f"{shape}.json").write_text("[]")  # JSON of the wrong shape
        (db / "containers" / ("e" * 64 + ".json")).mkdir()  # not even a file
        (db / "containers" / ".x.json.tmp").write_text("{")  # a write cut before its rename
        for kind in ("volumes", "networks", "endpoints", "mounts", "images", "intents"):
            (db / kind).mkdir(exist_ok=True)
            (db / kind / ("d" * 64 + ".json")).write_text('{"half')
        (db / "intents" / "start.junk.json").write_text('{"op": 5}')
        bundle = Path(d.exec_root) / "containers" / gone
        (bundle / "config.json").unlink()
        (bundle / "conmon.pid").write_text("not a pid")
        (Path(d.exec_root) / "exits" / keep).write_text("garbage")
        d.start()

        ps = {c["Names"][0]: c for c in json.loads(d.http("GET", "/containers/json?all=1")[2])}
        assert ps["/keep"]["State"] == "running"
        assert "/torn" not in ps and "/shape" not in ps
        assert d.cli("run", "--rm", "busybox", "echo", "still-serving").stdout == "still-serving\n"
        assert d.cli("exec", "keep", "echo", "exec-ok").stdout == "exec-ok\n"
        assert "tornvol" in d.cli("volume", "ls", "-q").stdout

        # The damaged record's container was left alone: repaired, it is found again, still running.
        torn_record.write_bytes(original)
        d.stop(kill=True)
        d.start()
        state = json.loads(d.cli("inspect", "torn").stdout)[0]["State"]
        assert state["Running"] and state["Pid"] == pid["torn"]
        assert json.loads(d.cli("inspect", "keep").stdout)[0]["State"]["Pid"] == pid["keep"]
        assert d.cli("exec", "torn", "echo", "ok").stdout == "ok\n"
        (db / "containers" / ("e" * 64 + ".json")).rmdir()
        os.unlink(db / "containers" / f"{shape}.json")
        for kind in ("volumes", "networks", "endpoints", "mounts", "images", "intents"):
            (db / kind / ("d" * 64 + ".json")).unlink(missing_ok=True)
        d.stop(kill=True)
        d.start()
        d.cli("rm", "-f", "keep", "torn", "gone")
        d.cli("volume", "rm", "tornvol")
        assert not hoststate.settle(d)
    finally:
        left = d.destroy()
    assert not left, left
