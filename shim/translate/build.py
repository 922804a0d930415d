"""Translate layer: POST /build's query to BuildOptions, and build messages to Docker's JSON lines."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from shim import jsonin
from shim.engine.model import BuildCacheRecord, BuildMessage, BuildOptions
from shim.errors import InvalidParameter
from shim.times import rfc3339_nano
from shim.translate.versions import Version

BUILDKIT_UNSUPPORTED = "BuildKit is not supported by this daemon: set DOCKER_BUILDKIT=0 to use the classic builder"

_TRUE = {"1", "true", "True", "TRUE"}


def _bool(q: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    return raw in _TRUE


def _int(q: Mapping[str, str], name: str) -> int:
    raw = q.get(name) or ""
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _json(q: Mapping[str, str], name: str, what: str, check: Callable[[Any], bool]) -> Any:
    raw = q.get(name) or ""
    if not raw:
        return None
    try:
        val = jsonin.loads(raw)
    except InvalidParameter as e:
        raise InvalidParameter(f"error reading {what}: {e.message.removeprefix('invalid JSON: ')}") from None
    if not check(val):
        raise InvalidParameter(f"error reading {what}: unexpected JSON shape")
    return val


def options_in(
    q: Mapping[str, str], multi: Callable[[str], list[str]], registry_config: str, v: Version
) -> BuildOptions:
    """newImageBuildOptions: what dockerd reads from the query (and the X-Registry-Config header)."""
    if q.get("version") == "2":
        raise InvalidParameter(BUILDKIT_UNSUPPORTED)
    if q.get("version") not in (None, "", "1"):
        raise InvalidParameter(f"invalid version {q['version']}")
    if _bool(q, "squash"):
        raise InvalidParameter("squash is only supported with experimental mode")
    if q.get("remote"):
        raise InvalidParameter("remote build contexts (git or URL) are not supported by this daemon")
    if q.get("securityopt"):
        raise InvalidParameter("security options are not supported on linux")
    if q.get("outputs"):
        raise InvalidParameter(f"outputs require BuildKit: {BUILDKIT_UNSUPPORTED}")
    build_args = _json(
        q,
        "buildargs",
        "build args",
        lambda x: isinstance(x, dict) and all(isinstance(a, str | None) for a in x.values()),
    )
    labels = _json(q, "labels", "labels", lambda x: isinstance(x, dict) and all(isinstance(a, str) for a in x.values()))
    cache_from = _json(
        q, "cachefrom", "cache-from", lambda x: isinstance(x, list) and all(isinstance(a, str) for a in x)
    )
    ulimits = _json(q, "ulimits", "ulimit settings", lambda x: isinstance(x, list))
    force = _bool(q, "forcerm")
    remove = True if force or q.get("rm", "") == "" else _bool(q, "rm")
    network = q.get("networkmode") or ""
    host_config: dict[str, Any] = {
        "NetworkMode": "bridge" if network in ("", "default") else network,
        "ShmSize": _int(q, "shmsize"),
        "Memory": _int(q, "memory"),
        "MemorySwap": _int(q, "memswap"),
        "CpuShares": _int(q, "cpushares"),
        "CpuPeriod": _int(q, "cpuperiod"),
        "CpuQuota": _int(q, "cpuquota"),
        "CpusetCpus": q.get("cpusetcpus") or "",
        "CpusetMems": q.get("cpusetmems") or "",
        "CgroupParent": q.get("cgroupparent") or "",
        "ExtraHosts": [h for h in multi("extrahosts") if h] or None,
        "Ulimits": ulimits,
        "LogConfig": {"Type": "none", "Config": {}},
    }
    return BuildOptions(
        dockerfile=q.get("dockerfile") or "Dockerfile",
        tags=[t for t in multi("t") if t],
        build_args=build_args or {},
        labels=labels or {},
        target=q.get("target") or "",
        no_cache=_bool(q, "nocache"),
        pull=_bool(q, "pull"),
        remove=remove,
        force_remove=force,
        quiet=_bool(q, "q"),
        cache_from=cache_from or [],
        host_config={k: val for k, val in host_config.items() if val not in (0, "", None)},
        platform=(q.get("platform") or "") if v.ge("1.32") else "",
        build_id=q.get("buildid") or "",
        auth_configs=_registry_config(registry_config),
    )


def _registry_config(raw: str) -> dict[str, Any]:
    """X-Registry-Config: base64url JSON {registry: {username, password, …}} for base-image pulls."""
    if not raw:
        return {}
    try:
        data = jsonin.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, InvalidParameter):
        return {}  # dockerd ignores an unreadable header (no credentials)
    return data if isinstance(data, dict) else {}


def message_out(msg: BuildMessage) -> dict[str, Any]:
    """A jsonmessage.JSONMessage line: stream, aux {"ID"}, or errorDetail (+ code) and error."""
    if msg.error:
        detail: dict[str, Any] = {"code": msg.code} if msg.code else {}
        detail["message"] = msg.error
        return {"errorDetail": detail, "error": msg.error}
    if msg.aux_id:
        return {"aux": {"ID": msg.aux_id}}
    return {"stream": msg.stream}


def cache_record_out(rec: BuildCacheRecord, v: Version) -> dict[str, Any]:
    """A types.BuildCache entry of GET /system/df: `Parent` below API 1.42, `Parents` from it (the
    CHANGELOG of 1.42: Parent deprecated and omitted)."""
    out: dict[str, Any] = {"ID": rec.id}
    if v.ge("1.42"):
        out["Parents"] = [rec.parent] if rec.parent else None
    else:
        out["Parent"] = rec.parent
    out.update(
        {
            "Type": "regular",
            "Description": rec.description,
            "InUse": rec.in_use,
            "Shared": False,
            "Size": rec.size,
            "CreatedAt": rfc3339_nano(rec.created_at),
            "LastUsedAt": rfc3339_nano(rec.last_used_at),
            "UsageCount": rec.usage_count,
        }
    )
    return out


def prune_out(deleted: list[str], reclaimed: int) -> dict[str, Any]:
    return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
