"""Unit: SecurityOpt parsing, seccomp profile checks and policy (engine/security.py), and the
Docker -> OCI profile translation (runtime/seccomp.py)."""

from __future__ import annotations

import errno
import json

import pytest

from shim.engine.ports import Confinement
from shim.engine.security import SecurityPolicy, check_seccomp_profile, parse_security_opts
from shim.errors import InvalidParameter
from shim.runtime import seccomp
from shim.runtime.oci_spec import ALL_CAPS, DEFAULT_CAPS

# --- SecurityOpt -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opts, expected",
    [
        ([], None),
        (["no-new-privileges"], True),
        (["no-new-privileges:true"], True),
        (["no-new-privileges=true"], True),
        (["no-new-privileges=1"], True),
        (["no-new-privileges=false"], False),
    ],
)
def test_no_new_privileges_values(opts, expected):
    assert parse_security_opts(opts).no_new_privileges is expected


@pytest.mark.parametrize(
    "opt, message",
    [
        ("bogus", 'invalid --security-opt 1: "bogus"'),
        ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
        ("no-new-privileges=banana", 'invalid --security-opt 2: "no-new-privileges=banana"'),
        # the CLI turns systempaths=unconfined into empty MaskedPaths/ReadonlyPaths; the API refuses it
        ("systempaths=unconfined", 'invalid --security-opt 2: "systempaths=unconfined"'),
    ],
)
def test_bad_security_opts_use_dockerds_wording(opt, message):
    with pytest.raises(InvalidParameter) as e:
        parse_security_opts([opt])
    assert str(e.value) == message


def test_apparmor_label_and_seccomp_are_read():
    o = parse_security_opts(["apparmor=docker-default", "label=disable", "seccomp=unconfined", "disable"])
    assert o.apparmor == "docker-default" and o.labels == ["disable", "disable"] and o.seccomp == "unconfined"


# --- profiles --------------------------------------------------------------------------------

OK = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def bad(profile: object, **kw: object) -> str:
    text = profile if isinstance(profile, str) else json.dumps(profile)
    with pytest.raises(InvalidParameter) as e:
        check_seccomp_profile(text, **kw)  # type: ignore[arg-type]
    return str(e.value)


def test_a_good_profile_and_the_builtin_one_pass():
    assert check_seccomp_profile(json.dumps(OK)) == OK
    text = json.dumps(seccomp.builtin_profile())
    assert check_seccomp_profile(text, known_syscall=seccomp.syscall_known)["defaultAction"] == "SCMP_ACT_ERRNO"


