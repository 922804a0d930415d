"""Unit: RunRequest -> OCI config.json, as dockerd builds it (shim/runtime/oci_spec.py)."""

from __future__ import annotations

import os

import pytest

from shim.engine.ports import Confinement, MountSpec, RunRequest
from shim.errors import InvalidParameter
from shim.runtime import oci_host, oci_spec
from shim.runtime.oci_spec import DEFAULT_CAPS, HostFacts, ResolvedUser, build_spec


def req(**hc) -> RunRequest:
    return RunRequest(
        id="abc123",
        name="c1",
        layer_dirs=["/l1"],
        args=["sh", "-c", "echo hi"],
        env=["PATH=/bin", "HOSTNAME=abc"],
        cwd="/work",
        user="",
        hostname="abc",
        domainname="",
        tty=False,
        open_stdin=False,
        stdin_once=False,
        config={},
        host_config=hc,
    )


FACTS = HostFacts(
    available_caps=[c for c in oci_spec.ALL_CAPS if c != "CAP_SYS_RESOURCE"],
    hard_rlimits={"RLIMIT_NOFILE": 20000, "RLIMIT_NPROC": -1},
    host_devices=[{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}],
)


def spec(r: RunRequest | None = None, **hc) -> dict:
    return build_spec(r or req(**hc), "/rootfs", ResolvedUser(1000, 1000, [10]), FACTS)


def test_process_basics():
    s = spec()
    p = s["process"]
    assert p["args"] == ["sh", "-c", "echo hi"]
    assert p["env"] == ["PATH=/bin", "HOSTNAME=abc"]
    assert p["cwd"] == "/work"
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    assert p["terminal"] is False
    assert p["noNewPrivileges"] is False
    assert "rlimits" not in p
    assert s["hostname"] == "abc"
    assert s["root"] == {"path": "/rootfs", "readonly": False}
    assert s["linux"]["cgroupsPath"] == "/shim/abc123"


@pytest.mark.parametrize(
    "hc, expected",
    [
        ({}, DEFAULT_CAPS),
        ({"CapDrop": ["ALL"]}, []),
        ({"CapDrop": ["ALL"], "CapAdd": ["net_admin"]}, ["CAP_NET_ADMIN"]),
        ({"CapDrop": ["chown", "CAP_KILL"]}, [c for c in DEFAULT_CAPS if c not in ("CAP_CHOWN", "CAP_KILL")]),
        ({"CapAdd": ["SYS_ADMIN"]}, [*DEFAULT_CAPS, "CAP_SYS_ADMIN"]),
        ({"CapAdd": ["CAP_CHOWN"]}, DEFAULT_CAPS),
        # the daemon lacks CAP_SYS_RESOURCE: never handed out (capset would fail)
        ({"CapAdd": ["SYS_RESOURCE"]}, DEFAULT_CAPS),
    ],
)
def test_capabilities(hc, expected):
    caps = spec(**hc)["process"]["capabilities"]
    assert caps["bounding"] == expected
    assert caps["effective"] == expected
    assert caps["permitted"] == expected


