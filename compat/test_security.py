"""Confinement as a process inside the container sees it: Docker's default seccomp profile and its
opt-outs, custom profiles, no-new-privileges, capabilities, masked and read-only system paths, and
what dockerd's defaults let a non-root user do (ports below 1024, ping) and the OOM score.

Every scenario reads /proc from inside a busybox container, so it holds for any engine that runs
real Linux containers with runc. Hosts without AppArmor (these) are assumed where it matters.
"""

import json
import os

import pytest

from compat.lib import LISTEN_ONCE, V

pytestmark = pytest.mark.feature("security")

DEFAULT_CAPEFF = "00000000a80425fb"  # Docker's 14 default capabilities
STATUS = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status"


def status(eng, *opts):
    p = sh(eng, STATUS, *opts)
    assert p.returncode == 0, p.stderr
    return dict(line.split(":\t", 1) for line in p.stdout.strip().splitlines())


def sh(eng, script, *opts):
    p = eng.cli("run", "--rm", *opts, "busybox", "sh", "-c", script)
    if "--privileged" in opts and "unable to apply caps" in p.stderr:
        # dockerd gives a privileged container every capability; this VM's bounding set lacks one
        # (CAP_SYS_RESOURCE), so runc can't (shimd gives the ones it holds)
        pytest.skip("the engine can't start privileged containers on this host: " + p.stderr.strip()[:200])
    return p


def profile_file(tmp_path, rules, default="SCMP_ACT_ALLOW"):
    f = tmp_path / "profile.json"
    f.write_text(json.dumps({"defaultAction": default, "syscalls": rules}))
    return str(f)


# ------------------------------------------------------------------ seccomp


def test_default_container_runs_under_seccomp_filter(eng):
    """A default container: Seccomp 2 (a filter), NoNewPrivs 0, Docker's default capabilities."""
    assert status(eng) == {"Seccomp": "2", "NoNewPrivs": "0", "CapEff": DEFAULT_CAPEFF}


def test_default_profile_blocks_new_user_namespaces(eng):
    """`unshare -U` in a default container: Operation not permitted (the profile answers EPERM)."""
    p = sh(eng, "busybox unshare -U true")
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


def test_default_profile_blocks_clone_with_namespace_flags_but_not_fork(eng):
    """clone's argument filter: a plain fork works, a new mount namespace is refused."""
    p = sh(eng, "(echo forked) && busybox unshare -m true")
    assert p.stdout.strip() == "forked" and p.returncode != 0 and "Operation not permitted" in p.stderr


@pytest.mark.parametrize(
    "opts", [("--security-opt", "seccomp=unconfined"), ("--privileged",)], ids=["unconfined", "privileged"]
)
def test_unconfined_and_privileged_have_no_filter(eng, opts):
    """seccomp=unconfined and --privileged: Seccomp 0, and `unshare -U` works."""
    assert status(eng, *opts)["Seccomp"] == "0"
    p = sh(eng, "busybox unshare -U true && echo ok", *opts)
    assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr


def test_cap_sys_admin_unlocks_the_namespace_syscalls(eng):
    """--cap-add SYS_ADMIN: still filtered, but the profile's CAP_SYS_ADMIN rules allow unshare/mount."""
    st = status(eng, "--cap-add", "SYS_ADMIN")
    assert st["Seccomp"] == "2" and int(st["CapEff"], 16) == int(DEFAULT_CAPEFF, 16) | 1 << 21
    p = sh(
        eng,
        "busybox unshare -U true && mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo ok",
        "--cap-add",
        "SYS_ADMIN",
    )
    assert p.stdout.strip() == "ok", p.stderr


