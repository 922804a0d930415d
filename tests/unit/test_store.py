import asyncio
import dataclasses
import json
import os
import threading

from shim.engine.model import Container, ContainerState, Health, HealthLogEntry
from shim.engine.store import Store
from shim.errors import ShimError


def test_roundtrip_and_reload(tmp_path):
    s = Store(tmp_path)
    s.put("containers", "abc", {"Name": "/x", "n": 1})
    assert s.get("containers", "abc") == {"Name": "/x", "n": 1}
    assert Store(tmp_path).load_all("containers") == {"abc": {"Name": "/x", "n": 1}}
    s.delete("containers", "abc")
    assert s.get("containers", "abc") is None
    s.delete("containers", "abc")  # idempotent


def test_torn_write_leaves_old_object_and_is_swept(tmp_path):
    s = Store(tmp_path)
    s.put("images", "i1", {"v": 1})
    # A crash mid-write leaves only the temp file; the object itself is intact.
    torn = tmp_path / "db" / "images" / ".i1.json.tmp"
    torn.write_bytes(b'{"v": 2, "trunc')
    assert Store(tmp_path).load_all("images") == {"i1": {"v": 1}}
    assert not torn.exists()


def test_unreadable_object_is_skipped(tmp_path):
    s = Store(tmp_path)
    s.put("images", "good", {"ok": True})
    (tmp_path / "db" / "images" / "bad.json").write_text("{nope")
    assert s.load_all("images") == {"good": {"ok": True}}
    assert os.path.exists(tmp_path / "db" / "images" / "bad.json")


def test_a_removed_kind_directory_is_made_again(tmp_path):
    s = Store(tmp_path)
    s.put("intents", "a", {"v": 1})
    (tmp_path / "db" / "intents" / "a.json").unlink()
    (tmp_path / "db" / "intents").rmdir()
    s.put("intents", "b", {"v": 2})
    assert s.load_all("intents") == {"b": {"v": 2}}


async def test_aput_writes_the_object_as_it_was_at_the_call(tmp_path):
    # Container.to_dict shares the record's live dicts: the file must not take changes made after the call
    s = Store(tmp_path)
    changed = threading.Event()
    # the writing thread waits (in its listener call, before the write) until the object has changed
    s.on_write(lambda kind, oid: threading.current_thread() is threading.main_thread() or changed.wait(5))
    obj = {"config": {"Env": ["A=1"]}}
    task = asyncio.ensure_future(s.aput("containers", "c1", obj))
    await asyncio.sleep(0)  # the put has begun
    obj["config"]["Env"].append("B=2")
    changed.set()
    await task
    assert s.get("containers", "c1") == {"config": {"Env": ["A=1"]}}


def test_aput_tells_the_listeners_at_once_and_from_the_writing_thread(tmp_path):
    s = Store(tmp_path)
    seen = []
    s.on_write(lambda kind, oid: seen.append((kind, oid, threading.current_thread() is threading.main_thread())))
    asyncio.run(s.aput("containers", "c1", {}))
    assert seen == [("containers", "c1", True), ("containers", "c1", False)]


async def test_aput_then_delete_writes_the_record_then_deletes_the_intent_in_one_thread(tmp_path):
    s = Store(tmp_path)
    s.put("intents", "start.c1", {"op": "start"})
    seen = []
    s.on_write(lambda kind, oid: seen.append((kind, oid, threading.current_thread().ident)))
    await s.aput_then_delete("containers", "c1", {"running": True}, "intents", "start.c1")
    assert s.get("containers", "c1") == {"running": True}
    assert s.get("intents", "start.c1") is None
    main = threading.main_thread().ident
    # told at once for both, then from one writing thread: the put before the delete
    assert [(k, o) for k, o, t in seen if t == main] == [("containers", "c1"), ("intents", "start.c1")]
    writers = [(k, o, t) for k, o, t in seen if t != main]
    assert [(k, o) for k, o, _ in writers] == [("containers", "c1"), ("intents", "start.c1")]
    assert len({t for _, _, t in writers}) == 1


async def test_aput_then_delete_keeps_the_intent_when_the_put_fails(tmp_path):
    s = Store(tmp_path)
    s.put("intents", "start.c1", {"op": "start"})
    s.put("containers", "c1", {"running": False})
    (tmp_path / "db" / "containers" / ".c1.json.tmp").mkdir()  # the temp file can't be opened: the write fails
    try:
        await s.aput_then_delete("containers", "c1", {"running": True}, "intents", "start.c1")
    except ShimError as e:
        assert "write" in e.message
    else:
        raise AssertionError("the failed put was not raised")
    assert s.get("containers", "c1") == {"running": False}
    assert s.get("intents", "start.c1") == {"op": "start"}


async def test_aput_then_delete_logs_a_failed_delete(tmp_path, caplog):
    s = Store(tmp_path)
    (tmp_path / "db" / "intents" / "start.c1.json").mkdir(parents=True)  # unlink fails: a directory
    await s.aput_then_delete("containers", "c1", {"running": True}, "intents", "start.c1")
    assert s.get("containers", "c1") == {"running": True}
    assert "deleting intents/start.c1" in caplog.text


def _every_field_set() -> Container:
    log = [HealthLogEntry(start=1, end=2, exit_code=1, output="no"), HealthLogEntry(3, 4, 0, "ok")]
    state = ContainerState(
        status="running",
        running=True,
        paused=True,
        restarting=True,
        oom_killed=True,
        dead=True,
        removal_in_progress=True,
        pid=42,
        exit_code=137,
        error="err",
        started_at=5,
        finished_at=6,
        health=Health(status="unhealthy", failing_streak=3, log=log),
    )
    return Container(
        id="c" * 64,
        name="n",
        created=7,
        path="/bin/sh",
        args=["-c", "true"],
        config={"Env": ["A=1"], "Labels": {"k": "v"}, "Healthcheck": {"Test": ["CMD", "true"]}},
        host_config={"Binds": ["/a:/b"], "LogConfig": {"Type": "json-file", "Config": {}}},
        networking_config={"EndpointsConfig": {"net": {"Aliases": ["x"]}}},
        image_id="sha256:" + "i" * 64,
        layer_dirs=["/l1", "/l2"],
        state=state,
        restart_count=2,
        has_been_started=True,
        manually_stopped=True,
        platform="linux",
        exec_ids=["e1"],
    )


def _keys(obj):
    """Every dict's keys in order, nested: the encoded file's shape."""
    if isinstance(obj, dict):
        return [(k, _keys(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [_keys(v) for v in obj]
    return None


def test_container_to_dict_is_asdict_field_for_field():
    for c in (_every_field_set(), Container("i", "n", 0, "p", [], {}, {}, {}, "img")):
        got, want = c.to_dict(), dataclasses.asdict(c)
        assert got == want and _keys(got) == _keys(want)
        assert json.dumps(got) == json.dumps(want)  # the same file
        assert Container.from_dict(json.loads(json.dumps(got))) == c
    # a field added to the model (or its state) without its line in to_dict fails here
    c = _every_field_set()
    assert list(c.to_dict()) == [f.name for f in dataclasses.fields(Container)]
    assert list(c.to_dict()["state"]) == [f.name for f in dataclasses.fields(ContainerState)]
    assert list(c.to_dict()["state"]["health"]) == [f.name for f in dataclasses.fields(Health)]
    assert list(c.to_dict()["state"]["health"]["log"][0]) == [f.name for f in dataclasses.fields(HealthLogEntry)]
