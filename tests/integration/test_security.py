"""Integration: confinement as a process inside the container sees it (seccomp, no-new-privileges,
capabilities, masked and read-only paths), through the real docker CLI against a real shimd."""

from __future__ import annotations

import json
import os
import struct
import subprocess

import pytest

from shim.runtime import seccomp
from tests.shimd_harness import Shimd

DEFAULT_CAPEFF = "00000000a80425fb"  # dockerd's default set, as /proc/self/status shows it
STATUS = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status"


def status(shimd, *opts: str) -> dict[str, str]:
    out = shimd.cli("run", "--rm", *opts, "busybox", "sh", "-c", STATUS).stdout
    return dict(line.split(":\t", 1) for line in out.strip().splitlines())


def sh(shimd, script: str, *opts: str, check: bool = False):
    return shimd.cli("run", "--rm", *opts, "busybox", "sh", "-c", script, check=check)


def test_default_container_is_confined(shimd):
    st = status(shimd)
    assert st == {"Seccomp": "2", "NoNewPrivs": "0", "CapEff": DEFAULT_CAPEFF}
    r = sh(shimd, "busybox unshare -U true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    # keyctl, bpf, mount in new namespaces…: the default profile answers EPERM
    r = sh(shimd, "busybox unshare -m true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


@pytest.mark.parametrize("opts", [("--security-opt", "seccomp=unconfined"), ("--privileged",)])
def test_unconfined_and_privileged_run_without_a_filter(shimd, opts):
    assert status(shimd, *opts)["Seccomp"] == "0"
    r = sh(shimd, "busybox unshare -U true && echo ok", *opts)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_cap_add_sys_admin_unlocks_what_dockers_profile_unlocks_with_it(shimd):
    r = sh(
        shimd,
        "busybox unshare -U true && mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo ok",
        "--cap-add",
        "SYS_ADMIN",
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    st = status(shimd, "--cap-add", "SYS_ADMIN")
    assert st["Seccomp"] == "2" and int(st["CapEff"], 16) == int(DEFAULT_CAPEFF, 16) | 1 << 21


def test_cap_drop_and_cap_add(shimd):
    assert status(shimd, "--cap-drop", "ALL")["CapEff"] == "0000000000000000"
    dropped = int(status(shimd, "--cap-drop", "CHOWN", "--cap-drop", "net_raw")["CapEff"], 16)
    assert dropped == int(DEFAULT_CAPEFF, 16) & ~(1 << 0) & ~(1 << 13)
    r = sh(shimd, "chown 1 /tmp", "--cap-drop", "CHOWN")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    r = sh(shimd, "ping -c1 -W1 127.0.0.1 >/dev/null && echo ok", "--cap-drop", "ALL", "--cap-add", "NET_RAW")
    assert r.stdout.strip() == "ok", r.stderr


def test_custom_profile_blocking_mkdir_blocks_it(shimd, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))
    opt = f"seccomp={profile}"  # the CLI sends the file's content
    r = sh(shimd, "mkdir /tmp/x", "--security-opt", opt)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert sh(shimd, "touch /tmp/x && echo ok", "--security-opt", opt).stdout.strip() == "ok"
    assert status(shimd, "--security-opt", opt)["Seccomp"] == "2"
    # a privileged container still gets a profile it names itself (moby WithSeccomp)
    r = sh(shimd, "mkdir /tmp/x", "--privileged", "--security-opt", opt)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


@pytest.mark.parametrize(
    "profile, message",
    [
        ("{not json", "Decoding seccomp profile failed"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}',
         'unknown action "SCMP_ACT_NOPE"'),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["arm_fadvise64_64"], "action": "SCMP_ACT_LOG"}]}',
         "none of its syscalls exist on this host's architecture"),
    ],
)  # fmt: skip
def test_bad_profile_is_a_400_at_create_and_nothing_is_created(shimd, unique, profile, message):
    name = unique("badsec")
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": [f"seccomp={profile}"]}}
    status_, _, raw = shimd.http("POST", f"/containers/create?name={name}", body)
    assert status_ == 400 and message in json.loads(raw)["message"]
    assert shimd.http("GET", f"/containers/{name}/json")[0] == 404


def test_bad_security_opt_is_refused_with_dockerds_wording(shimd):
    r = shimd.cli("create", "--security-opt", "no-new-privileges=banana", "busybox", check=False)
    assert r.returncode != 0 and 'invalid --security-opt 2: "no-new-privileges=banana"' in r.stderr


