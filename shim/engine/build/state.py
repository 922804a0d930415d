"""Engine layer (pure): the classic builder's dispatch state and what each metadata instruction does.

dockerd's builder/dockerfile: BuildArgs (buildargs.go), the dispatch state and its run
config (evaluator.go), the per-instruction effects and commit messages (dispatchers.go),
and the helpers that shape a step's container config and history (internals.go). The run
config is a Docker `Config` dict (PascalCase), as the image stores it.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from typing import Any

from shim.engine.build.dockerfile import Command, DockerfileError
from shim.engine.build.shell import Env, Lex, ShellError, go_quote
from shim.errors import InvalidParameter
from shim.platforms import go_arch
from shim.times import now_rfc3339_nano

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
BUILTIN_ARGS = {
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
}


class BuildArgs:
    """buildargs.go: ARGs declared (with defaults), meta ARGs, what the client passed, what was used."""

    def __init__(self, from_options: dict[str, str | None]) -> None:
        self.from_options = from_options
        self.allowed: dict[str, str | None] = {}
        self.meta: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def clone(self) -> BuildArgs:
        out = BuildArgs(self.from_options)
        out.allowed = dict(self.allowed)
        out.meta = dict(self.meta)
        out.referenced = set(self.referenced)
        return out

    def add_arg(self, key: str, value: str | None) -> None:
        self.allowed[key] = value
        self.referenced.add(key)

    def add_meta_arg(self, key: str, value: str | None) -> None:
        self.meta[key] = value

    def _get(self, key: str, mapping: dict[str, str | None]) -> tuple[str, bool]:
        default = mapping.get(key)
        opt = self.from_options.get(key)
        if opt is not None:
            return opt, True
        if default is None:
            meta = self.meta.get(key)
            if meta is not None:
                return meta, True
            return "", False
        return default, key in mapping

    def _all(self, mapping: dict[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in sorted(set(mapping) | BUILTIN_ARGS):
            v, ok = self._get(key, mapping)
            if ok:
                out[key] = v
        return out

    def all_allowed(self) -> dict[str, str]:
        return self._all(self.allowed)

    def all_meta(self) -> dict[str, str]:
        return self._all(self.meta)

    def filter_allowed(self, env: list[str]) -> list[str]:
        """The build args that become environment: allowed ones not already set by ENV."""
        keys = {e.partition("=")[0] for e in env}
        return [f"{k}={v}" for k, v in self.all_allowed().items() if k not in keys]

    def referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed or key not in BUILTIN_ARGS

    def unused_warning(self) -> str:
        left = sorted(k for k in self.from_options if k not in BUILTIN_ARGS and k not in self.referenced)
        return f"[Warning] One or more build-args [{' '.join(left)}] were not consumed\n" if left else ""


@dataclasses.dataclass(slots=True)
class StageState:
    """dispatchState: the stage's run config and the image the next step starts from."""

    build_args: BuildArgs
    run_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    image_id: str = ""  # "" for scratch
    base_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # the whole image config of image_id
    maintainer: str = ""
    cmd_set: bool = False
    stage_name: str = ""
    has_from: bool = False

    def begin(self, name: str, image_id: str, image_config: dict[str, Any]) -> None:
        self.stage_name = name
        self.image_id = image_id
        self.base_config = image_config
        self.run_config = json_copy(image_config.get("config") or {})
        self.has_from = True
        env = list(self.run_config.get("Env") or [])
        if not any(e.partition("=")[0] == "PATH" for e in env):
            env.append("PATH=" + DEFAULT_PATH)
        self.run_config["Env"] = env
        self.run_config["OpenStdin"] = False
        self.run_config["StdinOnce"] = False

    def envs(self) -> Env:
        env = list(self.run_config.get("Env") or [])
        return Env(env + self.build_args.filter_allowed(env))

    def shell(self) -> list[str]:
        return list(self.run_config.get("Shell") or DEFAULT_SHELL)


def expand(lex: Lex, word: str, env: Env) -> str:
    try:
        return lex.process_word(word, env)
    except ShellError as e:
        raise InvalidParameter(str(e)) from None


def comment_cmd(state: StageState, comment: str, single: bool) -> list[str]:
    """withCmdComment (`#(nop) ` and the comment as two args) or withCmdCommentString (one arg)."""
    return [*state.shell(), "#(nop) " + comment] if single else [*state.shell(), "#(nop) ", comment]


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster than
    copy.deepcopy, which a cached step paid for on every probe."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def with_cmd(config: dict[str, Any], cmd: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = json_copy(config)
    out["Cmd"] = cmd
    return out


def cmd_line(cmd: Command, state: StageState, empty_as_nil: bool = False) -> list[str] | None:
    """resolveCmdLine: JSON form as given, shell form behind the SHELL."""
    if cmd.json:
        args: list[str] | None = list(cmd.args)
    else:
        args = [" ".join(cmd.args)]
    if empty_as_nil and not args:
        return None
    if not cmd.json and args is not None:
        return [*state.shell(), *args]
    return args


