"""Unit: the runtime's trash (a removed container's directories deleted after the answer)."""

from __future__ import annotations

import time

from shim.runtime.fsutil import Trash


def test_trash_takes_a_directory_out_of_sight_and_deletes_it(tmp_path):
    d = tmp_path / "containers" / "abc"
    (d / "diff" / "x").mkdir(parents=True)
    (d / "diff" / "x" / "f").write_text("data")
    left = tmp_path / "trash" / "old.1"
    left.mkdir(parents=True)  # what a stopped daemon left
    t = Trash()
    t.discard(str(d))
    assert not d.exists()
    t.sweep(str(tmp_path))
    deadline = time.monotonic() + 10
    while any((tmp_path / "trash").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any((tmp_path / "trash").iterdir())
    t.discard(str(tmp_path / "containers" / "missing"))  # nothing there: nothing to do
