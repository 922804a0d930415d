"""Engine layer: dockerd's rules for a container's Config and HostConfig (pure functions).

- `normalize_config` / `normalize_host_config`: keep the fields dockerd's Go structs know
  (unknown ones are dropped, as json.Unmarshal into the struct does) in dockerd's order,
  Go zero values for what the client left out.
- `adapt_host_config`: the defaults dockerd fills in at create (adaptContainerSettings):
  MemorySwap = 2×Memory, ShmSize 64 MB, IpcMode private, CgroupnsMode host (cgroup v1)…
- `merge_image_config`: daemon/commit.go merge(): the image's Cmd/Entrypoint/Env/… under the user's.
- the checks of a request's values (verifyContainerSettings) are engine/validation's.
- `command`, `daemon_env`: what the process runs with (getEntrypointAndArgs, CreateDaemonEnvironment).

These live in the engine, not in translate, because create, the pre-1.24 start and update
all apply them and the engine may not import translate.
"""

from __future__ import annotations

import copy
from typing import Any

from shim.engine.ports import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS
from shim.errors import InvalidParameter

# container.Config, in Go struct order, with Go's zero values: None marks `omitempty` fields, `...`
# the slices and maps that are not omitempty (null when unset). translate/images.py renders
# inspect's Config from the same table.
CONFIG_FIELDS: list[tuple[str, Any]] = [
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", ...),
    ("Cmd", ...),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", ...),
    ("WorkingDir", ""),
    ("Entrypoint", ...),
    ("NetworkDisabled", None),
    ("MacAddress", None),
    ("OnBuild", ...),
    ("Labels", ...),
    ("StopSignal", None),
    ("StopTimeout", None),
    ("Shell", None),
]

# container.HostConfig as dockerd 20.10 renders it (api-traffic 3.3), then newer optional fields.
_HOST_CONFIG_FIELDS: list[tuple[str, Any]] = [
    ("Binds", None),
    ("ContainerIDFile", ""),
    ("LogConfig", {"Type": "", "Config": {}}),
    ("NetworkMode", ""),
    ("PortBindings", {}),
    ("RestartPolicy", {"Name": "", "MaximumRetryCount": 0}),
    ("AutoRemove", False),
    ("VolumeDriver", ""),
    ("VolumesFrom", None),
    ("CapAdd", None),
    ("CapDrop", None),
    ("CgroupnsMode", ""),
    ("Dns", []),
    ("DnsOptions", []),
    ("DnsSearch", []),
    ("ExtraHosts", None),
    ("GroupAdd", None),
    ("IpcMode", ""),
    ("Cgroup", ""),
    ("Links", None),
    ("OomScoreAdj", 0),
    ("PidMode", ""),
    ("Privileged", False),
    ("PublishAllPorts", False),
    ("ReadonlyRootfs", False),
    ("SecurityOpt", None),
    ("UTSMode", ""),
    ("UsernsMode", ""),
    ("ShmSize", 0),
    ("Runtime", ""),
    ("ConsoleSize", [0, 0]),
    ("Isolation", ""),
    ("CpuShares", 0),
    ("Memory", 0),
    ("NanoCpus", 0),
    ("CgroupParent", ""),
    ("BlkioWeight", 0),
    ("BlkioWeightDevice", None),
    ("BlkioDeviceReadBps", None),
    ("BlkioDeviceWriteBps", None),
    ("BlkioDeviceReadIOps", None),
    ("BlkioDeviceWriteIOps", None),
    ("CpuPeriod", 0),
    ("CpuQuota", 0),
    ("CpuRealtimePeriod", 0),
    ("CpuRealtimeRuntime", 0),
    ("CpusetCpus", ""),
    ("CpusetMems", ""),
    ("Devices", None),
    ("DeviceCgroupRules", None),
    ("DeviceRequests", None),
    ("KernelMemory", 0),
    ("KernelMemoryTCP", 0),
    ("MemoryReservation", 0),
    ("MemorySwap", 0),
    ("MemorySwappiness", None),
    ("OomKillDisable", False),
    ("PidsLimit", None),
    ("Ulimits", None),
    ("CpuCount", 0),
    ("CpuPercent", 0),
    ("IOMaximumIOps", 0),
    ("IOMaximumBandwidth", 0),
]
# omitempty fields of HostConfig: present only when set.
_HOST_CONFIG_OPTIONAL = [
    "Mounts",
    "MaskedPaths",
    "ReadonlyPaths",
    "Init",
    "Sysctls",
    "Tmpfs",
    "StorageOpt",
    "Annotations",
]

_SYSTEM_PATHS = ("MaskedPaths", "ReadonlyPaths")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024