def test_no_new_privileges(shimd):
    assert status(shimd, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert status(shimd, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"


def test_masked_and_readonly_paths(shimd):
    # /proc/kcore is masked too; this VM's kernel has none (no CONFIG_PROC_KCORE), /proc/timer_list it has
    script = (
        "if [ -e /proc/kcore ]; then wc -c < /proc/kcore; else echo none; fi; wc -c < /proc/timer_list; "
        "ls -A /sys/firmware | wc -l; grep -c ' /proc/sys ro,' /proc/self/mountinfo; "
        "echo 1 > /proc/sys/kernel/domainname && echo wrote"
    )
    r = sh(shimd, script)
    kcore, timer_list, firmware, ro_mounts = r.stdout.split()[:4]
    assert kcore == ("0" if os.path.exists("/proc/kcore") else "none")
    assert (timer_list, firmware, ro_mounts) == ("0", "0", "1"), r.stdout + r.stderr
    assert "Read-only file system" in r.stderr and "wrote" not in r.stdout
    # --security-opt systempaths=unconfined: the CLI sends empty MaskedPaths/ReadonlyPaths
    r = sh(shimd, script, "--security-opt", "systempaths=unconfined")
    _, timer_list, firmware, ro_mounts = r.stdout.split()[:4]
    assert int(timer_list) > 0 and int(firmware) > 0 and ro_mounts == "0", r.stdout + r.stderr
    assert "wrote" in r.stdout
    cid = shimd.cli("create", "--security-opt", "systempaths=unconfined", "busybox").stdout.strip()
    try:
        shown = shimd.cli("inspect", "-f", "{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}}", cid)
        assert shown.stdout.split() == ["[]", "[]"]
    finally:
        shimd.cli("rm", cid)


def test_apparmor_option_is_accepted_on_a_host_without_apparmor(shimd):
    # as dockerd without AppArmor in the kernel: the option is kept in HostConfig and has no effect
    r = sh(shimd, "cat /proc/self/attr/current 2>/dev/null; echo ok", "--security-opt", "apparmor=docker-default")
    assert r.returncode == 0 and r.stdout.strip().endswith("ok")


def test_info_security_options(shimd):
    info = json.loads(shimd.http("GET", "/info")[2])
    assert info["SecurityOptions"] == ["name=seccomp,profile=builtin"]
    assert info["Warnings"] is None


def test_userns_host_is_accepted(shimd):
    assert sh(shimd, "echo ok", "--userns", "host").stdout.strip() == "ok"


def test_daemon_wide_unconfined_and_no_new_privileges(tmp_path):
    d = Shimd()
    try:
        (d.base / "daemon.json").write_text(json.dumps({"no-new-privileges": True}))
        d.start(["--seccomp-profile", "unconfined"])
        d.load_busybox()
        info = json.loads(d.http("GET", "/info")[2])
        assert info["SecurityOptions"] == ["name=seccomp,profile=unconfined", "name=no-new-privileges"]
        assert "WARNING: daemon is not using the default seccomp profile" in info["Warnings"]
        assert status(d) == {"Seccomp": "0", "NoNewPrivs": "1", "CapEff": DEFAULT_CAPEFF}
        # a container still asks for the builtin profile, or out of no-new-privileges
        st = status(d, "--security-opt", "seccomp=builtin", "--security-opt", "no-new-privileges=false")
        assert (st["Seccomp"], st["NoNewPrivs"]) == ("2", "0")
    finally:
        d.destroy()


def test_daemon_wide_profile_file(tmp_path):
    profile = tmp_path / "p.json"
    rules = [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}))
    d = Shimd()
    try:
        (d.base / "daemon.json").write_text(json.dumps({"seccomp-profile": str(profile)}))
        d.start()
        d.load_busybox()
        info = json.loads(d.http("GET", "/info")[2])
        assert info["SecurityOptions"] == [f"name=seccomp,profile={profile}"]
        r = sh(d, "mkdir /tmp/x")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        assert sh(d, "mkdir /tmp/x && echo ok", "--security-opt", "seccomp=unconfined").stdout.strip() == "ok"
    finally:
        d.destroy()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seccomp-profile", "/nonexistent/p.json"], "opening seccomp profile (/nonexistent/p.json) failed"),
        (["--userns-remap", "default"], "user namespace remapping (userns-remap) is not supported"),
        (["--default-cgroupns-mode", "shared"], 'invalid default cgroup namespace (shared): use "host" or "private"'),
    ],
)
def test_daemon_refuses_what_it_cant_honour(args, message):
    d = Shimd()
    try:
        with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            d.start(args)
    finally:
        d.destroy()


def test_exec_runs_under_the_containers_filter(shimd, unique):
    name = unique("secexec")
    shimd.cli("run", "-d", "--name", name, "busybox", "sleep", "100")
    try:
        assert "Seccomp:\t2" in shimd.cli("exec", name, "grep", "Seccomp:", "/proc/self/status").stdout
        r = shimd.cli("exec", name, "busybox", "unshare", "-U", "true", check=False)
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
    finally:
        shimd.cli("rm", "-f", name)


# --- 32-bit entry points on x86_64 (docs/SECURITY.md, "x32") -----------------------------------


