"""What survives a graceful restart of the engine (SIGTERM, start again on the same data root).

The module makes a small world (an image tag, a volume with data, a network, containers in
several states), restarts the engine once through $COMPAT_RESTART_CMD (compat/run.sh provides it
for shim and the reference dockerd), and each scenario checks one thing a user would find after
the restart. Only behaviour both engines share is asserted: a running container without a restart
policy is left out (dockerd without live-restore stops it at shutdown, shim's monitors keep it).
"""

import json
import os
import subprocess

import pytest

from compat.lib import V

pytestmark = [pytest.mark.needs_restart, pytest.mark.feature("containers")]


@pytest.fixture(scope="module")
def world(eng):
    w = {k: eng.shared_name(k) for k in ("img", "vol", "net", "exited", "created", "always", "unless")}
    eng.out("tag", "busybox", f"{w['img']}:1")
    eng.out("volume", "create", "--label", "compat.survives=yes", w["vol"])
    eng.out("run", "--rm", "-v", f"{w['vol']}:/d", "busybox", "sh", "-c", "echo kept > /d/f")
    eng.out("network", "create", "--label", "compat.survives=yes", w["net"])
    eng.cli("run", "--name", w["exited"], "busybox", "sh", "-c", "echo logged; exit 3")
    eng.out("create", "--name", w["created"], "--label", "compat.survives=yes", "busybox", "echo", "late start")
    eng.out("run", "-d", "--name", w["always"], "--restart", "always", "--stop-timeout", "1", "busybox", "sleep", "300")
    eng.out(
        "run",
        "-d",
        "--name",
        w["unless"],
        "--restart",
        "unless-stopped",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "300",
    )
    eng.out("stop", "-t", "0", w["unless"])
    before = {
        "ids": {k: eng.inspect(w[k])["Id"] for k in ("exited", "created", "always", "unless")},
        "net": json.loads(eng.out("network", "inspect", w["net"]))[0]["Id"],
        "img": eng.inspect(f"{w['img']}:1", "image")["Id"],
        "version": eng.http("GET", "/version").json()["Version"],
    }
    p = subprocess.run(os.environ["COMPAT_RESTART_CMD"], shell=True, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"restart failed: {p.stdout} {p.stderr}"
    eng.reset_client()
    yield w, before
    eng.cli("rm", "-f", *(w[k] for k in ("exited", "created", "always", "unless")))
    eng.cli("network", "rm", w["net"])
    eng.cli("volume", "rm", w["vol"])
    eng.cli("rmi", f"{w['img']}:1")


def test_engine_answers(eng, world):
    """After the restart the engine answers ping and reports the same version."""
    _, before = world
    assert eng.http("GET", "/_ping").body == b"OK"
    assert eng.http("GET", "/version").json()["Version"] == before["version"]


@pytest.mark.feature("images")
def test_image_tag_survives(eng, world):
    """An image tag made before the restart names the same image after it."""
    w, before = world
    assert eng.inspect(f"{w['img']}:1", "image")["Id"] == before["img"]


@pytest.mark.feature("volumes")
def test_volume_data_survives(eng, world):
    """A named volume keeps its labels and the file written into it."""
    w, _ = world
    v = json.loads(eng.out("volume", "inspect", w["vol"]))[0]
    assert v["Labels"] == {"compat.survives": "yes"}
    assert eng.out("run", "--rm", "-v", f"{w['vol']}:/d", "busybox", "cat", "/d/f") == "kept"


@pytest.mark.feature("networks")
def test_network_survives(eng, world):
    """A user network keeps its ID and labels, and containers can join it."""
    w, before = world
    n = json.loads(eng.out("network", "inspect", w["net"]))[0]
    assert n["Id"] == before["net"] and n["Labels"] == {"compat.survives": "yes"}
    assert eng.out("run", "--rm", "--network", w["net"], "busybox", "echo", "joined") == "joined"


def test_exited_container_survives(eng, world):
    """An exited container keeps its ID, Status exited and ExitCode 3."""
    w, before = world
    c = eng.inspect(w["exited"])
    assert c["Id"] == before["ids"]["exited"]
    assert (c["State"]["Status"], c["State"]["ExitCode"]) == ("exited", 3)


@pytest.mark.feature("logs")
def test_logs_survive(eng, world):
    """The exited container's logs are still there."""
    w, _ = world
    assert eng.out("logs", w["exited"]) == "logged"


def test_created_container_survives_and_starts(eng, world):
    """A created container keeps its labels and can be started after the restart."""
    w, before = world
    c = eng.inspect(w["created"])
    assert c["Id"] == before["ids"]["created"] and c["State"]["Status"] == "created"
    assert c["Config"]["Labels"] == {"compat.survives": "yes"}
    p = eng.cli("start", "-a", w["created"])
    assert (p.returncode, p.stdout) == (0, "late start\n")


@pytest.mark.feature("restart_policy")
def test_restart_always_running(eng, world):
    """A --restart always container is running after the engine restart."""
    w, before = world
    eng.wait_for(lambda: (eng.state(w["always"]) or {}).get("Running"), timeout=30, what="running again")
    assert eng.inspect(w["always"])["Id"] == before["ids"]["always"]


@pytest.mark.feature("restart_policy")
def test_unless_stopped_stays_stopped(eng, world):
    """A --restart unless-stopped container stopped by the user stays stopped after the restart."""
    w, _ = world
    st = eng.inspect(w["unless"])["State"]
    assert st["Running"] is False and st["Status"] == "exited"


def test_ps_lists_survivors(eng, world):
    """`docker ps -a` lists the containers made before the restart, by name."""
    w, _ = world
    names = set(eng.out("ps", "-a", "--format", "{{.Names}}").splitlines())
    assert {w["exited"], w["created"], w["always"], w["unless"]} <= names


def test_name_conflict_after_restart(eng, world):
    """Names stay reserved: creating a container with a survivor's name is a 409."""
    w, _ = world
    r = eng.http("POST", f"{V}/containers/create?name={w['exited']}", body={"Image": "busybox"})
    assert r.status == 409
