"""Runtime adapter: build an OCI runtime spec (config.json) the way dockerd does.

Pure: every fact about the host (its capabilities, rlimits, devices, whether swap
accounting exists) comes in through `HostFacts`, read by shim/runtime/oci_host.py, so the
whole translation is table-testable. Mirrors moby's oci/defaults.go and daemon/oci_linux.go.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Any

from shim.engine.ports import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, MountSpec, RunRequest
from shim.errors import InvalidParameter
from shim.runtime import seccomp

# moby oci/caps/defaults.go: DefaultCapabilities.
DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

# Linux capability numbers 0..40 (include/uapi/linux/capability.h).
ALL_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
CPU_PERIOD = 100_000  # moby: NanoCPUs are turned into a quota over a 100ms period
INIT_PATH = "/sbin/docker-init"
INIT_HOST_BINARY = "/usr/bin/tini-static"  # static: images may have no libc

# moby oci/defaults.go DefaultLinuxSpec Resources.Devices.
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # /dev/urandom
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # /dev/random
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # /dev/tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},  # /dev/fuse
]

# moby daemon/oci_linux.go WithCommonOptions (20.10 and later): "default sysctls that are generally
# safe and useful" for a container that gets a network namespace of its own: unprivileged ICMP echo
# sockets (ping without CAP_NET_RAW) and any port without CAP_NET_BIND_SERVICE. WithSysctls then
# puts HostConfig.Sysctls over them, so a user's value wins.
PING_GROUP_RANGE = "net.ipv4.ping_group_range"
UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start"
NET_SYSCTL_DEFAULTS = {PING_GROUP_RANGE: "0 2147483647", UNPRIVILEGED_PORT_START: "0"}

ULIMIT_NAMES = {
    "as": "RLIMIT_AS",
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
}


@dataclasses.dataclass(slots=True)
class HostFacts:
    """What the spec depends on about the host and the daemon process."""

    # capabilities shimd itself holds (a container can't get more: capset would fail)
    available_caps: list[str] = dataclasses.field(default_factory=lambda: list(ALL_CAPS))
    # RLIMIT_* name -> the daemon's hard limit (-1 = unlimited); rlimits are clamped to it
    hard_rlimits: dict[str, int] = dataclasses.field(default_factory=dict)
    swap_accounting: bool = True
    # blkio.weight / blkio.bfq.weight exist (dockerd discards the weights, with a warning, if not)
    blkio_weight: bool = True
    host_devices: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # for Privileged
    cgroup_root: str = "/shim"
    init_binary: str = INIT_HOST_BINARY
    # the kernel runs x32 syscalls (seccomp.x32_abi); without, the builtin profile leaves out X32
    x32_abi: bool = True
    # which of NET_SYSCTL_DEFAULTS this kernel has (moby sysctlExists: runc fails a start on a
    # sysctl the kernel lacks, so dockerd adds only those that exist)
    net_sysctls: frozenset[str] = frozenset(NET_SYSCTL_DEFAULTS)
    # shimd itself runs in a user namespace (moby's RunningInUserNS): no ping_group_range then
    in_user_namespace: bool = False


@dataclasses.dataclass(slots=True)
class ResolvedUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = dataclasses.field(default_factory=list)


# --- capabilities -----------------------------------------------------------


def normalize_caps(names: list[str] | None) -> list[str]:
    """moby caps.NormalizeLegacyCapabilities: upper-case, CAP_ prefix, known names only."""
    out: list[str] = []
    for name in names or []:
        if name.upper() == "ALL":
            out.append("ALL")
            continue
        cap = name.upper()
        if not cap.startswith("CAP_"):
            cap = "CAP_" + cap
        if cap not in ALL_CAPS:
            raise InvalidParameter(f'unknown capability: "{cap}"')
        out.append(cap)
    return out


def tweak_caps(adds: list[str] | None, drops: list[str] | None, privileged: bool, available: list[str]) -> list[str]:
    """moby caps.TweakCapabilities, limited to what the daemon holds."""
    every = [c for c in ALL_CAPS if c in available]
    if privileged:
        return every
    cap_add, cap_drop = normalize_caps(adds), normalize_caps(drops)
    if "ALL" in cap_add:
        caps = [c for c in every if c not in cap_drop]
    elif "ALL" in cap_drop:
        caps = [c for c in cap_add if c != "ALL"]
    else:
        caps = [c for c in DEFAULT_CAPS if c not in cap_drop]
        caps += [c for c in cap_add if c not in caps]
    return [c for c in caps if c in available]


# --- devices ----------------------------------------------------------------


def parse_device_cgroup_rule(rule: str) -> dict[str, Any]:
    """`c 1:3 rwm`, `a *:* m` (HostConfig.DeviceCgroupRules)."""
    parts = rule.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
        raise InvalidParameter(f"invalid device cgroup format '{rule}'")
    major, minor = parts[1].split(":", 1)
    out: dict[str, Any] = {"allow": True, "type": parts[0], "access": parts[2]}
    if major != "*":
        out["major"] = int(major)
    if minor != "*":
        out["minor"] = int(minor)
    return out


def device_cgroup(dev: dict[str, Any], permissions: str) -> dict[str, Any]:
    return {"allow": True, "type": dev["type"], "major": dev["major"], "minor": dev["minor"], "access": permissions}


# --- resources --------------------------------------------------------------


def resources(hc: dict[str, Any], facts: HostFacts) -> dict[str, Any]:
    """HostConfig resources -> linux.resources (without devices)."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    memory = hc.get("Memory") or 0
    if memory > 0:
        mem["limit"] = memory
    if (hc.get("MemoryReservation") or 0) > 0:
        mem["reservation"] = hc["MemoryReservation"]
    swap = hc.get("MemorySwap") or 0
    if facts.swap_accounting and memory > 0:
        # moby: MemorySwap 0 with a Memory limit means swap = 2 x memory; -1 unlimited
        if swap == 0:
            swap = memory * 2
        mem["swap"] = swap
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness >= 0:
        mem["swappiness"] = swappiness
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem

    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = hc["CpuShares"]
    nano = hc.get("NanoCpus") or 0
    if nano > 0:
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = nano * CPU_PERIOD // 1_000_000_000
    for key, field in (  # set when non-zero; an explicit period or quota wins over NanoCpus'
        ("CpuPeriod", "period"),
        ("CpuQuota", "quota"),
        ("CpuRealtimePeriod", "realtimePeriod"),
        ("CpuRealtimeRuntime", "realtimeRuntime"),
        ("CpusetCpus", "cpus"),
        ("CpusetMems", "mems"),
    ):
        if hc.get(key):
            cpu[field] = hc[key]
    if cpu:
        res["cpu"] = cpu

    pids = hc.get("PidsLimit")
    if pids is not None and pids != 0:
        # moby: 0 and negative values mean unlimited
        res["pids"] = {"limit": pids if pids > 0 else -1}

    blkio: dict[str, Any] = {}
    if hc.get("BlkioWeight") and facts.blkio_weight:
        blkio["weight"] = hc["BlkioWeight"]
    if blkio:
        res["blockIO"] = blkio
    return res


