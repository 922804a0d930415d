"""runtime/survey.py's readers (what the runtime holds, at daemon start) and the firewall's rule count."""

from __future__ import annotations

import json

from shim.engine.netports import BridgeRules, FirewallState, PortRule
from shim.runtime import cgroups, survey
from shim.runtime.iptables import _rule_counts, render_tables

A = "a" * 64
B = "b" * 64


def test_runc_list_json_and_null():
    out = json.dumps([{"id": A, "pid": 12, "status": "running"}, {"id": B, "pid": 0, "status": "created"}, "junk"])
    got = survey.parse_runc_list(out)
    assert set(got) == {A, B} and got[A]["pid"] == 12
    assert survey.parse_runc_list("null") == {} == survey.parse_runc_list("") == survey.parse_runc_list("{")


def test_rootfs_mounts_under_our_exec_root_only():
    info = "\n".join(
        [
            f"100 1 0:50 / /x/exec/containers/{A}/rootfs rw - overlay overlay rw",
            f"101 1 0:51 / /x/exec/containers/{B}/rootfs/proc rw - proc proc rw",  # inside, not the rootfs
            f"102 1 0:52 / /other/exec/containers/{B}/rootfs rw - overlay overlay rw",  # another daemon's
            "103 1 0:53 / /x/exec/containers/short/rootfs rw - overlay overlay rw",
            r"104 1 0:54 / /x/exec\040space/containers/" + B + "/rootfs rw - overlay overlay rw",
        ]
    )
    assert survey.mounted_rootfs(info, "/x/exec/containers") == {A}
    assert survey.mounted_rootfs(info, "/x/exec space/containers/") == {B}


def test_conmon_of_our_exit_dir_only():
    argv = ["/usr/bin/conmon", "--api-version", "1", "-c", A, "-u", A[:12], "--exit-dir", "/x/exec/exits"]
    assert survey.conmon_of(argv, "/x/exec/exits") == A
    assert survey.conmon_of(argv, "/y/exec/exits") == ""
    assert survey.conmon_of(["/usr/bin/conmon", "-c", "short", "--exit-dir", "/x/exec/exits"], "/x/exec/exits") == ""
    assert survey.conmon_of(["/bin/sleep", "-c", A, "--exit-dir", "/x/exec/exits"], "/x/exec/exits") == ""
    assert survey.conmon_of(["/usr/bin/conmon", "--exit-dir"], "/x/exec/exits") == ""


def test_exec_token_of_our_bundles_only():
    spec = f"/x/exec/containers/{A}/exec-0123456789abcdef.json"
    argv = ["runc", "--root", "/x/exec/runc", "exec", "--process", spec, A]
    assert survey.exec_token_of(argv, "/x/exec/containers") == "0123456789abcdef"
    assert survey.exec_token_of(argv, "/y/exec/containers") == ""
    assert survey.exec_token_of(["runc", "exec", A], "/x/exec/containers") == ""


def test_scan_and_stale_exec_files(tmp_path):
    execr, data = tmp_path / "exec", tmp_path / "data"
    bundle = execr / "containers" / A
    bundle.mkdir(parents=True)
    (execr / "containers" / "not-an-id").mkdir()
    for ext in ("json", "pid", "log"):
        (bundle / f"exec-0123456789abcdef.{ext}").write_text("x")
    (execr / "exits").mkdir()
    (execr / "exits" / B).write_text("0")
    (data / "containers" / B).mkdir(parents=True)
    (execr / "s").mkdir()
    (execr / "s" / A[:12]).symlink_to(bundle)
    h = survey.scan(str(execr), str(data), {})
    assert h.bundles == {A} and h.exits == {B} and h.data_dirs == {B} and h.links == {A[:12]: A}
    assert h.ids() == {A, B} and not h.held(A)
    assert h.exec_files == {(A, "0123456789abcdef")}
    survey.drop_stale_exec_files(h, str(execr))
    assert not list(bundle.iterdir())


C, D, E = "c" * 64, "d" * 64, "e" * 64


def _runc_state(runc_root, cid, *, fifo=False):
    d = runc_root / cid
    d.mkdir(parents=True)
    (d / "state.json").write_text("{}")
    if fifo:
        (d / "exec.fifo").write_text("")


def test_runc_entries_told_by_the_monitors(tmp_path):
    """What `runc list` would say, from the state dirs, the monitors, the exit files and the freezer."""
    runc, containers = tmp_path / "runc", tmp_path / "containers"
    for cid, pid in ((A, 11), (B, 12), (C, 13)):
        _runc_state(runc, cid)
        (containers / cid).mkdir(parents=True)
        (containers / cid / "pidfile").write_text(str(pid))
    (runc / "not-an-id").mkdir()
    h = survey.Holdings(conmons={A: 101, B: 102, D: 104}, exits={C})  # D: a monitor, no runc state
    got = survey.runc_entries(str(runc), h, str(containers), lambda cid: cid == B)
    assert got == {
        A: {"id": A, "status": "running", "pid": 11},
        B: {"id": B, "status": "paused", "pid": 12},
        C: {"id": C, "status": "stopped", "pid": 0},
    }
    assert survey.runc_entries(str(tmp_path / "none"), h, str(containers), lambda cid: False) == {}


