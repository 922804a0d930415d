"""cgwarm: which cgroup.procs names shimd's own cgroup, and the warmer's hold/release lifecycle."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from shim.runtime import cgwarm
from tests.waiting import wait_for

HYBRID = "12:pids:/svc\n2:cpu,cpuacct:/svc\n1:name=systemd:/svc\n0::/svc\n"


def test_hybrid_prefers_the_unified_hierarchy() -> None:
    present = {"/sys/fs/cgroup/unified/cgroup.controllers", "/sys/fs/cgroup/unified/svc/cgroup.procs"}
    present.add("/sys/fs/cgroup/pids/svc/cgroup.procs")
    assert cgwarm.own_procs_file(HYBRID, present.__contains__) == "/sys/fs/cgroup/unified/svc/cgroup.procs"


def test_pure_v2_and_its_root() -> None:
    present = {"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/cgroup.procs"}
    assert cgwarm.own_procs_file("0::/\n", present.__contains__) == "/sys/fs/cgroup/cgroup.procs"


def test_v1_only_takes_a_mounted_controller_never_a_named_hierarchy() -> None:
    present = {"/sys/fs/cgroup/cpu,cpuacct/svc/cgroup.procs", "/sys/fs/cgroup/name=systemd/svc/cgroup.procs"}
    text = "3:name=systemd:/svc\n2:cpu,cpuacct:/svc\n"
    assert cgwarm.own_procs_file(text, present.__contains__) == "/sys/fs/cgroup/cpu,cpuacct/svc/cgroup.procs"


def test_nothing_found_means_no_warming() -> None:
    assert cgwarm.own_procs_file(HYBRID, lambda _p: False) is None
    assert cgwarm.own_procs_file("", lambda _p: True) is None


class _Writes:
    """A fake spell: counts writes and spells (each spell is one wake-up of the thread)."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.count = 0
        self.spells = 0
        self.open_spells = 0
        self.lock = threading.Lock()

    def write(self) -> bool:
        with self.lock:
            self.count += 1
        return self.ok

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Callable[[], bool]]:
        self.spells += 1
        self.open_spells += 1
        try:
            yield self.write
        finally:
            self.open_spells -= 1


def test_writes_while_held_and_stops_when_released() -> None:
    writes = _Writes()
    w = cgwarm.Warmer(spell=writes)
    token = w.hold()
    wait_for(lambda: writes.count >= 3, "three writes while held", timeout=10)
    w.release(token)
    wait_for(lambda: writes.open_spells == 0, "the warmer idle after release", timeout=10)
    settled = writes.count
    second = w.hold()  # the same thread wakes again for the next start
    wait_for(lambda: writes.count > settled, "writes for the next hold", timeout=10)
    w.release(second)
    assert writes.spells == 2  # the path is looked up once per spell, not per write


def test_overlapping_holds_keep_it_going_until_the_last_release() -> None:
    writes = _Writes()
    w = cgwarm.Warmer(spell=writes)
    a, b = w.hold(), w.hold()
    w.release(a)
    before = writes.count
    wait_for(lambda: writes.count > before + 2, "writes while the second start still holds", timeout=10)
    w.release(b)
    wait_for(lambda: not w._held(), "no hold left", timeout=10)


def test_a_refused_write_turns_the_warmer_off() -> None:
    writes = _Writes(ok=False)
    w = cgwarm.Warmer(spell=writes)
    w.hold()
    wait_for(lambda: w._refused, "the refusal noticed", timeout=10)
    w.hold()
    assert writes.count == 1 and not w._held()


def test_a_hold_never_released_lapses(monkeypatch) -> None:
    monkeypatch.setattr(cgwarm, "LIMIT", 0.05)
    writes = _Writes()
    w = cgwarm.Warmer(spell=writes)
    w.hold()  # a lost release
    wait_for(lambda: writes.count >= 1, "a write", timeout=10)
    wait_for(lambda: not w._held() and not w._wake.is_set(), "the hold lapsed", timeout=10)


def test_no_cgroup_to_write_turns_the_warmer_off() -> None:
    @contextlib.contextmanager
    def nothing() -> Iterator[None]:
        yield None

    w = cgwarm.Warmer(spell=nothing)
    w.hold()
    wait_for(lambda: w._refused, "the warmer off", timeout=10)


def test_a_long_spell_looks_the_path_up_again(monkeypatch) -> None:
    monkeypatch.setattr(cgwarm, "SPELL", 0.02)
    writes = _Writes()
    w = cgwarm.Warmer(spell=writes)
    token = w.hold()
    wait_for(lambda: writes.spells >= 2, "a second spell while still held", timeout=10)
    w.release(token)