def test_custom_profile_blocking_mkdir(eng, tmp_path):
    """--security-opt seccomp=FILE (the CLI sends the file's content): mkdir is refused, the rest works."""
    opt = "seccomp=" + profile_file(tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    p = sh(eng, "touch /tmp/f && mkdir /tmp/d", "--security-opt", opt)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr
    assert sh(eng, "touch /tmp/f && echo ok", "--security-opt", opt).stdout.strip() == "ok"


def test_custom_profile_with_errno_ret(eng, tmp_path):
    """errnoRet picks the error a blocked syscall returns (here EACCES)."""
    opt = "seccomp=" + profile_file(
        tmp_path, [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    )
    p = sh(eng, "mkdir /tmp/d", "--security-opt", opt)
    assert p.returncode != 0 and "Permission denied" in p.stderr


def test_profile_that_is_not_json_is_refused_by_the_cli(eng, tmp_path):
    """The CLI reads the profile and refuses a file that is not JSON before asking the engine."""
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    name = eng.name("c")
    p = eng.cli("create", "--name", name, "--security-opt", f"seccomp={bad}", "busybox")
    assert p.returncode != 0 and "seccomp profile" in p.stderr
    assert eng.http("GET", f"{V}/containers/{name}/json").status == 404


def test_profile_with_unknown_action_never_runs(eng, tmp_path):
    """An unknown action: `docker run` fails naming it (shimd at create, dockerd when runc loads it)."""
    opt = "seccomp=" + profile_file(tmp_path, [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}])
    p = eng.cli("run", "--rm", "--name", eng.name("c"), "--security-opt", opt, "busybox", "true")
    assert p.returncode != 0 and "SCMP_ACT_NOPE" in p.stderr


def test_security_opt_is_kept_in_hostconfig(eng):
    """The option as given stays in HostConfig.SecurityOpt."""
    name = eng.name("c")
    eng.out(
        "create",
        "--name",
        name,
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        "busybox",
    )
    assert eng.inspect(name)["HostConfig"]["SecurityOpt"] == ["seccomp=unconfined", "no-new-privileges"]


def test_bad_security_opt_wording(eng):
    """An unknown key and a bad no-new-privileges value: dockerd's `invalid --security-opt 2`
    (dockerd answers 500, its error is not typed; shimd 400: both accepted); nothing is created."""
    for opt in ("bogus=1", "no-new-privileges=banana"):
        body = {"Image": "busybox", "HostConfig": {"SecurityOpt": [opt]}}
        name = eng.name("c")
        r = eng.http("POST", f"{V}/containers/create?name={name}", body=body)
        assert r.status in (400, 500) and r.message == f'invalid --security-opt 2: "{opt}"'
        assert eng.http("GET", f"{V}/containers/{name}/json").status == 404
    r = eng.http("POST", f"{V}/containers/create", body={"Image": "busybox", "HostConfig": {"SecurityOpt": ["bogus"]}})
    assert r.status in (400, 500) and r.message == 'invalid --security-opt 1: "bogus"'


def test_info_lists_seccomp(eng):
    """docker info: seccomp with its profile (20.10 calls the builtin one `default`, newer dockerd `builtin`)."""
    opts = eng.http("GET", f"{V}/info").json()["SecurityOptions"]
    seccomp = [o for o in opts if o.startswith("name=seccomp,")]
    assert seccomp in (["name=seccomp,profile=builtin"], ["name=seccomp,profile=default"])
    assert not [o for o in opts if o.startswith(("name=apparmor", "name=userns", "name=rootless"))]


# ------------------------------------------------------------------ no-new-privileges, capabilities


def test_no_new_privileges(eng):
    """--security-opt no-new-privileges: NoNewPrivs 1 (=true, =false as written)."""
    assert status(eng, "--security-opt", "no-new-privileges")["NoNewPrivs"] == "1"
    assert status(eng, "--security-opt", "no-new-privileges=true")["NoNewPrivs"] == "1"
    assert status(eng, "--security-opt", "no-new-privileges=false")["NoNewPrivs"] == "0"


def test_cap_drop_all_and_cap_add(eng):
    """--cap-drop ALL leaves none; --cap-add adds to what remains; --cap-drop CHOWN makes chown fail."""
    assert status(eng, "--cap-drop", "ALL")["CapEff"] == "0000000000000000"
    assert status(eng, "--cap-drop", "ALL", "--cap-add", "NET_RAW")["CapEff"] == "0000000000002000"
    p = sh(eng, "chown 1 /tmp", "--cap-drop", "CHOWN")
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


# ------------------------------------------------------------------ masked and read-only paths

PATHS = (
    "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; grep -c ' /proc/sys ro,' /proc/self/mountinfo; "
    "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo wrote || echo refused"
)


def test_masked_and_readonly_system_paths(eng):
    """Masked: /proc/timer_list reads empty, /sys/firmware is empty; /proc/sys is a read-only mount."""
    assert sh(eng, PATHS).stdout.split() == ["0", "0", "1", "refused"]


def test_systempaths_unconfined(eng):
    """--security-opt systempaths=unconfined: nothing masked, /proc/sys writable; HostConfig shows []."""
    out = sh(eng, PATHS, "--security-opt", "systempaths=unconfined").stdout.split()
    assert int(out[0]) > 0 and int(out[1]) > 0 and out[2:] == ["0", "wrote"]
    name = eng.name("c")
    eng.out("create", "--name", name, "--security-opt", "systempaths=unconfined", "busybox")
    hc = eng.inspect(name)["HostConfig"]
    assert (hc["MaskedPaths"], hc["ReadonlyPaths"]) == ([], [])


def test_masked_paths_in_inspect(eng):
    """A default container's HostConfig lists the masked and read-only paths."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox")
    hc = eng.inspect(name)["HostConfig"]
    assert {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"} <= set(hc["MaskedPaths"])
    assert {"/proc/sys", "/proc/sysrq-trigger"} <= set(hc["ReadonlyPaths"])


def test_privileged_masks_nothing(eng):
    """--privileged: no masked paths, /proc/sys not read-only."""
    out = sh(eng, PATHS, "--privileged").stdout.split()
    assert int(out[0]) > 0 and out[2:] == ["0", "wrote"]


# ------------------------------------------------------------------ AppArmor (a host without it)


def test_apparmor_option_on_a_host_without_apparmor(eng):
    """apparmor=PROFILE is accepted and does nothing where the kernel has no AppArmor."""
    created = eng.name("c")
    eng.out("create", "--name", created, "--security-opt", "apparmor=docker-default", "busybox")
    # kept from create until the first start, which clears it (no AppArmor to apply)
    assert eng.inspect(created)["AppArmorProfile"] == "docker-default"
    name = eng.name("c")
    p = eng.cli("run", "--name", name, "--security-opt", "apparmor=docker-default", "busybox", "echo", "ok")
    assert (p.returncode, p.stdout.strip()) == (0, "ok"), p.stderr
    c = eng.inspect(name)
    assert c["HostConfig"]["SecurityOpt"] == ["apparmor=docker-default"] and c["AppArmorProfile"] == ""


# ------------------------------------------------------------------ cgroup namespace


def test_cgroupns_host_by_default_and_private_on_request(eng):
    """cgroup v1 hosts: containers share the host's cgroup namespace unless --cgroupns private."""
    host_ns = os.readlink("/proc/self/ns/cgroup")
    assert sh(eng, "readlink /proc/self/ns/cgroup").stdout.strip() == host_ns
    private = sh(eng, "readlink /proc/self/ns/cgroup; grep pids /proc/self/cgroup", "--cgroupns", "private")
    ns, pids = private.stdout.split()
    assert ns != host_ns and pids.endswith(":/")


# ------------------------------------------------------------------ defaults a non-root user gets
# dockerd 20.10 and later (moby daemon/oci_linux.go WithCommonOptions, WithSysctls, WithOOMScore):
# a container with a network namespace of its own (default bridge, a user network, `none`) has
# net.ipv4.ip_unprivileged_port_start=0 (a non-root user binds port 80) and
# net.ipv4.ping_group_range=0 2147483647 (ping without CAP_NET_RAW, over an ICMP datagram socket:
# read here, not pinged, as busybox's ping has no such fallback); `--sysctl` wins; `--network
# host` and `container:<name>` leave the namespace's values alone. /proc/1/oom_score_adj is 0 or
# `--oom-score-adj`, whatever the daemon's own score.

DEFAULTS = ["0\t2147483647", "0"]
NOBODY = ("-u", "65534")
VALUES = ("cat", "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/net/ipv4/ip_unprivileged_port_start")

SERVED = ["client got: bound", "server exited 0"]


def values(eng, *opts):
    p = eng.cli("run", "--rm", *opts, "busybox", *VALUES)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def listen(eng, port, *opts):
    return eng.cli("run", "--rm", *opts, *NOBODY, "busybox", "sh", "-c", LISTEN_ONCE, "sh", str(port))


def host_values():
    out = []
    for path in VALUES[1:]:
        with open(path) as f:
            out.append(f.read().rstrip("\n"))
    return out


def test_non_root_user_binds_port_80(eng):
    """Default network, `-u 65534`: both sysctls read dockerd's values, and nc binds port 80."""
    assert values(eng) == DEFAULTS
    p = listen(eng, 80)
    assert (p.returncode, p.stdout.splitlines()) == (0, SERVED), p.stderr


@pytest.mark.feature("net_modes", "networks")
def test_user_network_and_network_none_get_them_too(eng):
    """A user-defined network and `--network none` are namespaces of their own: the same values."""
    net = eng.name("net")
    eng.out("network", "create", net)
    assert values(eng, "--network", net) == DEFAULTS
    assert values(eng, "--network", "none") == DEFAULTS
    p = listen(eng, 80, "--network", "none")
    assert (p.returncode, p.stdout.splitlines()) == (0, SERVED), p.stderr


def test_sysctl_option_wins_over_the_defaults(eng):
    """`--sysctl` values replace the defaults: port 80 is refused to a non-root user, 1000 is not."""
    opts = ("--sysctl", "net.ipv4.ip_unprivileged_port_start=1000", "--sysctl", "net.ipv4.ping_group_range=1 0")
    assert values(eng, *opts) == ["1\t0", "1000"]
    p = listen(eng, 80, *opts)
    assert (p.returncode, p.stdout.splitlines()) == (3, ["server exited 1"]), p.stdout
    assert "bind: Permission denied" in p.stderr
    p = listen(eng, 1000, *opts)
    assert (p.returncode, p.stdout.splitlines()) == (0, SERVED), p.stderr


@pytest.mark.feature("net_modes")
def test_host_network_keeps_the_hosts_values(eng):
    """`--network host`: the container reads the host's own values, and they stay as they were."""
    host = host_values()
    if host == DEFAULTS:
        pytest.skip("this host already has dockerd's values: a host-network container could not tell")
    assert values(eng, "--network", "host") == host
    assert host_values() == host


@pytest.mark.feature("networks")
def test_joined_network_namespace_keeps_its_values(eng):
    """`--network container:<name>` sets nothing: the joiner reads what the owner's namespace has."""
    owner = eng.name("c")
    eng.out(
        "run", "-d", "--name", owner, "--sysctl", "net.ipv4.ip_unprivileged_port_start=1000", "busybox", "sleep", "300"
    )
    assert values(eng, "--network", f"container:{owner}") == ["0\t2147483647", "1000"]


def test_oom_score_adj_is_zero_or_the_option(eng):
    """PID 1's oom_score_adj: 0 by default (not the daemon's own), `--oom-score-adj` when given."""
    assert eng.cli("run", "--rm", "busybox", "cat", "/proc/1/oom_score_adj").stdout == "0\n"
    assert eng.cli("run", "--rm", "--oom-score-adj=200", "busybox", "cat", "/proc/1/oom_score_adj").stdout == "200\n"
