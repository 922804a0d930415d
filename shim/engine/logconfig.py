"""Engine layer (pure): a container's HostConfig.LogConfig, merged with the daemon's default and
verified, as dockerd's mergeAndVerifyLogConfig does at create, plus what the runtime and a
`docker logs --details` need from it.

`verify(log_config, defaults)` is the one entry point (create, the legacy start-time HostConfig,
the daemon's own defaults at startup): it returns the merged `{"Type", "Config"}` dockerd stores
and shows in inspect, or raises InvalidParameter with dockerd's words. dockerd checks only the
option *names* at create (logger.ValidateLogOpts) and the values when the logger starts, so a
`max-size=banana` container is created and then fails to start ("failed to initialize logging
driver: invalid size: 'banana'", a 500 at start); shim checks the values here too, with the same
message, as a 400 at create, so nothing is created half-way. Rules and wording: moby 20.10 daemon/logger/factory.go,
jsonfilelog/jsonfilelog.go New + ValidateLogOpt, local/local.go + config.go, loggerutils/cache,
go-units FromHumanSize.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from shim.engine.ports import LogPolicy
from shim.errors import InvalidParameter

DEFAULT_DRIVER = "json-file"
# What shim can write and read back (conmon writes the file). dockerd's other built-in drivers
# send each line to a service (journald, syslog, gelf, fluentd, awslogs, splunk, gcplogs,
# logentries): conmon can't, and shimd can't be the writer (logs must flow while it is down), so
# they are refused at create with a message that says so; an unknown name gets dockerd's words.
DRIVERS = ("json-file", "local")
READABLE = DRIVERS
DOCKERD_ONLY = ("awslogs", "fluentd", "gcplogs", "gelf", "journald", "logentries", "splunk", "syslog", "etwlogs")
INIT_FAILED = "failed to initialize logging driver: "  # container.startLogging's wrapping

_JSON_FILE_KEYS = ("max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
_LOCAL_KEYS = ("max-file", "max-size", "compress")  # dockerd 20.10's local driver takes these only
# dockerd's built-in options of every driver (logger.builtInLogOpts + the log cache's)
_BUILTIN = {"mode", "max-buffer-size", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"}

LOCAL_MAX_SIZE = 20 * 1024 * 1024  # local/local.go defaultMaxFileSize
LOCAL_MAX_FILE = 5
LOCAL_COMPRESS = True

_SIZE = re.compile(r"^(\d+(\.\d+)*) ?([kmgtp])?i?b?$", re.IGNORECASE)
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}


def from_human_size(text: str) -> int:
    """go-units FromHumanSize (v0.4, dockerd 20.10's): decimal units, `invalid size: '…'`."""
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"invalid size: '{text}'")
    try:
        size = float(m.group(1))
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{m.group(1)}": invalid syntax') from None
    return int(size * _DECIMAL.get((m.group(3) or "").lower(), 1))


