import os

from shim.engine.store import Store


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