def rlimits(ulimits: list[dict[str, Any]] | None, facts: HostFacts) -> list[dict[str, Any]]:
    """Ulimits -> process.rlimits, clamped to the daemon's own hard limits.

    The host denies raising a hard limit (nofile is capped at 20000 here), and runc's
    setrlimit would then fail the whole start; dockerd can raise them, we clamp instead.
    """
    out = []
    for u in ulimits or []:
        name = ULIMIT_NAMES.get(str(u.get("Name", "")).lower())
        if name is None:
            raise InvalidParameter(f"invalid ulimit type: {u.get('Name')}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        cap = facts.hard_rlimits.get(name, -1)
        if cap >= 0:
            hard = cap if hard < 0 or hard > cap else hard
            soft = cap if soft < 0 or soft > cap else soft
        soft = min(soft, hard) if hard >= 0 else soft
        out.append({"type": name, "hard": hard & 0xFFFFFFFFFFFFFFFF, "soft": soft & 0xFFFFFFFFFFFFFFFF})
    return out


# --- mounts -----------------------------------------------------------------


def default_mounts(hc: dict[str, Any]) -> list[dict[str, Any]]:
    shm = hc.get("ShmSize") or DEFAULT_SHM_SIZE
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    if hc.get("IpcMode") == "host":
        mounts.append(
            {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]}
        )
    else:
        mounts.append(
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm}"],
            }
        )
    if hc.get("Privileged"):
        # moby: a privileged container gets /sys (and the cgroup fs) read-write
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    return mounts


PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}


def user_mount(m: MountSpec) -> dict[str, Any]:
    opts = list(m.options)
    if m.type == "bind":
        if not any(o in ("bind", "rbind") for o in opts):
            opts.insert(0, "rbind")
        # dockerd's default bind propagation is rprivate
        if not any(o in PROPAGATIONS for o in opts):
            opts.append("rprivate")
    return {"destination": m.destination, "type": m.type, "source": m.source, "options": opts}


