"""Translate layer: POST /containers/create and /update bodies in, per API version.

`create_in` splits the wire body into a CreateSpec; `create_for_version` is everything of moby's
postContainersCreate that depends on the API version (fields a version lacks reset, fields it
refuses a 400, its warnings), in moby's order. Pure: no I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from shim.engine.model import CreateSpec
from shim.errors import InvalidParameter
from shim.translate.versions import Version


def create_in(body: dict[str, Any] | None, version: Version, name: str = "", platform: str = "") -> CreateSpec:
    """POST /containers/create: split the body into Config / HostConfig / NetworkingConfig."""
    body = dict(body or {})
    if not any(k not in ("HostConfig", "NetworkingConfig") for k in body):
        # runconfig's decoder: an object with no Config field leaves the embedded *Config nil
        raise InvalidParameter("Config cannot be empty in order to create a container")
    inner = body.pop("HostConfig", None)
    networking = body.pop("NetworkingConfig", None) or {}
    if inner is not None and not isinstance(inner, dict):
        raise InvalidParameter("HostConfig: expected an object")
    host_config = _wrapped_host_config(body, inner)
    if version.lt("1.25"):
        # API <= 1.24: the client removes the container itself (moby postContainersCreate).
        host_config["AutoRemove"] = False
    if version.ge("1.42"):
        # KernelMemory is ignored from 1.42 on (CHANGELOG v1.42).
        host_config.pop("KernelMemory", None)
    networking = copy.deepcopy(networking)
    warnings = create_for_version(body, host_config, networking, version)
    return CreateSpec(
        name=name,
        config=body,
        host_config=host_config,
        networking_config=networking,
        platform=platform,
        warnings=warnings,
    )


_PRIVATE_MODES = ("", "default", "bridge", "host", "none")


def _main_endpoint(host_config: dict[str, Any], networking: dict[str, Any], version: Version) -> dict[str, Any]:
    """epConfigForNetMode: the EndpointsConfig entry of the NetworkMode's network, made if none."""
    mode = host_config.get("NetworkMode") or "default"
    name = "bridge" if mode == "default" else mode
    eps: dict[str, dict[str, Any]] = networking.get("EndpointsConfig") or {}
    networking["EndpointsConfig"] = eps
    if not eps:
        eps[name] = {}
        return eps[name]
    if version.lt("1.44"):
        first = next(iter(eps))
        eps[first] = eps[first] or {}
        return eps[first]
    if name in eps:
        eps[name] = eps[name] or {}
        return eps[name]
    raise InvalidParameter("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks")


def _mac_for_version(
    config: dict[str, Any], host_config: dict[str, Any], networking: dict[str, Any], version: Version
) -> list[str]:
    """handleMACAddressBC: the container-wide Config.MacAddress moves to the main network's endpoint
    (below 1.44 silently, to 1.51 with a warning); from 1.52 the field is unknown (dropped)."""
    mac = config.pop("MacAddress", None) or ""
    eps = networking.get("EndpointsConfig") or {}
    if version.ge("1.52") or (not mac and version.ge("1.44")):
        return []
    if not mac:  # below 1.44 an endpoint MAC is ignored, as the old API had none
        for ep in eps.values():
            if isinstance(ep, dict):
                ep.pop("MacAddress", None)
        return []
    mode = host_config.get("NetworkMode") or "default"
    user_defined = mode not in _PRIVATE_MODES and not mode.startswith("container:")
    if mode not in ("default", "bridge") and not user_defined:
        if version.lt("1.44"):
            raise InvalidParameter("conflicting options: mac-address and the network mode")
        return [
            "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."
        ]
    ep = _main_endpoint(host_config, networking, version)
    if version.lt("1.44") or not ep.get("MacAddress"):
        ep["MacAddress"] = mac
    elif ep["MacAddress"].lower() != mac.lower():
        raise InvalidParameter(
            "the container-wide MAC address must match the endpoint-specific MAC address for the main network, "
            "or be left empty"
        )
    if version.lt("1.44"):
        return []
    return ["The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."]


