"""Translate layer: container request bodies in, inspect / list / wait bodies out, per API version.

Pure functions: no I/O. Version-dependent shapes are small functions in a table
(`_INSPECT_CHANGES`, `_LIST_CHANGES`) keyed by the version range they apply to, built
from api-docs/CHANGELOG.md, so handlers never compare versions.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

from shim.engine.model import Container
from shim.errors import InvalidParameter
from shim.times import parse_unix_timestamp, rfc3339_nano_or_zero
from shim.translate import networks as trn
from shim.translate.container_create import create_in as create_in  # the container area's entry points
from shim.translate.container_create import update_in as update_in
from shim.translate.versions import Change, Version, apply_changes

# ---------------------------------------------------------------- in: translate/container_create.py

# ---------------------------------------------------------------- times


# Go's time.RFC3339Nano in UTC, 0 meaning the zero time (shim/times.py)
rfc3339nano = rfc3339_nano_or_zero


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def health_text(status: str) -> str:
    return "health: starting" if status == "starting" else status


# status_until's answer for a Status that does not depend on the clock
FOREVER = 1 << 126


def status_text(c: Container, now_ns: int | None = None) -> str:
    """container.State.String(): the Status column of `docker ps`."""
    return status_until(c, now_ns if now_ns is not None else time.time_ns())[0]


def status_until(c: Container, now: int) -> tuple[str, int]:
    """The Status at `now` (ns), and the instant (ns) before which it stays the same while the
    container's state does: the list keeps it until then (api/rendercache.py)."""
    st = c.state
    if st.running:
        up = human_duration((now - st.started_at) / 1e9)
        until = duration_until(st.started_at, now)
        if st.paused:
            return f"Up {up} (Paused)", until
        if st.restarting:
            ago = human_duration((now - st.finished_at) / 1e9)
            return f"Restarting ({st.exit_code}) {ago} ago", duration_until(st.finished_at, now)
        if st.health is not None:
            return f"Up {up} ({health_text(st.health.status)})", until
        return f"Up {up}", until
    if st.removal_in_progress:
        return "Removal In Progress", FOREVER
    if st.dead:
        return "Dead", FOREVER
    if not st.started_at:
        return "Created", FOREVER
    if not st.finished_at:
        return "", FOREVER
    ago = human_duration((now - st.finished_at) / 1e9)
    return f"Exited ({st.exit_code}) {ago} ago", duration_until(st.finished_at, now)


_S = 1_000_000_000


