"""`docker ps` and `docker inspect` answer from renderings kept between requests (api/rendercache.py):
every change the engine makes shows in the very next answer, through the real CLI and runc."""

from __future__ import annotations

import json


def _rows(shimd):
    out = shimd.cli("ps", "-a", "--no-trunc", "--format", "{{json .}}").stdout
    return {row["Names"]: row for row in map(json.loads, out.splitlines())}


def test_ps_and_inspect_show_each_change_at_once(shimd, unique):
    a, b, c = unique("lc"), unique("lc"), unique("lc")
    try:
        cid = shimd.cli("create", "--name", a, "--label", "tier=web", "busybox", "sleep", "300").stdout.strip()
        for _ in range(3):  # answered from the kept rendering after the first
            row = _rows(shimd)[a]
            assert row["State"] == "created" and row["Status"] == "Created" and row["Labels"] == "tier=web"

        shimd.cli("start", a)
        row = _rows(shimd)[a]
        assert row["State"] == "running" and row["Status"].startswith("Up ")
        assert json.loads(shimd.cli("inspect", a).stdout)[0]["State"]["Running"] is True

        shimd.cli("pause", a)
        assert _rows(shimd)[a]["Status"].endswith("(Paused)")
        shimd.cli("unpause", a)
        assert not _rows(shimd)[a]["Status"].endswith("(Paused)")

        shimd.cli("rename", a, b)
        rows = _rows(shimd)
        assert a not in rows and rows[b]["ID"] == cid
        assert json.loads(shimd.cli("inspect", cid).stdout)[0]["Name"] == "/" + b

        shimd.cli("update", "--restart", "always", b)
        policy = json.loads(shimd.cli("inspect", b).stdout)[0]["HostConfig"]["RestartPolicy"]
        assert policy["Name"] == "always"
        shimd.cli("update", "--restart", "no", b)

        shimd.cli("stop", "-t", "1", b)
        row = _rows(shimd)[b]
        assert row["State"] == "exited" and row["Status"].startswith("Exited (")

        shimd.cli("create", "--name", c, "--label", "tier=db", "busybox", "true")
        assert _rows(shimd)[c]["Labels"] == "tier=db"
        shimd.cli("rm", b)
        assert b not in _rows(shimd)
        assert shimd.cli("inspect", cid, check=False).returncode != 0
    finally:
        shimd.cli("rm", "-f", a, b, c, check=False)


def test_one_containers_change_shows_beside_kept_rows(shimd, unique):
    """Revisions are per container: a connect, an exec, another container's `run --rm` and a kill
    each show in the very next `docker ps` and `docker inspect`, for that container and no other."""
    a, b, net = unique("lc"), unique("lc"), unique("lcnet")
    try:
        shimd.cli("run", "-d", "--name", a, "busybox", "sleep", "300")
        shimd.cli("run", "-d", "--name", b, "busybox", "sleep", "300")
        assert _rows(shimd)[b]["Networks"] == "bridge"
        shimd.cli("network", "create", net)
        shimd.cli("network", "connect", net, a)
        rows = _rows(shimd)
        assert sorted(rows[a]["Networks"].split(",")) == sorted(["bridge", net]) and rows[b]["Networks"] == "bridge"
        assert net in json.loads(shimd.cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]
        shimd.cli("network", "disconnect", net, a)
        assert _rows(shimd)[a]["Networks"] == "bridge"
        assert net not in json.loads(shimd.cli("inspect", a).stdout)[0]["NetworkSettings"]["Networks"]

        assert json.loads(shimd.cli("inspect", b).stdout)[0]["ExecIDs"] is None
        shimd.cli("exec", "-d", b, "sleep", "60")
        assert len(json.loads(shimd.cli("inspect", b).stdout)[0]["ExecIDs"]) == 1
        assert json.loads(shimd.cli("inspect", a).stdout)[0]["ExecIDs"] is None

        shimd.cli("run", "--rm", "busybox", "true")
        shimd.cli("kill", a)
        rows = _rows(shimd)
        assert rows[a]["State"] == "exited" and rows[b]["State"] == "running"
        assert json.loads(shimd.cli("inspect", a).stdout)[0]["State"]["Status"] == "exited"
        assert json.loads(shimd.cli("inspect", b).stdout)[0]["ExecIDs"] is not None
    finally:
        shimd.cli("rm", "-f", a, b, check=False)
        shimd.cli("network", "rm", net, check=False)
