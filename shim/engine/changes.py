"""Engine layer: Dockerfile instructions applied to an image Config (`changes` of import and commit).

dockerd's BuildFromConfig accepts only the instructions that change configuration:
CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR
(and HEALTHCHECK, not supported here). JSON (exec) and shell forms as in a Dockerfile.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

from shim import jsonin
from shim.errors import InvalidParameter

VALID = {"cmd", "entrypoint", "env", "expose", "label", "onbuild", "stopsignal", "user", "volume", "workdir"}


def _json_or_shell(args: str) -> list[str]:
    val = _json_list(args)
    if val is not None and all(isinstance(v, str) for v in val):
        return val
    return ["/bin/sh", "-c", args.strip()]


def _json_or_words(args: str) -> list[str]:
    val = _json_list(args)
    return [str(v) for v in val] if val is not None else args.strip().split()


def _json_list(args: str) -> list[Any] | None:
    """The instruction's JSON array form (`["a", "b"]`), or None when it is not one."""
    s = args.strip()
    if not s.startswith("["):
        return None
    try:
        val = jsonin.loads(s)
    except InvalidParameter:
        return None
    return val if isinstance(val, list) else None


def _pairs(instr: str, args: str) -> list[tuple[str, str]]:
    """ENV/LABEL: `k=v k2="v 2"` or the legacy `k v with spaces` (a single pair)."""
    s = args.strip()
    if not s:
        raise InvalidParameter(f"{instr} requires at least one argument")
    first = s.split(None, 1)[0]
    if "=" not in first:
        parts = s.split(None, 1)
        if len(parts) < 2:
            raise InvalidParameter(f"{instr} must have two arguments")
        return [(parts[0], parts[1])]
    out = []
    for word in shlex.split(s, posix=True):
        if "=" not in word:
            raise InvalidParameter(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
        k, v = word.split("=", 1)
        out.append((k, v))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of Docker Config `config` with the instructions in `changes` applied."""
    cfg: dict[str, Any] = json.loads(json.dumps(config or {}))
    cmd_set = False
    entrypoint_set = False
    for line in changes:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        if "\t" in instr:
            instr, _, rest = instr.partition("\t")
            args = rest + " " + args
        name = instr.lower()
        if name not in VALID:
            raise InvalidParameter(f"{name} is not a valid change command")
        if name == "cmd":
            cfg["Cmd"] = _json_or_shell(args)
            cmd_set = True
        elif name == "entrypoint":
            cfg["Entrypoint"] = _json_or_shell(args) if args.strip() else None
            entrypoint_set = True
        elif name == "env":
            env = list(cfg.get("Env") or [])
            for k, v in _pairs("ENV", args):
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            cfg["Env"] = env
        elif name == "label":
            labels = dict(cfg.get("Labels") or {})
            labels.update(_pairs("LABEL", args))
            cfg["Labels"] = labels
        elif name == "expose":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in args.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            cfg["ExposedPorts"] = ports
        elif name == "volume":
            vols = dict(cfg.get("Volumes") or {})
            for v in _json_or_words(args):
                vols[v] = {}
            cfg["Volumes"] = vols
        elif name == "user":
            cfg["User"] = args.strip()
        elif name == "workdir":
            wd = args.strip()
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", wd))
        elif name == "stopsignal":
            cfg["StopSignal"] = args.strip()
        elif name == "onbuild":
            cfg["OnBuild"] = [*list(cfg.get("OnBuild") or []), args.strip()]
    # A new ENTRYPOINT resets an inherited CMD unless CMD was given too (Dockerfile rule).
    if entrypoint_set and not cmd_set:
        cfg["Cmd"] = None
    return cfg