def test_runc_entries_leave_to_runc_what_the_monitors_cannot_tell(tmp_path):
    runc, containers = tmp_path / "runc", tmp_path / "containers"
    _runc_state(runc, A)
    (containers / A).mkdir(parents=True)
    (containers / A / "pidfile").write_text("11")
    live = survey.Holdings(conmons={A: 101})

    def entries(h, frozen=lambda cid: False):
        return survey.runc_entries(str(runc), h, str(containers), frozen)

    assert entries(live) is not None
    assert entries(live, lambda cid: None) is None  # the freezer unreadable
    assert entries(survey.Holdings()) is None  # the monitor gone without an exit file
    assert entries(survey.Holdings(conmons={A: 101}, exits={A})) is None  # the monitor writing its exit now
    (containers / A / "pidfile").write_text("")
    assert entries(live) is None  # no PID
    (containers / A / "pidfile").write_text("11")
    _runc_state(runc, B, fifo=True)  # created, never started
    assert entries(live) is None
    (runc / B / "exec.fifo").unlink()
    (runc / B / "state.json").unlink()  # a state dir runc cannot load
    assert entries(survey.Holdings(conmons={A: 101, B: 102})) is None


def test_frozen_of_v1_and_v2(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path))
    (tmp_path / "freezer" / "shim" / A).mkdir(parents=True)
    (tmp_path / "shim" / B).mkdir(parents=True)
    for state, want in (("THAWED\n", False), ("FROZEN\n", True), ("FREEZING\n", None)):
        (tmp_path / "freezer" / "shim" / A / "freezer.state").write_text(state)
        assert cgroups.frozen(f"/shim/{A}") is want
    for flag, want in (("0\n", False), ("1\n", True)):
        (tmp_path / "shim" / B / "cgroup.freeze").write_text(flag)
        assert cgroups.frozen(f"/shim/{B}") is want
    assert cgroups.frozen(f"/shim/{E}") is None
    assert cgroups.frozen(f"system.slice:shim:{A}") is None


def test_rule_counts_of_a_rendering():
    state = FirewallState(
        bridges=[BridgeRules(bridge="br0", subnet="10.0.0.0/24", internal=False, masquerade=True, icc=True)],
        ports=[
            PortRule(proto="tcp", host_ip="", host_port=8080, container_ip="10.0.0.2", container_port=80, bridge="br0")
        ],
    )
    t = render_tables("tag", state)
    assert _rule_counts("nat", t["nat"]) == {("nat", "SHIM-tag"): 1, ("nat", "SHIM-tag-POST"): 3}
    assert _rule_counts("filter", t["filter"]) == {("filter", "SHIM-tag-FWD"): 4}
    empty = render_tables("tag", FirewallState())
    assert _rule_counts("nat", empty["nat"]) == {("nat", "SHIM-tag"): 0, ("nat", "SHIM-tag-POST"): 0}


def test_runtime_reads_the_default_cgroup_before_the_spec(tmp_path, monkeypatch):
    """A container's freezer at daemon start: `/shim/<id>` when that cgroup exists, else the
    cgroupsPath of its config.json (a --cgroup-parent)."""
    from shim.runtime.runc import RuncRuntime

    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path / "cg"))
    rt = RuncRuntime(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec"))
    (tmp_path / "cg" / "freezer" / "shim" / A).mkdir(parents=True)
    (tmp_path / "cg" / "freezer" / "shim" / A / "freezer.state").write_text("FROZEN\n")
    # a spec naming another cgroup is not read while the default one exists
    (tmp_path / "cg" / "freezer" / "other" / A).mkdir(parents=True)
    (tmp_path / "cg" / "freezer" / "other" / A / "freezer.state").write_text("THAWED\n")
    (tmp_path / "exec" / "containers" / A).mkdir(parents=True)
    (tmp_path / "exec" / "containers" / A / "config.json").write_text(
        json.dumps({"linux": {"cgroupsPath": f"/other/{A}"}})
    )
    assert rt._frozen(A) is True
    (tmp_path / "cg" / "freezer" / "custom" / B).mkdir(parents=True)
    (tmp_path / "cg" / "freezer" / "custom" / B / "freezer.state").write_text("THAWED\n")
    bundle = tmp_path / "exec" / "containers" / B
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": f"/custom/{B}"}}))
    assert rt._frozen(B) is False
    assert rt._frozen(C) is None  # no cgroup at all: runc is asked
