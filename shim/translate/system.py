"""Translate layer: the bodies of GET /version and GET /info, shaped as dockerd's."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from shim import __version__
from shim.errors import InvalidParameter
from shim.platforms import machine_name
from shim.times import rfc3339_nano_local
from shim.translate.versions import MAX_VERSION, MIN_VERSION, Change, Version, apply_changes


def version_body(host: Any, python_version: str, v: Version, api_max: Version = MAX_VERSION) -> dict[str, Any]:
    details = {
        "ApiVersion": str(api_max),
        "Arch": host.architecture,
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": python_version,
        "KernelVersion": host.kernel_version,
        "MinAPIVersion": str(MIN_VERSION),
        "Os": "linux",
    }
    return {
        "Platform": {"Name": f"shim {__version__}"},
        "Components": [
            {"Name": "Engine", "Version": __version__, "Details": details},
            {"Name": "runc", "Version": host.runc_version, "Details": {"GitCommit": ""}},
            {"Name": "docker-init", "Version": "tini", "Details": {"GitCommit": ""}},
        ],
        "Version": __version__,
        "ApiVersion": str(api_max),
        "MinAPIVersion": str(MIN_VERSION),
        "GitCommit": "",
        "GoVersion": python_version,
        "Os": "linux",
        "Arch": host.architecture,
        "KernelVersion": host.kernel_version,
        "BuildTime": "",
    }


def info_body(
    *,
    engine_id: str,
    host: Any,
    settings: Any,
    counts: dict[str, int],
    images: int,
    listeners: int,
    python_version: str,
    v: Version,
) -> dict[str, Any]:
    now = rfc3339_nano_local(time.time_ns())
    body: dict[str, Any] = {
        "ID": engine_id,
        "Containers": counts.get("total", 0),
        "ContainersRunning": counts.get("running", 0),
        "ContainersPaused": counts.get("paused", 0),
        "ContainersStopped": counts.get("stopped", 0),
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", "extfs"],
            ["Supports d_type", "true"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file", "local"],
        },
        "MemoryLimit": True,
        "SwapLimit": True,
        "KernelMemory": False,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "BridgeNfIptables": True,
        "BridgeNfIp6tables": True,
        "Debug": settings.debug,
        "NFd": 0,
        "OomKillDisable": True,
        "NGoroutines": 0,
        "SystemTime": now,
        "LoggingDriver": settings.log_driver,
        "CgroupDriver": host.cgroup_driver,
        "CgroupVersion": host.cgroup_version,
        "NEventsListener": listeners,
        "KernelVersion": host.kernel_version,
        "OperatingSystem": host.operating_system,
        "OSVersion": host.os_version,
        "OSType": "linux",
        "Architecture": machine_name(host.architecture),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(settings.insecure_registries, settings.registry_mirrors),
        "NCPU": host.ncpu,
        "MemTotal": host.mem_total,
        "GenericResources": None,
        "DockerRootDir": settings.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": host.hostname,
        "Labels": list(settings.labels),
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {"runc": {"path": "runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": security_options(settings),
        # moby's order: fillAPIInfo's warnings, then fillSecurityOptions'
        "Warnings": api_warnings(settings.hosts, tls=settings.tls_enabled, verify=settings.verify_clients)
        + security_warnings(settings)
        or None,
    }
    return apply_changes(_INFO_CHANGES, body, v)


def _info_144(body: dict[str, Any]) -> dict[str, Any]:
    # v1.44: CDISpecDirs (empty on a non-experimental daemon); KernelMemory no longer shown.
    body["CDISpecDirs"] = []
    body.pop("KernelMemory", None)
    return body


def registry_config(insecure: list[str], mirrors: list[str]) -> dict[str, Any]:
    """/info's RegistryConfig from the daemon's settings, as moby's registry newServiceConfig builds it:
    CIDRs (plus the loopback ones dockerd always adds) apart from host[:port] entries, which become
    insecure index configs; the mirrors belong to docker.io."""
    cidrs = ["::1/128", "127.0.0.0/8"]
    indexes: dict[str, Any] = {}
    for entry in insecure:
        name = entry.split("://", 1)[1] if "://" in entry else entry  # dockerd drops http(s):// with a warning
        try:
            cidrs.append(str(ipaddress.ip_network(name, strict=False)))
        except ValueError:
            indexes[name] = {"Name": name, "Mirrors": [], "Secure": False, "Official": False}
    indexes["docker.io"] = {"Name": "docker.io", "Mirrors": list(mirrors), "Secure": True, "Official": True}
    return {
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": list(dict.fromkeys(cidrs)),
        "IndexConfigs": indexes,
        "Mirrors": list(mirrors),
    }


_ATTACK_SURFACE = """
         Access to the remote API is equivalent to root access on the host. Refer
         to the 'Docker daemon attack surface' section in the documentation for
         more information: https://docs.docker.com/go/attack-surface/"""


def api_warnings(hosts: list[str], *, tls: bool, verify: bool) -> list[str]:
    """dockerd's fillAPIInfo: a warning per TCP listener without encryption or without client verification."""
    out = []
    for host in hosts:
        proto, _, addr = host.partition("://")
        if proto != "tcp":
            continue
        if not tls:
            out.append(f"WARNING: API is accessible on http://{addr} without encryption.{_ATTACK_SURFACE}")
        elif not verify:
            what = "without TLS client verification"
            out.append(f"WARNING: API is accessible on https://{addr} {what}.{_ATTACK_SURFACE}")
    return out