def test_cap_add_all_minus_drop():
    caps = spec(CapAdd=["ALL"], CapDrop=["MKNOD"])["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in caps and "CAP_MKNOD" not in caps and "CAP_SYS_RESOURCE" not in caps


def test_unknown_capability():
    with pytest.raises(InvalidParameter, match='unknown capability: "CAP_NOPE"'):
        spec(CapAdd=["nope"])


def test_masked_readonly_and_devices_default():
    s = spec()
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert s["linux"]["readonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    rules = s["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in rules
    assert s["linux"]["devices"] == []


def test_privileged():
    s = spec(Privileged=True)
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert s["linux"]["devices"] == FACTS.host_devices
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


def test_default_mounts_and_shm():
    s = spec()
    dests = [m["destination"] for m in s["mounts"]]
    assert dests == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
    shm = s["mounts"][-1]
    assert "size=67108864" in shm["options"]
    shm = spec(ShmSize=1048576)["mounts"][-1]
    assert "size=1048576" in shm["options"]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]


def test_user_mounts_replace_and_sort():
    r = req()
    r.mounts = [
        MountSpec("/data/sub", "/h/sub", options=["ro"]),
        MountSpec("/dev/shm", "/h/shm"),
        MountSpec("/data", "/h/data"),
    ]
    s = spec(r)
    dests = [m["destination"] for m in s["mounts"]]
    assert dests.count("/dev/shm") == 1
    assert dests.index("/data") < dests.index("/data/sub")
    sub = next(m for m in s["mounts"] if m["destination"] == "/data/sub")
    assert sub["options"] == ["rbind", "ro", "rprivate"] and sub["type"] == "bind"
    r.mounts = [
        MountSpec("/data", "/h/data", options=["bind", "rshared"]),
        MountSpec("/t", "tmpfs", type="tmpfs", options=["size=1m"]),
    ]
    by_dest = {m["destination"]: m for m in spec(r)["mounts"]}
    assert by_dest["/data"]["options"] == ["bind", "rshared"]
    assert by_dest["/t"] == {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}


@pytest.mark.parametrize(
    "hc, expected",
    [
        ({"Memory": 33554432}, {"memory": {"limit": 33554432, "swap": 67108864}}),
        ({"Memory": 33554432, "MemorySwap": -1}, {"memory": {"limit": 33554432, "swap": -1}}),
        ({"Memory": 33554432, "MemorySwap": 50000000}, {"memory": {"limit": 33554432, "swap": 50000000}}),
        ({"MemoryReservation": 1000000}, {"memory": {"reservation": 1000000}}),
        ({"OomKillDisable": True}, {"memory": {"disableOOMKiller": True}}),
        ({"NanoCpus": 1_500_000_000}, {"cpu": {"period": 100000, "quota": 150000}}),
        (
            {"CpuShares": 512, "CpuQuota": 50000, "CpuPeriod": 200000},
            {"cpu": {"shares": 512, "quota": 50000, "period": 200000}},
        ),
        ({"CpusetCpus": "0", "CpusetMems": "0"}, {"cpu": {"cpus": "0", "mems": "0"}}),
        ({"PidsLimit": 10}, {"pids": {"limit": 10}}),
        ({"PidsLimit": -1}, {"pids": {"limit": -1}}),
        ({"PidsLimit": 0}, {}),
        ({"BlkioWeight": 300}, {"blockIO": {"weight": 300}}),
    ],
)
def test_resources(hc, expected):
    res = spec(**hc)["linux"]["resources"]
    res.pop("devices")
    assert res == expected


def test_no_swap_accounting():
    facts = HostFacts(swap_accounting=False)
    s = build_spec(req(Memory=33554432), "/r", ResolvedUser(), facts)
    assert s["linux"]["resources"]["memory"] == {"limit": 33554432}


@pytest.mark.parametrize(
    "ulimit, expected",
    [
        ({"Name": "nofile", "Soft": 1024, "Hard": 4096}, {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}),
        # above the daemon's hard limit of 20000: clamped, so the container still starts
        ({"Name": "nofile", "Soft": 65536, "Hard": 1048576}, {"type": "RLIMIT_NOFILE", "soft": 20000, "hard": 20000}),
        ({"Name": "nofile", "Soft": 1024, "Hard": 1048576}, {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 20000}),
        ({"Name": "nproc", "Soft": 100, "Hard": 200}, {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}),
    ],
)
def test_rlimits(ulimit, expected):
    assert spec(Ulimits=[ulimit])["process"]["rlimits"] == [expected]


def test_bad_ulimit():
    with pytest.raises(InvalidParameter):
        spec(Ulimits=[{"Name": "bogus", "Soft": 1, "Hard": 1}])


@pytest.mark.parametrize(
    "hc, netns, expected",
    [
        ({}, None, ["mount", "pid", "ipc", "uts", "network"]),
        ({}, "host", ["mount", "pid", "ipc", "uts"]),
        ({"PidMode": "host", "IpcMode": "host", "UTSMode": "host"}, None, ["mount", "network"]),
    ],
)
def test_namespaces(hc, netns, expected):
    r = req(**hc)
    r.netns_path = netns
    s = spec(r)
    assert [n["type"] for n in s["linux"]["namespaces"]] == expected
    assert ("hostname" in s) == (hc.get("UTSMode") != "host")


def test_netns_path():
    r = req()
    r.netns_path = "/run/netns/x"
    assert {"type": "network", "path": "/run/netns/x"} in spec(r)["linux"]["namespaces"]


def test_ipc_host_binds_dev_shm():
    shm = spec(IpcMode="host")["mounts"][-1]
    assert shm["source"] == "/dev/shm" and shm["type"] == "bind"


def test_init_tini():
    s = spec(Init=True)
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sh", "-c", "echo hi"]
    init = next(m for m in s["mounts"] if m["destination"] == "/sbin/docker-init")
    assert init["source"] == "/usr/bin/tini-static" and "ro" in init["options"]


@pytest.mark.parametrize("nnp", [False, True])
def test_no_new_privileges_comes_from_the_engines_confinement(nnp):
    r = req()
    r.confinement = Confinement(no_new_privileges=nnp)
    assert spec(r)["process"]["noNewPrivileges"] is nnp


def test_default_container_gets_dockers_default_seccomp_profile():
    sc = spec()["linux"]["seccomp"]
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO" and sc["defaultErrnoRet"] == 1
    allowed = {n for r in sc["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}
    assert {"read", "mkdir", "execve"} <= allowed
    # CAP_SYS_ADMIN-only syscalls stay out for the default capability set
    assert not {"unshare", "mount", "setns", "bpf", "keyctl"} & allowed
    clone = [r for r in sc["syscalls"] if r["names"] == ["clone"]]
    assert clone and clone[0]["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]


def test_capabilities_unlock_the_profiles_conditional_rules():
    sc = spec(CapAdd=["SYS_ADMIN", "SYS_PTRACE"])["linux"]["seccomp"]
    allowed = {n for r in sc["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}
    assert {"unshare", "mount", "setns", "clone", "kcmp", "pidfd_getfd"} <= allowed
    # with CAP_SYS_ADMIN, clone is allowed whole: the argument-filtered rule is excluded
    assert not [r for r in sc["syscalls"] if r["names"] == ["clone"] and r.get("args")]


@pytest.mark.parametrize("x32", [True, False])
def test_the_host_fact_x32_abi_decides_the_default_profiles_architectures(x32):
    facts = HostFacts(available_caps=FACTS.available_caps, x32_abi=x32)
    sc = build_spec(req(), "/rootfs", ResolvedUser(), facts)["linux"]["seccomp"]
    expected = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", *(["SCMP_ARCH_X32"] if x32 else [])]
    assert sc["architectures"] == expected


def test_unconfined_and_privileged_have_no_seccomp_section():
    r = req()
    r.confinement = Confinement(seccomp="unconfined")
    assert "seccomp" not in spec(r)["linux"]


def test_custom_profile_is_rendered():
    r = req()
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    r.confinement = Confinement(seccomp="custom", seccomp_profile=profile)
    assert spec(r)["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }


def test_misc_fields():
    r = req(
        ReadonlyRootfs=True,
        Sysctls={"net.ipv4.ip_forward": "1"},
        CgroupParent="/custom",
        ConsoleSize=[30, 100],
        OomScoreAdj=100,
        DeviceCgroupRules=["c 42:* rmw"],
    )
    r.tty = True
    r.domainname = "example.com"
    s = spec(r)
    assert s["root"]["readonly"] is True
    assert s["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
        "net.ipv4.ip_forward": "1",
    }
    assert s["linux"]["cgroupsPath"] == "/custom/abc123"
    assert s["process"]["consoleSize"] == {"height": 30, "width": 100}
    assert s["process"]["terminal"] is True
    assert s["process"]["oomScoreAdj"] == 100
    assert s["domainname"] == "example.com"
    assert {"allow": True, "type": "c", "major": 42, "access": "rmw"} in s["linux"]["resources"]["devices"]


def test_devices_param():
    dev = {
        "path": "/dev/xnull",
        "type": "c",
        "major": 1,
        "minor": 3,
        "fileMode": 0o666,
        "uid": 0,
        "gid": 0,
        "permissions": "rw",
    }
    s = build_spec(req(), "/r", ResolvedUser(), FACTS, devices=[dev])
    assert s["linux"]["devices"] == [{k: v for k, v in dev.items() if k != "permissions"}]
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"} in s["linux"]["resources"]["devices"]


def test_resolve_devices_real_node():
    devs = oci_host.resolve_devices(
        [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rw"}]
    )
    assert devs[0]["path"] == "/dev/xnull" and devs[0]["major"] == 1 and devs[0]["minor"] == 3
    with pytest.raises(InvalidParameter, match="error gathering device information"):
        oci_host.resolve_devices([{"PathOnHost": "/dev/does-not-exist"}])


def test_masked_paths_from_host_config():
    s = spec(MaskedPaths=["/proc/x"], ReadonlyPaths=[])
    assert s["linux"]["maskedPaths"] == ["/proc/x"] and s["linux"]["readonlyPaths"] == []
    assert spec(Privileged=True, MaskedPaths=["/proc/x"])["linux"]["maskedPaths"] == []


def test_blkio_devices():
    hc = {
        "BlkioWeight": 300,
        "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}],
        "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1048576}],
        "BlkioDeviceWriteIOps": [{"Path": "/dev/zero", "Rate": 10}],
    }
    blk = oci_host.resolve_blkio_devices(hc)
    s = build_spec(req(**hc), "/r", ResolvedUser(), FACTS, blkio_devices=blk)
    assert s["linux"]["resources"]["blockIO"] == {
        "weight": 300,
        "weightDevice": [{"major": 1, "minor": 3, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 1, "minor": 5, "rate": 10}],
    }
    with pytest.raises(InvalidParameter, match="/dev/nope: no such file or directory"):
        oci_host.resolve_blkio_devices({"BlkioDeviceReadBps": [{"Path": "/dev/nope", "Rate": 1}]})


def test_blkio_weight_dropped_without_kernel_support():
    facts = HostFacts(blkio_weight=False)
    blk = {
        "weightDevice": [{"major": 1, "minor": 3, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 5}],
    }
    s = build_spec(req(BlkioWeight=300), "/r", ResolvedUser(), facts, blkio_devices=blk)
    assert s["linux"]["resources"]["blockIO"] == {"throttleReadBpsDevice": [{"major": 1, "minor": 3, "rate": 5}]}


def test_join_other_namespaces():
    r = req(IpcMode="container:x", PidMode="container:x")
    r.namespace_paths = {"ipc": "/proc/9/ns/ipc", "pid": "/proc/9/ns/pid"}
    ns = spec(r)["linux"]["namespaces"]
    assert {"type": "ipc", "path": "/proc/9/ns/ipc"} in ns and {"type": "pid", "path": "/proc/9/ns/pid"} in ns
    assert {"type": "uts"} in ns


def test_annotations_reach_the_runtime():
    s = spec(Annotations={"io.example/a": "b"})
    assert s["annotations"]["io.example/a"] == "b" and "org.opencontainers.image.stopSignal" in s["annotations"]


def test_private_cgroup_namespace():
    assert {"type": "cgroup"} in spec(CgroupnsMode="private")["linux"]["namespaces"]
    assert {"type": "cgroup"} not in spec(CgroupnsMode="host")["linux"]["namespaces"]


# --- dockerd's default network sysctls and oomScoreAdj (moby daemon/oci_linux.go) ---------------

DOCKERD_NET_SYSCTLS = {"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}


@pytest.mark.parametrize("mode", ["", "default", "bridge", "none", "mynet", "host-like", "containerx"])
def test_a_private_network_namespace_gets_dockerds_network_sysctls(mode):
    """NetworkMode.IsPrivate: everything but host and container:<id>, "none" and networks included."""
    assert spec(NetworkMode=mode)["linux"]["sysctl"] == DOCKERD_NET_SYSCTLS


@pytest.mark.parametrize("mode", ["host", "container:abc", "container:"])
def test_the_hosts_or_a_joined_network_namespace_is_left_as_it_is(mode):
    r = req(NetworkMode=mode)
    r.netns_path = "host" if mode == "host" else "/proc/1/ns/net"
    assert "sysctl" not in spec(r)["linux"]
    r.host_config["Sysctls"] = {"kernel.shmmax": "1"} if mode == "host" else {"net.core.somaxconn": "9"}
    assert spec(r)["linux"]["sysctl"] == r.host_config["Sysctls"]


def test_the_users_sysctls_win_over_the_defaults():
    s = spec(Sysctls={"net.ipv4.ip_unprivileged_port_start": "1000", "net.core.somaxconn": "9"})
    assert s["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "1000",
        "net.core.somaxconn": "9",
    }


@pytest.mark.parametrize(
    "present, userns, expected",
    [
        ({"net.ipv4.ping_group_range"}, False, {"net.ipv4.ping_group_range": "0 2147483647"}),
        ({"net.ipv4.ip_unprivileged_port_start"}, False, {"net.ipv4.ip_unprivileged_port_start": "0"}),
        (set(), False, None),
        ({"net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}, True,
         {"net.ipv4.ip_unprivileged_port_start": "0"}),
    ],
)  # fmt: skip
def test_only_sysctls_the_kernel_has_and_no_ping_range_in_a_user_namespace(present, userns, expected):
    facts = HostFacts(net_sysctls=frozenset(present), in_user_namespace=userns)
    s = build_spec(req(), "/rootfs", ResolvedUser(), facts)
    assert s["linux"].get("sysctl") == expected


@pytest.mark.parametrize("hc, expected", [({}, 0), ({"OomScoreAdj": 0}, 0), ({"OomScoreAdj": -500}, -500)])
def test_oom_score_adj_is_always_set(hc, expected):
    """moby WithOOMScore: 0 is written too, so the container never inherits shimd's own score."""
    assert spec(**hc)["process"]["oomScoreAdj"] == expected


def test_host_facts_name_the_network_sysctls_this_kernel_has(tmp_path):
    facts = oci_host.read_host_facts()
    for name in oci_spec.NET_SYSCTL_DEFAULTS:
        assert (name in facts.net_sysctls) == os.path.exists("/proc/sys/" + name.replace(".", "/"))
    assert oci_host.sysctl_exists("net.ipv4.ip_forward") and not oci_host.sysctl_exists("net.ipv4.nosuch")


@pytest.mark.parametrize(
    "text, inside",
    [
        ("         0          0 4294967295\n", False),
        ("         0     100000      65536\n", True),
        ("0 0 4294967295\n1 1 1\n", False),
        ("x 0 4294967295\n", True),
        ("", False),
    ],
)
def test_running_in_user_namespace_reads_the_uid_map_as_moby(tmp_path, text, inside):
    f = tmp_path / "uid_map"
    f.write_text(text)
    assert oci_host.running_in_user_namespace(str(f)) is inside
    assert oci_host.running_in_user_namespace(str(tmp_path / "missing")) is False