def duration_until(since: int, now: int) -> int:
    """An instant (ns) before which human_duration((t - since) / 1e9) is the same for every t in
    [now, it): the next boundary of the unit the text shows. Below a minute the text is a function
    of the whole seconds, below an hour of the whole minutes, above of round(hours) (and of whole
    hours past two years): each changes only at a whole second, minute or half hour after `since`
    (a few boundaries early, never late). 1 µs early: the text divides floats."""
    elapsed = now - since
    if elapsed < 60 * _S:
        step = _S
    elif elapsed < 3600 * _S:
        step = 60 * _S
    else:
        step = 1800 * _S
    if elapsed < 0:
        return since + _S - 1000  # "Less than a second" until one second after `since`
    return since + (elapsed // step + 1) * step - 1000


def command_text(c: Container) -> str:
    """The list's Command: an argument holding a space is single-quoted (moby container/view.go)."""
    if c.args:
        args = " ".join("'" + a + "'" if " " in a else a for a in c.args)
        return f"{c.path} {args}"
    return c.path


# ---------------------------------------------------------------- out: inspect


def _health_out(c: Container) -> dict[str, Any] | None:
    h = c.state.health
    if h is None:
        return None
    return {
        "Status": h.status,
        "FailingStreak": h.failing_streak,
        "Log": [
            {"Start": rfc3339nano(e.start), "End": rfc3339nano(e.end), "ExitCode": e.exit_code, "Output": e.output}
            for e in h.log
        ],
    }


def state_out(c: Container) -> dict[str, Any]:
    st = c.state
    out: dict[str, Any] = {
        "Status": st.status,
        "Running": st.running,
        "Paused": st.paused,
        "Restarting": st.restarting,
        "OOMKilled": st.oom_killed,
        "Dead": st.dead,
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": rfc3339nano(st.started_at),
        "FinishedAt": rfc3339nano(st.finished_at),
    }
    health = _health_out(c)
    if health is not None:
        out["Health"] = health
    return out


def _network_mode(c: Container) -> str:
    return str(c.host_config.get("NetworkMode") or "default")


def network_settings_out(c: Container, extra: dict[str, Any], version: Version) -> dict[str, Any]:
    """NetworkSettings rendered from networking's facts (an EndpointView in extra["network_settings"])
    at `version`; a fresh dict, which the version tables below may edit."""
    return trn.network_settings(extra.get("network_settings"), version, _network_mode(c))


def inspect_out(c: Container, version: Version, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET /containers/{id}/json. `extra` carries what other layers know (paths, mounts, networks)."""
    extra = extra or {}
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": rfc3339nano(c.created),
        "Path": c.path,
        "Args": list(c.args),
        "State": state_out(c),
        "Image": c.image_id,
        "ResolvConfPath": extra.get("resolv_conf_path", ""),
        "HostnamePath": extra.get("hostname_path", ""),
        "HostsPath": extra.get("hosts_path", ""),
        "LogPath": extra.get("log_path", ""),
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": c.platform,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": extra.get("apparmor_profile", ""),
        "ExecIDs": list(c.exec_ids) or None,
        "HostConfig": copy.deepcopy(c.host_config),
        "GraphDriver": {"Data": extra.get("graph_driver_data"), "Name": "overlay2"},
        "Mounts": extra.get("mounts", []),
        "Config": copy.deepcopy(c.config),
        "NetworkSettings": network_settings_out(c, extra, version),
    }
    if extra.get("size_rw") is not None:
        out["SizeRw"] = extra["size_rw"]
        out["SizeRootFs"] = extra.get("size_root_fs", 0)
    return apply_changes(_INSPECT_CHANGES, out, version)


def _inspect_142(out: dict[str, Any]) -> dict[str, Any]:
    # v1.42: KernelMemory / KernelMemoryTCP omitted when not set.
    hc = out["HostConfig"]
    for key in ("KernelMemory", "KernelMemoryTCP"):
        if not hc.get(key):
            hc.pop(key, None)
    return out


def _inspect_pre_125(out: dict[str, Any]) -> dict[str, Any]:
    # "removing" exists from 1.25; older clients saw "exited".
    if out["State"]["Status"] == "removing":
        out["State"]["Status"] = "exited"
    return out


def _inspect_pre_121(out: dict[str, Any]) -> dict[str, Any]:
    # State.Status and NetworkSettings.Networks appeared in 1.21; Config still carried a few
    # fields that later moved or became omitempty (v1p20.ContainerConfig).
    out["State"].pop("Status", None)
    out["NetworkSettings"].pop("Networks", None)
    cfg, hc = out["Config"], out["HostConfig"]
    cfg.setdefault("MacAddress", "")
    cfg.setdefault("NetworkDisabled", False)
    cfg.setdefault("ExposedPorts", None)
    cfg["VolumeDriver"] = hc.get("VolumeDriver", "")
    return out


def _inspect_pre_120(out: dict[str, Any]) -> dict[str, Any]:
    # Before 1.20: Volumes / VolumesRW instead of Mounts, resources inside Config (v1p19).
    cfg, hc = out["Config"], out["HostConfig"]
    cfg.update(
        Memory=hc.get("Memory", 0),
        MemorySwap=hc.get("MemorySwap", 0),
        CpuShares=hc.get("CpuShares", 0),
        Cpuset=hc.get("CpusetCpus", ""),
    )
    mounts = out.pop("Mounts", []) or []
    out["Volumes"] = {m["Destination"]: m.get("Source", "") for m in mounts}
    out["VolumesRW"] = {m["Destination"]: m.get("RW", True) for m in mounts}
    return out


_PREDEFINED_NETWORKS = ("bridge", "host", "none", "default")


def _inspect_pre_145(out: dict[str, Any]) -> dict[str, Any]:
    # Before 1.45 the Aliases of a user-defined network also held the short ID and the hostname
    # (moby getContainersByName: sliceutil.Dedup(append(ep.Aliases, shortCID, Hostname))).
    short, hostname = out["Id"][:12], out["Config"].get("Hostname", "")
    for name, ep in (out["NetworkSettings"].get("Networks") or {}).items():
        if name in _PREDEFINED_NETWORKS or name.startswith("container:") or not isinstance(ep, dict):
            continue
        merged: list[str] = []
        for alias in [*(ep.get("Aliases") or []), short, hostname]:
            if alias and alias not in merged:
                merged.append(alias)
        ep["Aliases"] = merged
    return out


def _endpoint_fields(out: dict[str, Any], fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    for ep in (out.get("NetworkSettings") or {}).get("Networks", {}).values():
        if isinstance(ep, dict):
            fn(ep)
    return out


def _inspect_148(out: dict[str, Any]) -> dict[str, Any]:
    # EndpointSettings.GwPriority appeared in 1.48; shimd keeps no gateway priority (docs/API-VERSIONS.md).
    return _endpoint_fields(out, lambda ep: ep.setdefault("GwPriority", 0))


# v1.52 (moby getContainersByName): the deprecated top-level copies of the default bridge's
# endpoint and the never-set legacy fields left NetworkSettings.
_LEGACY_NETWORK_SETTINGS = (
    "Bridge",
    "HairpinMode",
    "LinkLocalIPv6Address",
    "LinkLocalIPv6PrefixLen",
    "SecondaryIPAddresses",
    "SecondaryIPv6Addresses",
    "EndpointID",
    "Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "MacAddress",
)


def _inspect_152(out: dict[str, Any]) -> dict[str, Any]:
    # v1.52: Config.OnBuild omitted when empty; Config.MacAddress gone (the MAC lives in the
    # endpoint settings); HostConfig.KernelMemoryTCP removed; legacy NetworkSettings fields removed.
    cfg = out["Config"]
    if not cfg.get("OnBuild"):
        cfg.pop("OnBuild", None)
    cfg.pop("MacAddress", None)
    out["HostConfig"].pop("KernelMemoryTCP", None)
    ns = out["NetworkSettings"]
    for key in _LEGACY_NETWORK_SETTINGS:
        ns.pop(key, None)
    return out


# (from, before, fn): fn applies to versions in [from, before).
_INSPECT_CHANGES: list[Change] = [
    (Version(1, 42), None, _inspect_142),
    (Version(1, 52), None, _inspect_152),
    (Version(1, 48), None, _inspect_148),
    (None, Version(1, 45), _inspect_pre_145),
    (None, Version(1, 25), _inspect_pre_125),
    (None, Version(1, 21), _inspect_pre_121),
    (None, Version(1, 20), _inspect_pre_120),
]


# ---------------------------------------------------------------- out: list


def list_item_out(
    c: Container, version: Version, extra: dict[str, Any] | None = None, now_ns: int | None = None
) -> dict[str, Any]:
    """One item of GET /containers/json."""
    extra = extra or {}
    mode = _network_mode(c)
    view = extra.get("network_settings")
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": ["/" + c.name] + ["/" + n for n in extra.get("link_names", [])],
        "Image": c.config.get("Image") or c.image_id,
        "ImageID": c.image_id,
        "Command": command_text(c),
        "Created": c.created // 1_000_000_000,
        "Ports": list_ports(trn.ports_out(view)),
        "Labels": dict(c.config.get("Labels") or {}),
        "State": c.state.status,
        "Status": status_text(c, now_ns),
        "HostConfig": {"NetworkMode": mode},
        "Health": {
            "Status": c.state.health.status if c.state.health else "none",
            "FailingStreak": c.state.health.failing_streak if c.state.health else 0,
        },
        "NetworkSettings": {
            "Networks": trn.networks_out(view, version) if view is not None else trn.default_networks(mode)
        },
        "Mounts": extra.get("mounts", []),
    }
    if c.host_config.get("Annotations"):
        out["HostConfig"]["Annotations"] = dict(c.host_config["Annotations"])
    for ep in out["NetworkSettings"]["Networks"].values():
        _summary_endpoint(ep)
    # omitempty in the list (ContainerSummary), unlike inspect's pointers
    if extra.get("size_rw"):
        out["SizeRw"] = extra["size_rw"]
    if extra.get("size_root_fs"):
        out["SizeRootFs"] = extra["size_root_fs"]
    return apply_changes(_LIST_CHANGES, out, version)


def _summary_endpoint(ep: Any) -> None:
    """The list's endpoints carry the operational fields only (moby container/view.go): the
    configuration (aliases, links, driver options, DNS names) is null there."""
    if not isinstance(ep, dict):
        return
    for key in ("Aliases", "Links", "DriverOpts"):
        ep[key] = None
    if "DNSNames" in ep:
        ep["DNSNames"] = None
    ipam = ep.get("IPAMConfig")
    if isinstance(ipam, dict):
        ep["IPAMConfig"] = {k: v for k, v in ipam.items() if k in ("IPv4Address", "IPv6Address")}


def list_ports(ports: dict[str, Any] | None) -> list[dict[str, Any]]:
    """NetworkSettings.Ports → the list's Ports (dockerd's view: published ones with IP/PublicPort)."""
    out: list[dict[str, Any]] = []
    for key, bindings in (ports or {}).items():
        port, _, proto = key.partition("/")
        try:
            private = int(port)
        except ValueError:
            continue
        proto = proto or "tcp"
        if not bindings:
            out.append({"PrivatePort": private, "Type": proto})
            continue
        for b in bindings:
            try:
                public = int(b.get("HostPort") or 0)
            except ValueError:
                public = 0
            out.append({"IP": b.get("HostIp") or "", "PrivatePort": private, "PublicPort": public, "Type": proto})
    return out


def _list_pre_125(out: dict[str, Any]) -> dict[str, Any]:
    if out["State"] == "removing":
        out["State"] = "exited"
    return out


def _list_pre_123(out: dict[str, Any]) -> dict[str, Any]:
    # State and Mounts joined the list in 1.23.
    out.pop("State", None)
    out.pop("Mounts", None)
    return out


def _list_pre_122(out: dict[str, Any]) -> dict[str, Any]:
    out.pop("NetworkSettings", None)
    return out


def _list_pre_121(out: dict[str, Any]) -> dict[str, Any]:
    out.pop("ImageID", None)
    return out


def _list_pre_119(out: dict[str, Any]) -> dict[str, Any]:
    out.pop("HostConfig", None)
    return out


def _list_pre_152(out: dict[str, Any]) -> dict[str, Any]:
    # ContainerSummary.Health appeared in 1.52 (moby getContainersJSON sets it nil below).
    out.pop("Health", None)
    return out


def _list_148(out: dict[str, Any]) -> dict[str, Any]:
    return _inspect_148(out)


def _list_pre_146(out: dict[str, Any]) -> dict[str, Any]:
    # HostConfig.Annotations joined the list in 1.46.
    if "HostConfig" in out:
        out["HostConfig"].pop("Annotations", None)
    return out


_LIST_CHANGES: list[Change] = [
    (None, Version(1, 52), _list_pre_152),
    (Version(1, 48), None, _list_148),
    (None, Version(1, 46), _list_pre_146),
    (None, Version(1, 25), _list_pre_125),
    (None, Version(1, 23), _list_pre_123),
    (None, Version(1, 22), _list_pre_122),
    (None, Version(1, 21), _list_pre_121),
    (None, Version(1, 19), _list_pre_119),
]


# ---------------------------------------------------------------- out: others


def create_out(cid: str, warnings: list[str]) -> dict[str, Any]:
    return {"Id": cid, "Warnings": list(warnings)}


def wait_out(exit_code: int, error: str = "") -> dict[str, Any]:
    return {"Error": {"Message": error} if error else None, "StatusCode": exit_code}


def top_out(titles: list[str], processes: list[list[str]]) -> dict[str, Any]:
    return {"Processes": processes, "Titles": titles}


def update_out(warnings: list[str]) -> dict[str, Any]:
    return {"Warnings": list(warnings)}


def prune_out(deleted: list[str], reclaimed: int) -> dict[str, Any]:
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def wait_condition_in(cond: str | None, version: Version) -> str:
    """POST /containers/{id}/wait?condition=: 400 for an unknown one (from 1.30 on, CHANGELOG v1.42);
    before 1.30 there was no condition: the wait is for the container to stop."""
    if version.lt("1.30"):
        return "not-running"
    cond = cond or "not-running"
    if cond not in ("not-running", "next-exit", "removed"):
        if version.ge("1.30"):
            raise InvalidParameter(f"invalid condition: {cond!r}".replace("'", '"'))
        return "not-running"
    return cond


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_keys_in(text: str | None) -> bytes:
    """term.ToBytes: `ctrl-p,ctrl-q` → b"\\x10\\x11"; single characters stand for themselves."""
    text = text if text else DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        k = key.strip()
        if len(k) > 1 and k.lower().startswith("ctrl-") and len(k) == 6:
            c = k[5].lower()
            if "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[c])
            else:
                raise InvalidParameter(f"Invalid detach keys ({text}) provided")
        elif len(k) == 1:
            out.append(ord(k))
        else:
            raise InvalidParameter(f"Invalid detach keys ({text}) provided")
    return bytes(out)


def stream_content_type(version: Version, tty: bool, *, attach: bool = False) -> str | None:
    """logs / attach bodies: no Content-Type for logs before 1.42 (dockerd 20.10), raw-stream for the
    attach 101; from 1.42 multiplexed-stream unless the container has a TTY (CHANGELOG v1.42)."""
    if version.ge("1.42"):
        return "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return "application/vnd.docker.raw-stream" if attach else None


def log_since_in(raw: str | None, name: str = "since") -> int:
    """`since` / `until`: unix seconds, optionally with a fraction (timestamp.ParseUnixTimestamp),
    as unix nanoseconds (0: not given; dockerd also ignores `until=0`)."""
    ns = parse_unix_timestamp(raw or "", name)
    return 0 if ns is None else ns


def tail_in(raw: str | None) -> int | None:
    if raw is None or raw == "" or raw == "all":
        return None
    try:
        n = int(raw)
    except ValueError:
        return None  # dockerd treats an unparsable tail as "all"
    return None if n < 0 else n


def signal_in(query: Mapping[str, str], version: Version) -> str | None:
    """stop/restart `signal` exists from API 1.42 (CHANGELOG v1.42); older requests ignore it."""
    if version.lt("1.42"):
        return None
    return query.get("signal") or None


def wait_headers_first(version: Version) -> bool:
    """From 1.30 dockerd writes the wait headers at once; before, one whole response at the end."""
    return version.ge("1.30")


def kill_stopped_is_error(version: Version) -> bool:
    """Killing a container that is not running: an error from 1.20 on, silently fine before."""
    return version.ge("1.20")


def ws_attach_streams(version: Version, stdin: bool, stdout: bool, stderr: bool) -> tuple[bool, bool, bool]:
    """wsContainersAttach: the stdin/stdout/stderr parameters count from 1.42; before, all three."""
    if version.lt("1.42"):
        return True, True, True
    return stdin, stdout, stderr


def ws_binary_frames(version: Version) -> bool:
    """The websocket attach sends binary frames from 1.28 (moby#28176), text frames before."""
    return version.ge("1.28")


def stats_out(sample: dict[str, Any], version: Version) -> dict[str, Any]:
    """One stats sample: `os_type` from 1.52 (moby StatsResponse), after `name`/`id`."""
    if version.lt("1.52") or not sample:
        return sample
    return {**sample, "os_type": "linux"}