def _atoi(text: str) -> int:
    """Go's strconv.Atoi, with its error text."""
    if re.fullmatch(r"[+-]?\d+", text) is None:
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool, with its error text."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def verify(log_config: Mapping[str, Any] | None, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """mergeAndVerifyLogConfig: the container's LogConfig with the daemon's default driver (and its
    options when the driver is the same), verified. Returns the merged LogConfig."""
    lc = dict(log_config or {})
    dflt = dict(defaults or {})
    dtype = dflt.get("Type") or DEFAULT_DRIVER
    dopts = {str(k): str(v) for k, v in (dflt.get("Config") or {}).items()}
    typ = lc.get("Type") or dtype
    opts = {str(k): str(v) for k, v in (lc.get("Config") or {}).items()}
    if typ == dtype:
        for k, v in dopts.items():
            opts.setdefault(k, v)
    for k, v in dopts.items():  # logcache.MergeDefaultLogConfig: the cache options always
        if k.startswith("cache-"):
            opts.setdefault(k, v)
    try:
        check(typ, opts)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None
    return {"Type": typ, "Config": opts}


def check(typ: str, opts: Mapping[str, str]) -> None:
    """logger.ValidateLogOpts (names), then what the driver's New would refuse (values); ValueError."""
    if typ == "none":
        return
    mode = opts.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise ValueError(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in opts:
        if mode != "non-blocking":
            raise ValueError("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            _ram_in_bytes(opts["max-buffer-size"])
        except ValueError as e:
            raise ValueError(f"error parsing option max-buffer-size: {e}") from None
    if opts.get("cache-disabled", "") not in ("",):
        try:
            _parse_bool(opts["cache-disabled"])
        except ValueError:
            raise ValueError(f"invalid value for option cache-disabled: {opts['cache-disabled']}") from None
    if typ in DOCKERD_ONLY:
        raise ValueError(f"{INIT_FAILED}shim does not support the {typ} log driver (it has json-file, local and none)")
    if typ not in DRIVERS:
        # dockerd looks an unknown name up as a logging plugin (logger/factory.go driverRegistered)
        raise ValueError(f'error looking up logging plugin {typ}: plugin "{typ}" not found')
    own = {k: v for k, v in opts.items() if k not in _BUILTIN}
    keys = _JSON_FILE_KEYS if typ == "json-file" else _LOCAL_KEYS
    for key in own:
        if key not in keys:
            raise ValueError(
                f"unknown log opt '{key}' for json-file log driver"
                if typ == "json-file"
                else f"unknown log opt '{key}' for log driver local"
            )
    try:  # what dockerd finds only when the logger starts
        if typ == "json-file":
            _json_file_policy(own)
            for key in ("labels-regex", "env-regex"):
                if own.get(key):
                    _compile(own[key])
            if own.get("tag"):
                render_tag(own["tag"], {})
        else:
            _local_policy(own)
    except ValueError as e:
        raise ValueError(f"{INIT_FAILED}{e}") from None


def _ram_in_bytes(text: str) -> int:
    m = _SIZE.match(text)
    if m is None:
        raise ValueError(f"invalid size: '{text}'")
    binary = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
    return int(float(m.group(1)) * binary.get((m.group(3) or "").lower(), 1))


def _json_file_policy(opts: Mapping[str, str]) -> LogPolicy:
    """jsonfilelog.New's checks, in its order and words."""
    cap = -1
    if "max-size" in opts:
        cap = from_human_size(opts["max-size"])
        if cap <= 0:
            raise ValueError("max-size must be a positive number")
    max_file = 1
    if "max-file" in opts:
        max_file = _atoi(opts["max-file"])
        if max_file < 1:
            raise ValueError("max-file cannot be less than 1")
    compress = False
    if "compress" in opts:
        compress = _parse_bool(opts["compress"])
        if compress and (max_file == 1 or cap == -1):
            raise ValueError("compress cannot be true when max-file is less than 2 or max-size is not set")
    return LogPolicy("json-file", max(cap, 0), max_file, compress)


def _local_policy(opts: Mapping[str, str]) -> LogPolicy:
    """local.New and validateConfig (20.10): defaults 20 MiB x 5, compressed."""
    size, count, compress = LOCAL_MAX_SIZE, LOCAL_MAX_FILE, LOCAL_COMPRESS
    if "max-size" in opts:
        try:
            size = from_human_size(opts["max-size"])
        except ValueError as e:
            raise ValueError(f"invalid value for max-size: {opts['max-size']}: {e}") from None
    if "max-file" in opts:
        try:
            count = _atoi(opts["max-file"])
        except ValueError as e:
            raise ValueError(f"invalid value for max-file: {opts['max-file']}: {e}") from None
    if "compress" in opts:
        try:
            compress = _parse_bool(opts["compress"])
        except ValueError as e:
            raise ValueError(f"error reading compress log option: {e}") from None
    if size < 0:
        raise ValueError("max size should be a positive number")
    if count < 0:
        raise ValueError("max file count cannot be less than 0")
    if compress and count <= 1:
        raise ValueError("compression cannot be enabled when max file count is 1")
    return LogPolicy("local", size, max(count, 1), compress)


def policy(log_config: Mapping[str, Any]) -> LogPolicy:
    """What the runtime writes for a verified LogConfig."""
    typ = log_config.get("Type") or DEFAULT_DRIVER
    opts = {k: v for k, v in (log_config.get("Config") or {}).items() if k not in _BUILTIN}
    if typ == "local":
        return _local_policy(opts)
    if typ == "json-file":
        return _json_file_policy(opts)
    return LogPolicy(driver="none")


def readable(log_config: Mapping[str, Any]) -> bool:
    return (log_config.get("Type") or DEFAULT_DRIVER) in READABLE


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ValueError(f"error parsing regexp: {e}: `{pattern}`") from None


# --- attributes (docker logs --details) and the tag --------------------------------------------

_TAG_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")
_TAG_FIELDS = (
    "ID",
    "FullID",
    "Name",
    "ImageID",
    "ImageFullID",
    "ImageName",
    "Command",
    "Hostname",
    "DaemonName",
    "ContainerID",
    "ContainerName",
    "ContainerImageID",
    "ContainerImageName",
    "ContainerEntrypoint",
)


def render_tag(template: str, info: Mapping[str, str]) -> str:
    """loggerutils.ParseLogTag for the documented markup (`{{.ID}}`, `{{.Name}}`, …); other Go
    template actions are refused with a message that says so."""
    out, pos = [], 0
    for m in _TAG_ACTION.finditer(template):
        out.append(template[pos : m.start()])
        action = m.group(1)
        if not action.startswith(".") or action[1:] not in _TAG_FIELDS:
            if action.startswith(".") and re.fullmatch(r"\.\w+", action):
                raise ValueError(
                    f'template: log-tag:1:{m.start() + 2}: executing "log-tag" at <{action}>: '
                    f"can't evaluate field {action[1:]} in type *logger.Info"
                )
            raise ValueError(f"template: log-tag: shim supports only {{{{.Field}}}} actions, not {m.group(0)}")
        out.append(info.get(action[1:], ""))
        pos = m.end()
    rest = template[pos:]
    if "{{" in rest:
        raise ValueError("template: log-tag:1: unclosed action")
    out.append(rest)
    return "".join(out)


def attributes(
    log_config: Mapping[str, Any], labels: Mapping[str, str], env: list[str], info: Mapping[str, str]
) -> dict[str, str]:
    """logger.Info.ExtraAttributes (labels, labels-regex, env, env-regex) and the tag: what
    json-file stores with each entry and `docker logs --details` prints."""
    opts = log_config.get("Config") or {}
    extra: dict[str, str] = {}
    for name in filter(None, (opts.get("labels") or "").split(",")):
        if name in labels:
            extra[name] = labels[name]
    if opts.get("labels-regex"):
        rx = _compile(opts["labels-regex"])
        extra.update({k: v for k, v in labels.items() if rx.search(k)})
    env_map: dict[str, str] = {}
    for e in env:
        k, eq, v = e.partition("=")
        if eq:
            env_map[k] = v
    for name in filter(None, (opts.get("env") or "").split(",")):
        if name in env_map:
            extra[name] = env_map[name]
    if opts.get("env-regex"):
        rx = _compile(opts["env-regex"])
        extra.update({k: v for k, v in env_map.items() if rx.search(k)})
    if opts.get("tag"):
        tag = render_tag(opts["tag"], info)
        if tag:
            extra["tag"] = tag
    return extra


def details_prefix(attrs: Mapping[str, str]) -> bytes:
    """httputils attrsByteSlice: sorted `k=v` pairs, query-escaped, joined by commas."""
    return ",".join(
        f"{urllib.parse.quote_plus(k)}={urllib.parse.quote_plus(v)}" for k, v in sorted(attrs.items())
    ).encode()
