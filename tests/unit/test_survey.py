"""runtime/survey.py's readers (what the runtime holds, at daemon start) and the firewall's rule count."""

from __future__ import annotations

import json

from shim.engine.netports import BridgeRules, FirewallState, PortRule
from shim.runtime import survey
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