def _syscall_exit_elf(nr: int, arg: int, entry: bytes) -> bytes:
    """A static x86_64 ELF that makes one syscall (`nr`, first argument `arg`) through `entry`
    (`syscall`, or `int 0x80`: the i386 table) and exits with the low byte of its result: a
    process inside sees exactly which answer its filter gave (-EPERM 255, -ENOSYS 218)."""
    code = b"\xb8" + struct.pack("<I", nr) + b"\xbb" + struct.pack("<I", arg) + b"\x89\xdf" + entry
    code += b"\x89\xc7\xb8\x3c\x00\x00\x00\x0f\x05"  # mov edi, eax; mov eax, 60 (exit); syscall
    base, head = 0x400000, 64 + 56
    size = head + len(code)
    # ELF64 header (ET_EXEC, EM_X86_64) and one PT_LOAD r-x segment: the whole file at `base`
    ehdr = struct.pack(
        "<4s5B7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, 0x3E, 1, base + head, 64, 0, 0, 64, 56, 1, 0, 0, 0
    )
    return ehdr + struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000) + code


SYSCALL, INT80 = b"\x0f\x05", b"\xcd\x80"
X32_GETPID = (0x40000000 | 39, 0, SYSCALL)  # x32's getpid: x86_64's number with the x32 bit
I386_GETPID = (20, 0, INT80)
I386_UNSHARE_USER = (310, 0x10000000, INT80)  # unshare(CLONE_NEWUSER): refused by the default profile
KILLED_BY_SIGSYS, ENOSYS_LOW_BYTE, EPERM_LOW_BYTE = 128 + 31, 256 - 38, 256 - 1


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    d = tmp_path_factory.mktemp("probes")
    for name, call in {"x32_getpid": X32_GETPID, "i386_getpid": I386_GETPID, "i386_unshare": I386_UNSHARE_USER}.items():
        (d / name).write_bytes(_syscall_exit_elf(*call))
        (d / name).chmod(0o755)
    return d


def _exit_of(shimd, probes, name: str, *opts: str) -> int:
    return shimd.cli("run", "--rm", "-v", f"{probes}:/p:ro", *opts, "busybox", f"/p/{name}", check=False).returncode


def test_x32_and_i386_entries_get_what_the_default_filter_says(shimd, probes):
    # the kernel's own answer, outside any filter: this test process is unfiltered
    host = subprocess.run([str(probes / "x32_getpid")]).returncode
    x32_runs = host != ENOSYS_LOW_BYTE
    # on a kernel without x32 shimd leaves X32 out of Docker's default profile, so the filter's
    # bad-arch action (runc 1.1: libseccomp's default, kill) answers; with x32 the call is allowed
    assert _exit_of(shimd, probes, "x32_getpid") == (1 if x32_runs else KILLED_BY_SIGSYS)
    assert _exit_of(shimd, probes, "x32_getpid", "--security-opt", "seccomp=unconfined") == (
        1 if x32_runs else ENOSYS_LOW_BYTE
    )
    # a profile the user gives is applied with the architectures it names (Docker's default has X32)
    own = os.path.join(os.path.dirname(seccomp.__file__), "profiles", "seccomp-default.json")
    assert _exit_of(shimd, probes, "x32_getpid", "--security-opt", f"seccomp={own}") == (
        1 if x32_runs else ENOSYS_LOW_BYTE
    )
    # the i386 table (int 0x80) is still filtered rule by rule, not refused whole
    assert _exit_of(shimd, probes, "i386_getpid") == 1
    assert _exit_of(shimd, probes, "i386_unshare") == EPERM_LOW_BYTE
    assert _exit_of(shimd, probes, "i386_unshare", "--security-opt", "seccomp=unconfined") == 0


def test_cgroupns_private_and_host(shimd):
    host_ns = os.readlink("/proc/self/ns/cgroup")
    assert sh(shimd, "readlink /proc/self/ns/cgroup").stdout.strip() == host_ns
    assert sh(shimd, "readlink /proc/self/ns/cgroup", "--cgroupns", "private").stdout.strip() != host_ns
    # inside its own cgroup namespace the container's cgroups are the root
    assert sh(shimd, "grep pids /proc/self/cgroup", "--cgroupns", "private").stdout.strip().endswith(":/")
    body = {"Image": "busybox", "HostConfig": {"CgroupnsMode": "bogus"}}
    status_, _, raw = shimd.http("POST", "/containers/create", body)
    assert (status_, json.loads(raw)["message"]) == (400, "invalid cgroup namespace mode: bogus")


def test_daemon_default_cgroupns_private():
    d = Shimd()
    try:
        d.start(["--default-cgroupns-mode", "private"])
        d.load_busybox()
        info = json.loads(d.http("GET", "/info")[2])
        assert info["SecurityOptions"] == ["name=seccomp,profile=builtin", "name=cgroupns"]
        host_ns = os.readlink("/proc/self/ns/cgroup")
        assert sh(d, "readlink /proc/self/ns/cgroup").stdout.strip() != host_ns
        assert sh(d, "readlink /proc/self/ns/cgroup", "--cgroupns", "host").stdout.strip() == host_ns
        cid = d.cli("create", "busybox").stdout.strip()
        assert d.cli("inspect", "-f", "{{.HostConfig.CgroupnsMode}}", cid).stdout.strip() == "private"
        d.cli("rm", cid)
    finally:
        d.destroy()