def create_for_version(
    config: dict[str, Any], host_config: dict[str, Any], networking: dict[str, Any], version: Version
) -> list[str]:
    """Everything of postContainersCreate that depends on the API version (moby container_routes.go),
    in its order: fields a version does not have are reset, ones it refuses are a 400. Returns the
    version's warnings. (The version-free refusals are the engine's: engine/validation.)"""
    warnings: list[str] = []
    mounts = [m for m in host_config.get("Mounts") or [] if isinstance(m, dict)]
    eps = networking.get("EndpointsConfig") or {}
    if version.lt("1.42"):
        for m in mounts:
            (m.get("BindOptions") or {}).pop("CreateMountpoint", None)
        if host_config.get("ConsoleSize"):
            host_config["ConsoleSize"] = [0, 0]  # not respected by a Linux daemon before 1.42
    else:
        for m in mounts:
            for key, kind in (("VolumeOptions", "volume"), ("BindOptions", "bind"), ("TmpfsOptions", "tmpfs")):
                if m.get(key) is not None and m.get("Type") != kind:
                    raise InvalidParameter(f'{key} must not be specified on mount type "{m.get("Type", "")}"')
    if version.lt("1.43"):
        host_config.pop("Annotations", None)
    if version.lt("1.44"):
        if isinstance(config.get("Healthcheck"), dict):
            config["Healthcheck"].pop("StartInterval", None)
        for m in mounts:
            if m.get("Type") == "bind" and (m.get("BindOptions") or {}).get("ReadOnlyForceRecursive"):
                raise InvalidParameter("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
        if len(eps) > 1:
            raise InvalidParameter(f"Container cannot be created with multiple network endpoints: {', '.join(eps)}")
    if version.lt("1.45"):
        for m in mounts:
            if (m.get("VolumeOptions") or {}).get("Subpath"):
                raise InvalidParameter("VolumeOptions.Subpath needs API v1.45 or newer")
    if version.lt("1.48"):
        for ep in eps.values():
            if isinstance(ep, dict):
                ep.pop("GwPriority", None)
        if any(m.get("Type") == "image" for m in mounts):
            raise InvalidParameter('Mount type "Image" needs API v1.48 or newer')
    elif host_config.get("VolumeDriver") and any(
        m.get("Type") == "volume" and not ((m.get("VolumeOptions") or {}).get("DriverConfig") or {}).get("Name")
        for m in mounts
    ):
        warnings.append(
            "WARNING: the container-wide volume-driver configuration is ignored for volumes specified via 'mount'. "
            "Use '--mount type=volume,volume-driver=...' instead"
        )
    warnings += _mac_for_version(config, host_config, networking, version)
    if version.ge("1.52"):
        empty = [port for port, bindings in (host_config.get("PortBindings") or {}).items() if not bindings]
        if empty:
            warnings.append(
                f"Following container port(s) have an empty list of port-bindings: {', '.join(empty)}. "
                "Such bindings will be discarded in a future version."
            )
    return warnings


# HostConfig fields an old client may put at the top level of the create body (runconfig's
# ContainerConfigWrapper embeds a *HostConfig; Config's own fields never clash with these).
_TOP_LEVEL_HOST_FIELDS = {
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "CapAdd",
    "CapDrop",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "UTSMode",
    "ShmSize",
    "CpuShares",
    "Memory",
    "MemorySwap",
    "CpusetCpus",
    "CpuQuota",
    "CpuPeriod",
    "BlkioWeight",
    "Devices",
    "Ulimits",
    "OomKillDisable",
    "MemoryReservation",
    "KernelMemory",
}


def _wrapped_host_config(body: dict[str, Any], inner: dict[str, Any] | None) -> dict[str, Any]:
    """getHostConfig: the inner HostConfig wins; top-level fields count when there is none, and a few
    resources (Memory, MemorySwap, CpuShares, Cpuset) still fill an inner one that leaves them out."""
    top = {k: body.pop(k) for k in list(body) if k in _TOP_LEVEL_HOST_FIELDS}
    if "Cpuset" in body:
        top.setdefault("CpusetCpus", body.pop("Cpuset"))
    if inner is None:
        return top
    hc = dict(inner)
    for key in ("Memory", "MemorySwap", "CpuShares", "CpusetCpus"):
        if top.get(key) and not hc.get(key):
            hc[key] = top[key]
    return hc


def update_in(body: dict[str, Any] | None) -> dict[str, Any]:
    """POST /containers/{id}/update: the Resources fields and RestartPolicy, as given."""
    return dict(body or {})