def apply_metadata(cmd: Command, state: StageState, lex: Lex, out: list[str]) -> str:
    """The run-config change of a metadata instruction and its commit message (history comment).
    `out` collects lines for the client (notes and warnings)."""
    rc = state.run_config
    env = state.envs()
    k = cmd.kind
    if k == "env":
        msg = "ENV"
        for key, value in _pairs(cmd, lex, env):
            entry = f"{key}={value}"
            msg += " " + entry
            envl = list(rc.get("Env") or [])
            for i, e in enumerate(envl):
                if e.partition("=")[0] == key:
                    envl[i] = entry
                    break
            else:
                envl.append(entry)
            rc["Env"] = envl
            env = state.envs()
        return msg
    if k == "label":
        msg = "LABEL"
        labels = dict(rc.get("Labels") or {})
        pairs = list(zip(cmd.args[::2], cmd.args[1::2], strict=True)) if cmd.no_expand else _pairs(cmd, lex, env)
        for key, value in pairs:
            labels[key] = value
            msg += f" {key}={value}"
        rc["Labels"] = labels
        return msg
    if k == "maintainer":
        state.maintainer = cmd.args[0]
        return "MAINTAINER " + cmd.args[0]
    if k == "onbuild":
        rc["OnBuild"] = [*(rc.get("OnBuild") or []), cmd.sub]
        return "ONBUILD " + cmd.sub
    if k == "cmd":
        rc["Cmd"] = cmd_line(cmd, state)
        rc.pop("ArgsEscaped", None)
        if cmd.args:
            state.cmd_set = True
        return "CMD " + go_list_q(rc["Cmd"])
    if k == "entrypoint":
        rc["Entrypoint"] = cmd_line(cmd, state, empty_as_nil=True)
        rc.pop("ArgsEscaped", None)
        if not state.cmd_set:
            rc["Cmd"] = None
        return "ENTRYPOINT " + go_list_q(rc["Entrypoint"])
    if k == "healthcheck":
        old = (rc.get("Healthcheck") or {}).get("Test") or []
        if old and old[0] != "NONE":
            out.append(f"Note: overriding previous HEALTHCHECK: [{' '.join(old)}]\n")
        rc["Healthcheck"] = healthcheck(cmd)
        return "HEALTHCHECK " + health_string(rc["Healthcheck"])
    if k == "expose":
        ports: list[str] = []
        for p in cmd.args:
            try:
                ports += lex.process_words(p, env)
            except ShellError as e:
                raise InvalidParameter(str(e)) from None
        exposed = dict(rc.get("ExposedPorts") or {})
        for p in ports:
            for spec in port_specs(p):
                exposed[spec] = {}
        rc["ExposedPorts"] = exposed
        return "EXPOSE " + " ".join(ports)
    if k == "user":
        user = expand(lex, cmd.args[0], env)
        rc["User"] = user
        return "USER " + user
    if k == "volume":
        vols = dict(rc.get("Volumes") or {})
        names = [expand(lex, v, env) for v in cmd.args]
        for v in names:
            if not v:
                raise InvalidParameter("VOLUME specified can not be an empty string")
            vols[v] = {}
        rc["Volumes"] = vols
        return f"VOLUME [{' '.join(names)}]"
    if k == "stopsignal":
        sig = expand(lex, cmd.args[0], env)
        _check_signal(sig)
        rc["StopSignal"] = sig
        return "STOPSIGNAL " + sig
    if k == "arg":
        parts = []
        for raw in cmd.args:
            key, eq, value = raw.partition("=")
            key = expand(lex, key, env)
            val = expand(lex, value, env) if eq else None
            parts.append(key if val is None else f"{key}={val}")
            state.build_args.add_arg(key, val)
        return "ARG " + " ".join(parts)
    if k == "shell":
        rc["Shell"] = list(cmd.args)
        return f"SHELL [{' '.join(cmd.args)}]"
    raise DockerfileError(f"unknown instruction: {cmd.kind.upper()}")


def _pairs(cmd: Command, lex: Lex, env: Env) -> list[tuple[str, str]]:
    return [(expand(lex, k, env), expand(lex, v, env)) for k, v in zip(cmd.args[::2], cmd.args[1::2], strict=True)]


def healthcheck(cmd: Command) -> dict[str, Any]:
    if cmd.args[0].upper() == "NONE":
        return {"Test": ["NONE"]}
    test = ["CMD", *cmd.args[1:]] if cmd.json else ["CMD-SHELL", " ".join(cmd.args[1:])]
    hc: dict[str, Any] = {"Test": test}
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        if cmd.flags.get(flag):
            hc[key] = cmd.flags[flag]
    if cmd.flags.get("retries"):
        hc["Retries"] = cmd.flags["retries"]
    return hc


def health_string(hc: dict[str, Any]) -> str:
    """fmt %+v of *container.HealthConfig, as dockerd writes it into history."""
    test = " ".join(hc.get("Test") or [])
    return (
        f"&{{Test:[{test}] Interval:{go_duration(hc.get('Interval', 0))} Timeout:{go_duration(hc.get('Timeout', 0))} "
        f"StartPeriod:{go_duration(hc.get('StartPeriod', 0))} StartInterval:{go_duration(hc.get('StartInterval', 0))} "
        f"Retries:{hc.get('Retries', 0)}}}"
    )