def merge_mounts(defaults: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """User mounts replace defaults at the same destination; parents before children."""
    dests = {posixpath.normpath(m["destination"]) for m in extra}
    kept = [m for m in defaults if m["destination"] not in dests]
    # moby sortMounts: fewer path components first, so /a is mounted before /a/b
    ordered = sorted(extra, key=lambda m: posixpath.normpath(m["destination"]).count("/"))
    return kept + ordered


# --- the spec ---------------------------------------------------------------


def sysctls(hc: dict[str, Any], facts: HostFacts) -> dict[str, str]:
    """linux.sysctl: dockerd's network defaults where it sets them, HostConfig.Sysctls over them."""
    out: dict[str, str] = {}
    mode = hc.get("NetworkMode") or ""
    # moby NetworkMode.IsPrivate: anything but host and container:<id> ("none", bridge and
    # user-defined networks all get a namespace of their own; a joined one is left as it is)
    if mode != "host" and not mode.startswith("container:"):
        # moby: "We cannot set up ping socket support in a user namespace" (userns-remap is refused
        # by shimd, so only shimd's own user namespace counts)
        if not facts.in_user_namespace and PING_GROUP_RANGE in facts.net_sysctls:
            out[PING_GROUP_RANGE] = NET_SYSCTL_DEFAULTS[PING_GROUP_RANGE]
        if UNPRIVILEGED_PORT_START in facts.net_sysctls:
            out[UNPRIVILEGED_PORT_START] = NET_SYSCTL_DEFAULTS[UNPRIVILEGED_PORT_START]
    out.update(hc.get("Sysctls") or {})
    return out


def namespaces(req: RunRequest) -> list[dict[str, Any]]:
    hc = req.host_config
    paths = req.namespace_paths or {}
    ns: list[dict[str, Any]] = [{"type": "mount"}]
    for kind, mode in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode")):
        if kind in paths:
            ns.append({"type": kind, "path": paths[kind]})  # container:<id>
        elif hc.get(mode) != "host":
            ns.append({"type": kind})
    if hc.get("CgroupnsMode") == "private":
        ns.append({"type": "cgroup"})
    if req.netns_path is None:
        ns.append({"type": "network"})
    elif req.netns_path != "host":
        ns.append({"type": "network", "path": req.netns_path})
    return ns


def build_spec(
    req: RunRequest,
    rootfs: str,
    user: ResolvedUser,
    facts: HostFacts,
    devices: list[dict[str, Any]] | None = None,
    blkio_devices: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The config.json for `req`.

    `devices` come from resolve_devices(HostConfig.Devices), `blkio_devices` from
    resolve_blkio_devices(HostConfig) (both stat host paths, so they are resolved outside).
    """
    hc = req.host_config
    privileged = bool(hc.get("Privileged"))
    caps = tweak_caps(hc.get("CapAdd"), hc.get("CapDrop"), privileged, facts.available_caps)

    args = list(req.args)
    mounts = merge_mounts(default_mounts(hc), [user_mount(m) for m in req.mounts])
    if hc.get("Init"):
        # dockerd: docker-init (tini) is PID 1 and runs the command after "--"
        args = [INIT_PATH, "--", *args]
        mounts.append(
            {"destination": INIT_PATH, "type": "bind", "source": facts.init_binary, "options": ["bind", "ro"]}
        )

    process: dict[str, Any] = {
        "terminal": req.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": list(req.env),
        "cwd": req.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": req.confinement.no_new_privileges,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    size = hc.get("ConsoleSize") or [0, 0]
    if req.tty and size and size[0] and size[1]:
        process["consoleSize"] = {"height": size[0], "width": size[1]}
    limits = rlimits(hc.get("Ulimits"), facts)
    if limits:
        process["rlimits"] = limits
    # always, 0 included (moby WithOOMScore): left out, the container would inherit shimd's score
    process["oomScoreAdj"] = int(hc.get("OomScoreAdj") or 0)

    res = resources(hc, facts)
    if blkio_devices:
        blkio_devices = dict(blkio_devices)
        if not facts.blkio_weight:
            blkio_devices.pop("weightDevice", None)
        if blkio_devices:
            res.setdefault("blockIO", {}).update(blkio_devices)
    if privileged:
        oci_devices = list(facts.host_devices)
        res["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        oci_devices = []
        res["devices"] = [dict(r) for r in DEFAULT_DEVICE_RULES]
        for dev in devices or []:
            oci_devices.append({k: v for k, v in dev.items() if k != "permissions"})
            res["devices"].append(device_cgroup(dev, dev.get("permissions", "rwm")))
        for rule in hc.get("DeviceCgroupRules") or []:
            res["devices"].append(parse_device_cgroup_rule(rule))

    parent = (hc.get("CgroupParent") or facts.cgroup_root).rstrip("/")
    linux: dict[str, Any] = {
        "resources": res,
        "cgroupsPath": f"{parent}/{req.id}",
        "namespaces": namespaces(req),
        "devices": oci_devices,
        # moby: HostConfig.MaskedPaths/ReadonlyPaths (filled at create from API 1.44) win
        "maskedPaths": [] if privileged else list(_or(hc.get("MaskedPaths"), DEFAULT_MASKED_PATHS)),
        "readonlyPaths": [] if privileged else list(_or(hc.get("ReadonlyPaths"), DEFAULT_READONLY_PATHS)),
    }
    sysctl = sysctls(hc, facts)
    if sysctl:
        linux["sysctl"] = sysctl
    # after the capabilities: the profile's caps conditions read the container's bounding set
    filters = seccomp.for_container(req.confinement, caps, x32=facts.x32_abi)
    if filters is not None:
        linux["seccomp"] = filters

    spec: dict[str, Any] = {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "mounts": mounts,
        "linux": linux,
        # HostConfig.Annotations (API 1.43) go to the runtime, as dockerd's; its own stop signal wins
        "annotations": {**(hc.get("Annotations") or {}), "org.opencontainers.image.stopSignal": req.stop_signal},
    }
    if hc.get("UTSMode") != "host":
        spec["hostname"] = req.hostname
        if req.domainname:
            spec["domainname"] = req.domainname
    return spec


def _or(value: list[str] | None, default: list[str]) -> list[str]:
    return default if value is None else value