def test_profile_faults_are_named():
    assert bad("{not json").startswith("Decoding seccomp profile failed: ")
    assert bad("[1]") == "Decoding seccomp profile failed: the profile is not a JSON object"
    rule = {"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}
    assert 'unknown action "SCMP_ACT_BOGUS"' in bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    assert "syscalls[0] (mkdir)" in bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    assert "defaultAction: unknown action" in bad({"defaultAction": "ALLOW"})
    assert "defaultAction: unknown action" in bad({"syscalls": [OK["syscalls"][0]]})
    assert "SCMP_ACT_NOTIFY needs a seccomp agent" in bad({"defaultAction": "SCMP_ACT_NOTIFY"})
    assert "unknown operator" in bad(
        {**OK, "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "EQ"}]}]}
    )
    assert "argument index 6 is out of range" in bad(
        {**OK, "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]}
    )
    assert "both 'architectures' and 'archMap'" in bad(
        {**OK, "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}
    )
    assert "both 'name' and 'names'" in bad(
        {**OK, "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}
    )
    assert "invalid kernel version" in bad(
        {**OK, "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}
    )
    assert 'unknown architecture "SCMP_ARCH_RISCV64"' in bad({**OK, "architectures": ["SCMP_ARCH_RISCV64"]})
    assert "another byte order" in bad({**OK, "architectures": ["SCMP_ARCH_S390X"]})
    assert "not supported by runc 1.1" in bad({**OK, "flags": ["SECCOMP_FILTER_FLAG_LOG"]})


def test_a_profile_of_another_architectures_syscalls_only_is_refused():
    arm = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_ERRNO"}]}
    msg = bad(arm, known_syscall=seccomp.syscall_known)
    assert "none of its syscalls exist on this host's architecture" in msg and "arm_fadvise64_64" in msg
    # one name this host knows is enough: runc skips the others (newer kernels' names, say)
    mixed = {**arm, "syscalls": [{"names": ["arm_fadvise64_64", "mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    assert check_seccomp_profile(json.dumps(mixed), known_syscall=seccomp.syscall_known)


def test_libseccomp_resolves_names_on_this_host():
    assert seccomp.syscall_known("mkdir") and seccomp.syscall_known("openat")
    assert not seccomp.syscall_known("no_such_syscall")


# --- policy ----------------------------------------------------------------------------------


def test_policy_chooses_the_profile_as_moby_withseccomp():
    p = SecurityPolicy()
    assert p.confinement({}).seccomp == "builtin"
    assert p.confinement({"SecurityOpt": ["seccomp=unconfined"]}).seccomp == "unconfined"
    assert p.confinement({"Privileged": True}).seccomp == "unconfined"
    custom = p.confinement({"Privileged": True, "SecurityOpt": ["seccomp=" + json.dumps(OK)]})
    assert custom.seccomp == "custom" and custom.seccomp_profile == OK
    assert SecurityPolicy(seccomp_profile="unconfined").confinement({}).seccomp == "unconfined"
    daemon = SecurityPolicy(seccomp_profile="/etc/p.json", seccomp_default=OK)
    assert daemon.confinement({}).seccomp_profile == OK
    assert daemon.confinement({"SecurityOpt": ["seccomp=builtin"]}).seccomp == "builtin"


def test_daemon_wide_no_new_privileges_and_the_containers_say():
    p = SecurityPolicy(no_new_privileges=True)
    assert p.confinement({}).no_new_privileges is True
    assert p.confinement({"SecurityOpt": ["no-new-privileges=false"]}).no_new_privileges is False
    assert SecurityPolicy().confinement({"SecurityOpt": ["no-new-privileges"]}).no_new_privileges is True


def test_validate_refuses_a_bad_profile_at_create():
    with pytest.raises(InvalidParameter, match="unknown action"):
        SecurityPolicy().validate({"SecurityOpt": ['seccomp={"defaultAction": "NOPE"}']})
    SecurityPolicy().validate({"SecurityOpt": ["seccomp=builtin", "apparmor=whatever", "label=disable"]})


# --- translation -----------------------------------------------------------------------------


def names(oci: dict, action: str = "SCMP_ACT_ALLOW") -> set[str]:
    return {n for r in oci["syscalls"] if r["action"] == action and not r.get("args") for n in r["names"]}


def test_translation_filters_by_arch_caps_and_kernel():
    prof = seccomp.builtin_profile()
    amd = seccomp.to_oci(prof, DEFAULT_CAPS, arch="amd64", kernel=(6, 1))
    assert amd is not None and amd["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert "arch_prctl" in names(amd) and "arm_fadvise64_64" not in names(amd)
    assert {"ptrace", "process_vm_readv"} <= names(amd)  # minKernel 4.8
    assert "ptrace" not in names(seccomp.to_oci(prof, DEFAULT_CAPS, arch="amd64", kernel=(4, 4)) or {})
    arm = seccomp.to_oci(prof, DEFAULT_CAPS, arch="arm64", kernel=(6, 1))
    assert arm is not None and arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arm_fadvise64_64" in names(arm) and "arch_prctl" not in names(arm)
    # clone3 answers ENOSYS without CAP_SYS_ADMIN (so libc falls back to clone), allowed with it
    assert "clone3" in names(amd, "SCMP_ACT_ERRNO")
    admin = seccomp.to_oci(prof, [*DEFAULT_CAPS, "CAP_SYS_ADMIN"], arch="amd64", kernel=(6, 1))
    assert admin is not None and "clone3" in names(admin) and "clone3" not in names(admin, "SCMP_ACT_ERRNO")
    every = seccomp.to_oci(prof, ALL_CAPS, arch="amd64", kernel=(6, 1))
    assert every is not None and {"reboot", "init_module", "syslog", "bpf", "perf_event_open"} <= names(every)


@pytest.mark.parametrize(
    "x32, expected",
    [
        (True, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        # a kernel without x32: only X32 goes; x86 (int 0x80) is still filtered, not refused whole
        (False, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
    ],
)
def test_translation_leaves_x32_out_only_when_the_kernel_runs_no_x32(x32, expected):
    prof = seccomp.builtin_profile()
    amd = seccomp.to_oci(prof, DEFAULT_CAPS, arch="amd64", kernel=(6, 1), x32=x32)
    assert amd is not None and amd["architectures"] == expected
    # the rules are the same either way: only the architectures they are compiled for differ
    assert amd["syscalls"] == (seccomp.to_oci(prof, DEFAULT_CAPS, arch="amd64", kernel=(6, 1)) or {})["syscalls"]
    # other architectures' archMap entries have no x32 to leave out
    arm = seccomp.to_oci(prof, DEFAULT_CAPS, arch="arm64", kernel=(6, 1), x32=x32)
    assert arm is not None and arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_only_the_builtin_profile_is_trimmed_a_users_profile_is_applied_as_given():
    builtin = seccomp.for_container(Confinement(seccomp="builtin"), DEFAULT_CAPS, x32=False)
    assert builtin is not None and "SCMP_ARCH_X32" not in builtin["architectures"]
    kept = seccomp.for_container(Confinement(seccomp="builtin"), DEFAULT_CAPS, x32=True)
    assert kept is not None and "SCMP_ARCH_X32" in kept["architectures"]
    own = {**seccomp.builtin_profile()}  # e.g. a copy of Docker's default, given with --security-opt
    custom = seccomp.for_container(Confinement(seccomp="custom", seccomp_profile=own), DEFAULT_CAPS, x32=False)
    assert custom is not None and "SCMP_ARCH_X32" in custom["architectures"]
    listed = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]}
    out = seccomp.for_container(Confinement(seccomp="custom", seccomp_profile=listed), [], x32=False)
    assert out is not None and out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
    assert seccomp.for_container(Confinement(seccomp="unconfined"), DEFAULT_CAPS, x32=False) is None


class Probe:
    """Stands in for the x32 getpid syscall: records whether it was made, answers `errno`."""

    def __init__(self, answer: int) -> None:
        self.answer, self.made = answer, False

    def __call__(self) -> int:
        self.made = True
        return self.answer


@pytest.mark.parametrize(
    "machine, pointer_bytes, mode, answer, expected, probed",
    [
        ("x86_64", 8, "0", errno.ENOSYS, False, True),  # CONFIG_X86_X32_ABI unset / syscall.x32=n
        ("x86_64", 8, "0", 0, True, True),  # the getpid answered: x32 runs here
        ("x86_64", 8, "0", errno.EPERM, True, True),  # anything but ENOSYS: keep x32
        ("x86_64", 8, "2", errno.ENOSYS, True, False),  # shimd under a filter: never probed
        ("x86_64", 8, "1", errno.ENOSYS, True, False),  # strict mode
        ("x86_64", 8, None, errno.ENOSYS, True, False),  # no Seccomp line (no CONFIG_SECCOMP)
        ("x86_64", 4, "0", errno.ENOSYS, True, False),  # a 32-bit (or x32) Python on x86_64
        ("aarch64", 8, "0", errno.ENOSYS, True, False),  # other architectures: nothing changes
    ],
)
def test_x32_probe_decision(machine, pointer_bytes, mode, answer, expected, probed):
    probe = Probe(answer)
    assert seccomp.x32_decision(machine, pointer_bytes, mode, probe) is expected
    assert probe.made is probed


def test_translation_of_legacy_name_and_empty_profile():
    legacy = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO"}]}
    out = seccomp.to_oci(legacy, [], arch="amd64", kernel=(6, 1))
    assert out == {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    # moby: neither a default action nor syscalls means seccomp disabled
    assert seccomp.to_oci({}, [], arch="amd64", kernel=(6, 1)) is None


def test_kernel_version_and_arch_parsing():
    assert seccomp.kernel_version("6.18.44-fc-v1272") == (6, 18)
    assert seccomp.kernel_version("3.12-1-amd64") == (3, 12)
    assert seccomp.native_arch("x86_64") == "amd64" and seccomp.native_arch("aarch64") == "arm64"


def test_daemon_cgroupns_default_fills_only_what_the_container_left_empty():
    p = SecurityPolicy(cgroupns_mode="private")
    for hc, want in (({}, "private"), ({"CgroupnsMode": "host"}, "host"), ({"Privileged": True}, "host")):
        p.fill_defaults(hc)
        assert hc["CgroupnsMode"] == want


def test_apparmor_profile_shown_until_the_first_start():
    hc = {"SecurityOpt": ["apparmor=docker-default"]}
    assert SecurityPolicy().apparmor_profile(hc, started=False) == "docker-default"
    assert SecurityPolicy().apparmor_profile(hc, started=True) == ""
    assert SecurityPolicy().apparmor_profile({"SecurityOpt": ["bogus"]}, started=False) == ""