def normalize_config(cfg: dict[str, Any] | None) -> dict[str, Any]:
    cfg = cfg or {}
    out: dict[str, Any] = {}
    for key, default in CONFIG_FIELDS:
        val = cfg.get(key)
        if default is ...:  # kept as null when absent
            out[key] = copy.deepcopy(val)
        elif default is None:
            if val not in (None, "", {}, [], False):
                out[key] = copy.deepcopy(val)
        else:
            out[key] = default if val is None else copy.deepcopy(val)
    # strslice: a plain string Cmd/Entrypoint means a one-element list (api < 1.?? clients send strings).
    for key in ("Cmd", "Entrypoint"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    return out


def normalize_host_config(hc: dict[str, Any] | None) -> dict[str, Any]:
    hc = hc or {}
    out: dict[str, Any] = {}
    for key, default in _HOST_CONFIG_FIELDS:
        val = hc.get(key)
        out[key] = copy.deepcopy(default) if val is None and default is not None else copy.deepcopy(val)
    rp = out.get("RestartPolicy") or {}
    out["RestartPolicy"] = {"Name": rp.get("Name") or "", "MaximumRetryCount": rp.get("MaximumRetryCount") or 0}
    lc = out.get("LogConfig") or {}
    out["LogConfig"] = {"Type": lc.get("Type") or "", "Config": lc.get("Config") or {}}
    for key in _HOST_CONFIG_OPTIONAL:
        # moby tells nil from empty for the system paths: [] (the CLI's systempaths=unconfined) masks nothing
        if hc.get(key) not in (None, [], {}) or (key in _SYSTEM_PATHS and hc.get(key) == []):
            out[key] = copy.deepcopy(hc[key])
    return out


def adapt_host_config(hc: dict[str, Any], *, create: bool = True) -> dict[str, Any]:
    """dockerd's defaults: at create (adaptContainerSettings: MemorySwap, masked paths) and at
    start (IPC, shm, runtime, cgroupns, log driver: what a pre-1.24 start body that replaced the
    HostConfig still shows in inspect, api-traffic section 7)."""
    if create and (hc.get("Memory") or 0) > 0 and (hc.get("MemorySwap") or 0) == 0:
        hc["MemorySwap"] = hc["Memory"] * 2
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None
    if not hc.get("NetworkMode"):
        hc["NetworkMode"] = "default"
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "private"
    if not hc.get("CgroupnsMode"):
        hc["CgroupnsMode"] = "host"  # cgroup v1 hosts: dockerd's default
    if not hc.get("Runtime"):
        hc["Runtime"] = "runc"
    if not (hc.get("LogConfig") or {}).get("Type"):
        hc["LogConfig"] = {"Type": "", "Config": {}, **(hc.get("LogConfig") or {})}
        hc["LogConfig"]["Type"] = "json-file"
    if create and not hc.get("Privileged"):
        hc.setdefault("MaskedPaths", list(DEFAULT_MASKED_PATHS))
        hc.setdefault("ReadonlyPaths", list(DEFAULT_READONLY_PATHS))
    return hc


def merge_image_config(user: dict[str, Any], image: dict[str, Any] | None) -> dict[str, Any]:
    """daemon/commit.go merge(): fill the user's Config from the image's."""
    image = image or {}
    if not user.get("User"):
        user["User"] = image.get("User") or ""
    img_ports = image.get("ExposedPorts") or {}
    if not user.get("ExposedPorts"):
        if img_ports:
            user["ExposedPorts"] = dict(img_ports)
    else:
        for p, v in img_ports.items():
            user["ExposedPorts"].setdefault(p, v)
    img_env = image.get("Env") or []
    if not user.get("Env"):
        user["Env"] = list(img_env) if img_env else user.get("Env")
    else:
        keys = {e.split("=", 1)[0] for e in user["Env"]}
        user["Env"] = list(user["Env"]) + [e for e in img_env if e.split("=", 1)[0] not in keys]
    labels = dict(user.get("Labels") or {})
    for k, v in (image.get("Labels") or {}).items():
        labels.setdefault(k, v)
    user["Labels"] = labels
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            user["Cmd"] = image.get("Cmd")
            if image.get("ArgsEscaped"):
                user["ArgsEscaped"] = True
        if user.get("Entrypoint") is None:
            user["Entrypoint"] = image.get("Entrypoint")
    img_hc = image.get("Healthcheck")
    if img_hc:
        if not user.get("Healthcheck"):
            user["Healthcheck"] = dict(img_hc)
        else:
            uh = user["Healthcheck"]
            for key in ("Test", "Interval", "Timeout", "StartPeriod", "Retries"):
                if not uh.get(key):
                    uh[key] = img_hc.get(key)
    if not user.get("WorkingDir"):
        user["WorkingDir"] = image.get("WorkingDir") or ""
    img_vols = image.get("Volumes") or {}
    if not user.get("Volumes"):
        # daemon/commit.go merge: len(user.Volumes) == 0 takes the image's (nil when it has none)
        user["Volumes"] = dict(img_vols) if img_vols else None
    else:
        user["Volumes"].update(img_vols)
    if not user.get("StopSignal") and image.get("StopSignal"):
        user["StopSignal"] = image["StopSignal"]
    return user


def command(cfg: dict[str, Any]) -> tuple[str, list[str]]:
    """getEntrypointAndArgs: (Path, Args) as inspect shows them."""
    entrypoint = list(cfg.get("Entrypoint") or [])
    if entrypoint == [""]:
        entrypoint = []
    cmd = list(cfg.get("Cmd") or [])
    if entrypoint:
        return entrypoint[0], entrypoint[1:] + cmd
    if not cmd:
        raise InvalidParameter("No command specified")
    return cmd[0], cmd[1:]


def daemon_env(cfg: dict[str, Any]) -> list[str]:
    """CreateDaemonEnvironment: PATH, HOSTNAME, TERM for a tty, then Config.Env on top."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={cfg.get('Hostname', '')}"]
    if cfg.get("Tty"):
        base.append("TERM=xterm")
    out: dict[str, str] = {}
    order: list[str] = []
    for entry in base + list(cfg.get("Env") or []):
        key = entry.split("=", 1)[0]
        if key not in out:
            order.append(key)
        if "=" not in entry:
            # "KEY" alone: take it from... nothing (dockerd drops an unset bare key at create).
            continue
        out[key] = entry
    return [out[k] for k in order if k in out]
