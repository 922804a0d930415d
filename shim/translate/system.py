"""Translate layer: the bodies of GET /version and GET /info, shaped as dockerd's."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from shim import __version__
from shim.platforms import machine_name
from shim.times import rfc3339_nano_local
from shim.translate.versions import MAX_VERSION, MIN_VERSION, Version


def version_body(host: Any, python_version: str, v: Version) -> dict[str, Any]:
    details = {
        "ApiVersion": str(MAX_VERSION),
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
        "ApiVersion": str(MAX_VERSION),
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
    commit = {"ID": "", "Expected": ""}
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
            "Log": ["json-file"],
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
        "LoggingDriver": "json-file",
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
        "ContainerdCommit": commit,
        "RuncCommit": commit,
        "InitCommit": commit,
        "SecurityOptions": [],
        "Warnings": api_warnings(settings.hosts, tls=settings.tls_enabled, verify=settings.verify_clients) or None,
    }
    if v.ge("1.44"):
        body["CDISpecDirs"] = []
        # KernelMemory left the API in 1.44 (always false since the kernel dropped kmem accounting).
        body.pop("KernelMemory")
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