def _info_147(body: dict[str, Any]) -> dict[str, Any]:
    # The AllowNondistributableArtifacts* lists: null from 1.47 and omitted (moby getInfo omits
    # them from 1.47; the CHANGELOG names 1.49 — dockerd's code wins).
    for key in ("AllowNondistributableArtifactsCIDRs", "AllowNondistributableArtifactsHostnames"):
        body["RegistryConfig"].pop(key, None)
    return body


def _info_149(body: dict[str, Any]) -> dict[str, Any]:
    # v1.49: FirewallBackend; the commits' Expected omitted.
    body["FirewallBackend"] = {"Driver": "iptables"}  # shimd drives iptables (the nft backend) through iptables-restore
    for key in ("ContainerdCommit", "RuncCommit", "InitCommit"):
        body[key] = {"ID": body[key]["ID"]}
    return body


def _info_150(body: dict[str, Any]) -> dict[str, Any]:
    # v1.50: BridgeNfIptables / BridgeNfIp6tables omitted (DiscoveredDevices is omitempty: no CDI devices).
    body.pop("BridgeNfIptables", None)
    body.pop("BridgeNfIp6tables", None)
    return body


def _info_152(body: dict[str, Any]) -> dict[str, Any]:
    # v1.52: KernelMemoryTCP removed (NRI, 1.53, is omitempty: shimd has no NRI).
    body.pop("KernelMemoryTCP", None)
    return body


_INFO_CHANGES: list[Change] = [
    (Version(1, 44), None, _info_144),
    (Version(1, 47), None, _info_147),
    (Version(1, 49), None, _info_149),
    (Version(1, 50), None, _info_150),
    (Version(1, 52), None, _info_152),
]


# ---------------------------------------------------------------- GET /system/df

_ACTIVE_STATES = ("running", "paused", "restarting")


def _usage(total: int, active: int, size: int, reclaimable: int, items: list[Any] | None) -> dict[str, Any]:
    # every field of the *Usage types is omitempty
    out: dict[str, Any] = {"ActiveCount": active, "Items": items, "Reclaimable": reclaimable}
    out.update(TotalCount=total, TotalSize=size)
    return {k: v for k, v in out.items() if v}


def df_out(
    *,
    images: list[dict[str, Any]] | None,
    layers_size: int,
    containers: list[dict[str, Any]] | None,
    volumes: list[dict[str, Any]] | None,
    build_cache: list[dict[str, Any]] | None,
    verbose: bool,
    v: Version,
    builder_size: int = 0,
) -> dict[str, Any]:
    """The disk usage body; each list is None when its type was not asked for.

    Below 1.52 the legacy shape (dockerd 20.10 and 28: null for a type not asked; BuilderSize until
    1.42). From 1.52 the per-type `*Usage` objects, and the legacy fields too unless `verbose`
    (moby getDiskUsage; the CHANGELOG says 1.53 drops them, moby's code still sends them)."""
    if v.lt("1.52"):
        out: dict[str, Any] = {
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": build_cache,
        }
        if v.lt("1.42"):
            out["BuildCache"] = build_cache or None  # dockerd 20.10: nil without build records
            out["BuilderSize"] = builder_size
        return out
    out = {}
    if not verbose:
        if layers_size:
            out["LayersSize"] = layers_size
        for key, items in (("Images", images), ("Containers", containers), ("Volumes", volumes)):
            if items is not None:
                out[key] = items
        if build_cache is not None:
            out["BuildCache"] = build_cache
    if images is not None:
        used = [i for i in images if i.get("Containers", 0) > 0]
        free = sum(i["Size"] - max(i.get("SharedSize", 0), 0) for i in images if i.get("Containers", 0) == 0)
        out["ImageUsage"] = _usage(len(images), len(used), layers_size, free, images or None)
    if containers is not None:
        running = [c for c in containers if c.get("State") in _ACTIVE_STATES]
        size = sum(c.get("SizeRw", 0) for c in containers)
        free = sum(c.get("SizeRw", 0) for c in containers if c.get("State") not in _ACTIVE_STATES)
        out["ContainerUsage"] = _usage(len(containers), len(running), size, free, containers or None)
    if volumes is not None:
        data = [x.get("UsageData") or {} for x in volumes]
        size = sum(max(d.get("Size", 0), 0) for d in data)
        free = sum(max(d.get("Size", 0), 0) for d in data if d.get("RefCount", 0) == 0)
        active = sum(1 for d in data if d.get("RefCount", 0) > 0)
        out["VolumeUsage"] = _usage(len(volumes), active, size, free, volumes or None)
    if build_cache is not None:
        out["BuildCacheUsage"] = _usage(len(build_cache), 0, 0, 0, build_cache or None)
    return out


DF_TYPES = ("container", "image", "volume", "build-cache")


def df_types(values: list[str], v: Version) -> set[str]:
    """GET /system/df?type=: from 1.42 (every type before, or when none is given)."""
    if v.lt("1.42") or not values:
        return set(DF_TYPES)
    for t in values:
        if t not in DF_TYPES:
            raise InvalidParameter(f"unknown object type: {t}")
    return set(values)


def security_options(settings: Any) -> list[str]:
    """moby fillSecurityOptions. Never listed here: apparmor and selinux (not enabled in these
    kernels; shimd has no support for either), userns (no remapping), rootless."""
    out = [f"name=seccomp,profile={settings.seccomp_profile}"]
    if settings.default_cgroupns_mode == "private":
        out.append("name=cgroupns")
    if settings.no_new_privileges:
        out.append("name=no-new-privileges")
    return out


def security_warnings(settings: Any) -> list[str]:
    if settings.seccomp_profile != "builtin":
        return ["WARNING: daemon is not using the default seccomp profile"]
    return []
