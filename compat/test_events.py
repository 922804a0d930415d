"""Events: bounded queries (since/until), filters, the event shape for images and containers."""

import json
import time
import urllib.parse

import pytest

from compat.lib import V, make_tar

pytestmark = pytest.mark.feature("events")


def events(eng, since, *filters, until=None):
    """`docker events --since --until --format json` with filters; returns decoded events."""
    until = until if until is not None else time.time() + 0.05
    args = ["events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    p = eng.cli(*args, timeout=30)
    assert p.returncode == 0, p.stderr
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.strip()]


def import_tiny(eng, ref):
    p = eng.cli(
        "import", "-c", f"LABEL cmp.run={eng.scenario_prefix}", "-", ref, input=make_tar({"f": b"x"}), binary=True
    )
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().strip()


@pytest.mark.feature("images")
def test_bounded_query_returns(eng):
    """`docker events --since 1m --until 0s` returns by itself (exit 0) instead of following."""
    start = time.monotonic()
    p = eng.cli("events", "--since", "1m", "--until", "0s", timeout=30)
    assert p.returncode == 0
    assert time.monotonic() - start < 25


@pytest.mark.feature("images")
def test_tag_event(eng):
    """Tagging an image emits an image 'tag' event naming the new reference."""
    since = time.time() - 1
    ref = f"{eng.name('ev')}:1"
    eng.out("tag", "busybox", ref)
    evs = events(eng, since, "type=image", "event=tag")
    ours = [e for e in evs if e["Actor"]["Attributes"].get("name") == ref]
    assert ours, evs
    e = ours[0]
    assert e["Type"] == "image" and e["Action"] == "tag" and e["scope"] == "local"
    assert e["Actor"]["ID"].startswith("sha256:") and isinstance(e["timeNano"], int)


@pytest.mark.feature("images")
def test_untag_and_delete_events(eng):
    """Removing the last tag of an image emits 'untag' then 'delete'."""
    ref = f"{eng.name('ev')}:1"
    iid = import_tiny(eng, ref)
    since = time.time() - 0.5
    eng.out("rmi", ref)
    actions = [e["Action"] for e in events(eng, since, "type=image") if e["Actor"]["ID"] == iid]
    assert "untag" in actions and "delete" in actions
    assert actions.index("untag") < actions.index("delete")


@pytest.mark.feature("images")
def test_import_event(eng):
    """`docker import` emits an image 'import' event for the new image."""
    since = time.time() - 1
    iid = import_tiny(eng, f"{eng.name('ev')}:1")
    evs = events(eng, since, "type=image", "event=import")
    assert iid in [e["Actor"]["ID"] for e in evs]


@pytest.mark.feature("images")
def test_until_excludes_later(eng):
    """An event after --until is not returned."""
    until = time.time() - 0.5
    eng.out("tag", "busybox", f"{eng.name('ev')}:1")
    evs = events(eng, until - 60, "type=image", "event=tag", until=until)
    assert not any(eng.scenario_prefix in e["Actor"]["Attributes"].get("name", "") for e in evs)


@pytest.mark.feature("images")
def test_since_excludes_earlier(eng):
    """An event before --since is not returned."""
    eng.out("tag", "busybox", f"{eng.name('ev')}:1")
    time.sleep(1.1)
    evs = events(eng, time.time(), "type=image", "event=tag")
    assert not any(eng.scenario_prefix in e["Actor"]["Attributes"].get("name", "") for e in evs)


@pytest.mark.feature("images")
def test_events_http_bounded_ends(eng):
    """GET /events?since&until is a finite JSON-lines body (each line an event object)."""
    ref = f"{eng.name('ev')}:1"
    since = int(time.time()) - 1
    eng.out("tag", "busybox", ref)
    until = int(time.time()) + 1
    time.sleep(max(0.0, until - time.time()) + 0.1)
    flt = urllib.parse.quote(json.dumps({"type": {"image": True}}))
    r = eng.http("GET", f"{V}/events?since={since}&until={until}&filters={flt}", timeout=20)
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    evs = [json.loads(ln) for ln in r.body.splitlines() if ln.strip()]
    assert any(e["Action"] == "tag" and e["Actor"]["Attributes"].get("name") == ref for e in evs)


@pytest.mark.feature("images")
def test_dockerpy_events(client, eng):
    """docker-py: client.events(since, until, decode=True) yields the tag event."""
    ref = f"{eng.name('ev')}:1"
    since = int(time.time()) - 1
    eng.out("tag", "busybox", ref)
    until = int(time.time()) + 1
    time.sleep(max(0.0, until - time.time()) + 0.1)
    evs = list(client.events(since=since, until=until, decode=True, filters={"type": "image"}))
    assert any(e["Actor"]["Attributes"].get("name") == ref for e in evs)


