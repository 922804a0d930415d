"""Translate layer: the bodies of GET /version and GET /info, shaped as dockerd's."""

from __future__ import annotations

import datetime
from typing import Any

from shim import __version__
from shim.translate.versions import MAX_VERSION, MIN_VERSION, Version


def version_body(host, python_version: str, v: Version) -> dict[str, Any]:
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
    host,
    settings,
    counts: dict[str, int],
    images: int,
    listeners: int,
    python_version: str,
    v: Version,
) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).astimezone().isoformat()
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
        "Debug": settings.log_level == "debug",
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
        "Architecture": {"amd64": "x86_64", "arm64": "aarch64"}.get(host.architecture, host.architecture),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}},
            "Mirrors": [],
        },
        "NCPU": host.ncpu,
        "MemTotal": host.mem_total,
        "GenericResources": None,
        "DockerRootDir": settings.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": host.hostname,
        "Labels": [],
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
        "Warnings": None,
    }
    if v.ge("1.44"):
        body["CDISpecDirs"] = []
        # KernelMemory left the API in 1.44 (always false since the kernel dropped kmem accounting).
        body.pop("KernelMemory")
    return body