def go_duration(ns: int) -> str:
    """Go's time.Duration.String()."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, div in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= div:
                val = f"{ns / div:.9f}".rstrip("0").rstrip(".")
                return ("-" if neg else "") + val + unit
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = f"{rem / 1e9:.9f}".rstrip("0").rstrip(".")
    out = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + s + "s"
    return ("-" if neg else "") + out


def go_list_q(items: list[str] | None) -> str:
    """fmt %q of a []string: ["a" "b"]."""
    return "[" + " ".join(go_quote(i) for i in items or []) + "]"


_SIGNALS = {
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL",
    "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1",
    "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "UNUSED",
}  # fmt: skip


def _check_signal(sig: str) -> None:
    """moby/sys/signal.ParseSignal: a number, NAME, SIGNAME or RTMIN+n."""
    s = sig.upper().removeprefix("SIG")
    if sig.isdigit() and 0 < int(sig) <= 64:
        return
    if s in _SIGNALS or re.fullmatch(r"RTM(IN|AX)([+-]\d+)?", s):
        return
    raise InvalidParameter(f"Invalid signal: {sig}")


def port_specs(raw: str) -> list[str]:
    """EXPOSE's parsePortSpec for a container port (an ip or host part is accepted and dropped)."""
    parts = raw.split(":")
    container = parts[-1]
    port, _, proto = container.partition("/")
    if not port:
        raise InvalidParameter(f"no port specified: {raw}<empty>")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidParameter("invalid proto: " + proto)
    start, _, end = port.partition("-")
    try:
        lo, hi = int(start), int(end or start)
    except ValueError:
        raise InvalidParameter("invalid containerPort: " + port) from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or hi < lo:
        raise InvalidParameter("invalid containerPort: " + port)
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def normalize_workdir(current: str, requested: str) -> str:
    if not requested:
        raise InvalidParameter("cannot normalize nothing")
    if not requested.startswith("/"):
        requested = posixpath.join("/", current or "/", requested)
    return posixpath.normpath(requested).replace("//", "/")


def normalize_dest(workdir: str, dest: str) -> str:
    """normalizeDest: a relative destination is under WORKDIR; a trailing slash is kept."""
    ends = dest.endswith(("/", "/.")) or dest == "."
    if not dest.startswith("/"):
        dest = posixpath.join("/", workdir or "/", dest)
        dest = posixpath.normpath(dest)
        if ends and dest != "/":
            dest += "/"
    return dest


def prepend_env(args: BuildArgs, build_env: list[str], cmd: list[str]) -> list[str]:
    """prependEnvOnCmd: `|N K=V …` before the command, unreferenced proxy args left out."""
    keep = sorted(e for e in build_env if args.referenced_or_not_builtin(e.partition("=")[0]))
    return [f"|{len(keep)}", *keep, *cmd]


# Go's container.Config in field order; the keys without omitempty are always written.
_CONFIG_FIELDS: list[tuple[str, Any, bool]] = [
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", False, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", False, True),
    ("MacAddress", "", True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", "", True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
]


def full_config(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, zero, omitempty in _CONFIG_FIELDS:
        val = cfg.get(key, zero)
        if omitempty and not val:
            continue
        out[key] = json_copy(val)
    return out


def child_config(
    parent: dict[str, Any],
    *,
    config: dict[str, Any],
    container_config: dict[str, Any],
    author: str,
    container: str,
    empty_layer: bool,
    created: str,
) -> dict[str, Any]:
    """image.NewChildImage: the step image's config; the caller appends the new diff ID."""
    entry: dict[str, Any] = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(container_config.get("Cmd") or [])
    if empty_layer:
        entry["empty_layer"] = True
    out: dict[str, Any] = {"created": created}
    if container:
        out["container"] = container
    out["container_config"] = full_config(container_config)
    out["docker_version"] = "shim"
    if author:
        out["author"] = author
    out["config"] = full_config(config)
    out["architecture"] = parent.get("architecture") or go_arch()  # FROM scratch: the host's
    if parent.get("variant"):
        out["variant"] = parent["variant"]
    out["os"] = parent.get("os") or "linux"
    out["rootfs"] = {"type": "layers", "diff_ids": list((parent.get("rootfs") or {}).get("diff_ids") or [])}
    out["history"] = [*(parent.get("history") or []), entry]
    return out


def rfc3339_now() -> str:
    return now_rfc3339_nano()  # Go's RFC3339Nano, as dockerd writes an image's `created`


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """image/cache compare(): the fields the classic cache compares (Cmd carries the instruction)."""
    if a.get("OpenStdin") or b.get("OpenStdin"):
        return False
    for key in ("AttachStdout", "AttachStderr", "User", "Tty", "WorkingDir"):
        if (a.get(key) or "") != (b.get(key) or ""):
            return False
    for key in ("Cmd", "Env", "Entrypoint"):
        if list(a.get(key) or []) != list(b.get(key) or []):
            return False
    return all(dict(a.get(key) or {}) == dict(b.get(key) or {}) for key in ("Labels", "ExposedPorts", "Volumes"))