@pytest.mark.feature("images")
def test_follow_stream_delivers_live(eng):
    """An unbounded events stream delivers an event as it happens."""
    flt = urllib.parse.quote(json.dumps({"type": {"image": True}, "event": {"tag": True}}))
    conn, resp = eng.stream("GET", f"{V}/events?filters={flt}", timeout=20)
    try:
        assert resp.status == 200
        ref = f"{eng.name('ev')}:1"
        eng.out("tag", "busybox", ref)
        line = resp.readline()
        while line and ref not in line.decode():
            line = resp.readline()
        ev = json.loads(line)
        assert ev["Action"] == "tag" and ev["Actor"]["Attributes"]["name"] == ref
    finally:
        conn.close()


# ------------------------------------------------------------------ container events


@pytest.mark.feature("containers")
def test_container_lifecycle_events(eng):
    """A run emits create, attach?, start, die (exitCode) and destroy with --rm, in order."""
    name = eng.name("c")
    since = time.time() - 1
    eng.cli("run", "--rm", "--name", name, "busybox", "sh", "-c", "exit 3")
    eng.wait_for(lambda: eng.http("GET", f"{V}/containers/{name}/json").status == 404, what="removal")
    evs = list(events(eng, since, "type=container", f"container={name}"))
    actions = [e["Action"] for e in evs]
    core = [a for a in actions if a in ("create", "start", "die", "destroy")]
    assert core == ["create", "start", "die", "destroy"], actions
    die = next(e for e in evs if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "3"
    assert die["Actor"]["Attributes"]["name"] == name and die["Actor"]["Attributes"]["image"] == "busybox"
    assert die["status"] == "die" and die["from"] == "busybox" and die["id"] == die["Actor"]["ID"]


@pytest.mark.feature("containers", "lifecycle")
def test_container_kill_stop_events(eng):
    """`docker stop -t 0` emits kill (signal 15, then 9), die (exitCode 137), then stop."""
    name = eng.run_d("busybox", "sleep", "300")
    since = time.time() - 0.5
    eng.out("stop", "-t", "0", name)
    evs = events(eng, since, "type=container", f"container={name}", until=time.time() + 1)
    actions = [e["Action"] for e in evs]
    assert "kill" in actions and "die" in actions and "stop" in actions
    assert actions.index("die") < actions.index("stop"), actions  # stop returns once the container died
    die = next(e for e in evs if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "137"
    assert any(e["Action"] == "kill" and e["Actor"]["Attributes"].get("signal") == "9" for e in evs)


@pytest.mark.feature("containers", "lifecycle")
def test_container_pause_rename_events(eng):
    """pause, unpause and rename emit their events."""
    name = eng.run_d("busybox", "sleep", "300")
    cid = eng.inspect(name)["Id"]
    since = time.time() - 0.5
    eng.out("pause", name)
    eng.out("unpause", name)
    eng.out("rename", name, name + "r")
    evs = events(eng, since, "type=container", f"container={cid}")
    actions = [e["Action"] for e in evs]
    for a in ("pause", "unpause", "rename"):
        assert a in actions, actions
    ren = next(e for e in evs if e["Action"] == "rename")
    assert ren["Actor"]["Attributes"]["oldName"] == "/" + name


@pytest.mark.feature("containers")
def test_container_label_filter(eng):
    """--filter label=k=v selects container events by label."""
    since = time.time() - 1
    eng.cli("run", "--rm", "--label", f"compat.ev={eng.scenario_prefix}", "busybox", "true")
    evs = events(eng, since, "type=container", f"label=compat.ev={eng.scenario_prefix}", "event=start")
    assert len(evs) == 1


@pytest.mark.feature("networks")
def test_network_events(eng):
    """network create and destroy emit network events with the name."""
    name = eng.name("net")
    since = time.time() - 1
    eng.out("network", "create", name)
    eng.out("network", "rm", name)
    evs = events(eng, since, "type=network", f"network={name}")
    actions = [e["Action"] for e in evs]
    assert actions[:1] == ["create"] and "destroy" in actions
    assert evs[0]["Actor"]["Attributes"]["name"] == name


@pytest.mark.feature("volumes")
def test_volume_events(eng):
    """volume create and destroy emit volume events with the driver."""
    name = eng.name("vol")
    since = time.time() - 1
    eng.out("volume", "create", name)
    eng.out("volume", "rm", name)
    evs = events(eng, since, "type=volume", f"volume={name}")
    assert [e["Action"] for e in evs] == ["create", "destroy"]
    assert evs[0]["Actor"]["ID"] == name and evs[0]["Actor"]["Attributes"]["driver"] == "local"
