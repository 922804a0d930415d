"""Engine layer (pure): a Dockerfile as stages of typed instructions.

The grammar is Docker's own: the `dockerfile` package runs BuildKit's Go parser
(`frontend/dockerfile/parser`, what dockerd's classic builder links) from a binary
wheel, so line continuations, comments, the escape directive, JSON vs shell form and
ENV/LABEL key=value splitting are exactly Docker's (docs/BUILD.md says why this package
and not `dockerfile-parse`). On top of the AST this module does what BuildKit's
`instructions.Parse` does: flags (BFlags, same messages), argument checks, stages
(`FROM … AS name`), meta ARGs before the first FROM, and the ONBUILD rules.
BuildKit-only syntax is refused by name: heredocs here (a parse error), flags such
as `RUN --mount` or `COPY --link` when the step runs (as dockerd does for RUN flags).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from shim.errors import InvalidParameter

BUILDKIT_HINT = "Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"

INSTRUCTIONS = frozenset(
    [
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    ]
)

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


class DockerfileError(InvalidParameter):
    """A Dockerfile that can't be parsed: a 400 before the stream starts, as dockerd answers."""


def needs_buildkit(what: str) -> str:
    return f"the {what} option requires BuildKit. {BUILDKIT_HINT}"


@dataclasses.dataclass(slots=True)
class Command:
    """One instruction: `kind` lower-case, `args` the parser's words, `flags` parsed by name."""

    kind: str
    original: str  # the source text, continuations joined (what "Step N/M : …" prints)
    line: int
    args: list[str]
    json: bool = False
    flags: dict[str, Any] = dataclasses.field(default_factory=dict)
    buildkit_flags: list[str] = dataclasses.field(default_factory=list)  # used flags only BuildKit has
    sub: str = ""  # ONBUILD's trigger expression
    no_expand: bool = False  # LABELs from the `labels` build option

    def __str__(self) -> str:
        return self.original


@dataclasses.dataclass(slots=True)
class Stage:
    base_name: str
    name: str  # lower-case, "" when unnamed
    platform: str
    original: str
    line: int
    commands: list[Command] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Dockerfile:
    escape: str
    directives: dict[str, str]
    meta_args: list[Command]
    stages: list[Stage]
    warnings: list[str] = dataclasses.field(default_factory=list)


def directives(text: str) -> dict[str, str]:
    """Parser directives at the very top (`# escape=`, `# syntax=`), before any other line."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE.match(line)
        if m is None:
            break
        key = m.group(1).lower()
        if key in found:
            break
        found[key] = m.group(2)
    return found


def _goparser() -> Any:
    """The Go parser: a Go runtime in a C extension, 4 MiB of RSS once loaded, so it is loaded with
    the first Dockerfile, not by the idle daemon (issue 17)."""
    import dockerfile  # type: ignore[import-not-found]  # a Go extension without stubs

    return dockerfile


@functools.lru_cache(maxsize=64)
def _go_parse(text: str) -> tuple[Any, ...]:
    """The Go parser's nodes (immutable) for a Dockerfile text: a rebuild of the same Dockerfile,
    the usual case, does not parse it again."""
    return tuple(_goparser().parse_string(text))


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    if not text.strip():
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    direc = directives(text)
    escape = direc.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(f"failed to parse {name}: invalid escape token '{escape}' does not match ` or \\")
    try:
        nodes = _go_parse(text)
    except _goparser().GoParseError as e:
        raise DockerfileError(f"failed to parse {name}: {e}") from None
    df = Dockerfile(escape=escape, directives=direc, meta_args=[], stages=[])
    for node in nodes:
        try:
            item = parse_node(node)
        except DockerfileError as e:
            raise DockerfileError(f"dockerfile parse error on line {node.start_line}: {e.message}") from None
        if isinstance(item, Stage):
            df.stages.append(item)
        elif not df.stages and item.kind == "arg":
            df.meta_args.append(item)
        elif not df.stages:
            raise DockerfileError(
                f"dockerfile parse error on line {node.start_line}: no build stage in current context"
            )
        else:
            df.stages[-1].commands.append(item)
    if not df.stages:
        # dockerd gets this far and finds that no image was made
        raise DockerfileError("No image was generated. Is your Dockerfile empty?")
    return df


def parse_node(node: Any) -> Stage | Command:
    """BuildKit's ParseInstruction for one parser node of the `dockerfile` package."""
    kind = node.cmd.lower()
    original = node.original.strip()
    if node.heredocs:
        raise DockerfileError(f"heredocs ({kind.upper()} <<{node.heredocs[0].name}) require BuildKit. {BUILDKIT_HINT}")
    args = list(node.value)
    if kind == "onbuild":
        args = [node.sub_cmd or "", *args] if node.sub_cmd else args
    flags = list(node.flags)
    if kind not in INSTRUCTIONS:
        raise DockerfileError(f"unknown instruction: {node.cmd}")
    if kind == "from":
        return _parse_from(args, flags, original, node.start_line)
    cmd = Command(kind=kind, original=original, line=node.start_line, args=args, json=bool(node.json))
    _PARSERS[kind](cmd, flags, node)
    return cmd


def _bflags(
    flags: list[str], known: dict[str, str], buildkit: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """BFlags.Parse: `--name=value` strings, `--name[=true|false]` bools; BuildKit-only names noted."""
    values: dict[str, Any] = {}
    used_bk: list[str] = []
    for a in flags:
        if a == "--":
            break
        if not a.startswith("--"):
            raise DockerfileError(f"arg should start with -- : {a}")
        flag_name, has_value, value = a.partition("=")
        name = flag_name[2:]
        if name in buildkit:
            used_bk.append(name)
            continue
        typ = known.get(name)
        if typ is None:
            raise DockerfileError(f"unknown flag: {flag_name}")
        if name in values and typ != "strings":
            raise DockerfileError(f"duplicate flag specified: {flag_name}")
        if typ == "bool":
            if has_value and value == "":
                raise DockerfileError(f"missing a value on flag: {flag_name}")
            if value.lower() not in ("true", "false", ""):
                raise DockerfileError(f"expecting boolean value for flag {flag_name}, not: {value}")
            values[name] = value.lower() != "false"
        elif not has_value:
            raise DockerfileError(f"missing a value on flag: {flag_name}")
        elif typ == "strings":
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values, used_bk


def _parse_from(args: list[str], flags: list[str], original: str, line: int) -> Stage:
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols'
            )
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    values, _ = _bflags(flags, {"platform": "string"})
    return Stage(base_name=args[0], name=name, platform=values.get("platform", ""), original=original, line=line)


def _exactly_one(cmd: Command) -> None:
    if len(cmd.args) != 1:
        raise DockerfileError(f"{cmd.kind.upper()} requires exactly one argument")


def _at_least_one(cmd: Command) -> None:
    if not cmd.args:
        raise DockerfileError(f"{cmd.kind.upper()} requires at least one argument")


def _p_kv(cmd: Command, flags: list[str], node: Any) -> None:
    if not cmd.args:
        raise DockerfileError(f"{cmd.kind.upper()} requires at least one argument")
    cmd.flags, _ = _bflags(flags, {})
    if len(cmd.args) % 2:
        raise DockerfileError(f"Bad input to {cmd.kind.upper()}, too many arguments")
    for k in cmd.args[::2]:
        if not k:
            raise DockerfileError(f"{cmd.kind.upper()} names can not be blank")


def _p_maintainer(cmd: Command, flags: list[str], node: Any) -> None:
    _exactly_one(cmd)
    cmd.flags, _ = _bflags(flags, {})


_COPY_BUILDKIT = ("link", "parents", "exclude")
_ADD_BUILDKIT = ("link", "keep-git-dir", "checksum", "unpack", "exclude")


def _p_copy(cmd: Command, flags: list[str], node: Any) -> None:
    if len(cmd.args) < 2:
        raise DockerfileError(
            f"{cmd.kind.upper()} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    if cmd.kind == "copy":
        known = {"chown": "string", "from": "string", "chmod": "string"}
        cmd.flags, cmd.buildkit_flags = _bflags(flags, known, _COPY_BUILDKIT)
    else:
        cmd.flags, cmd.buildkit_flags = _bflags(flags, {"chown": "string", "chmod": "string"}, _ADD_BUILDKIT)


def _p_onbuild(cmd: Command, flags: list[str], node: Any) -> None:
    if not cmd.args:
        raise DockerfileError("ONBUILD requires at least one argument")
    trigger = cmd.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger")
    cmd.sub = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)


def _p_workdir(cmd: Command, flags: list[str], node: Any) -> None:
    _exactly_one(cmd)
    cmd.flags, _ = _bflags(flags, {})


def _p_run(cmd: Command, flags: list[str], node: Any) -> None:
    # Every RUN flag (--mount, --network, --security, --device) is BuildKit's: refused when the step runs.
    cmd.buildkit_flags = [f[2:].partition("=")[0] for f in flags if f.startswith("--") and f != "--"]


def _p_cmdline(cmd: Command, flags: list[str], node: Any) -> None:
    cmd.flags, _ = _bflags(flags, {})


def _p_healthcheck(cmd: Command, flags: list[str], node: Any) -> None:
    _at_least_one(cmd)
    typ = cmd.args[0].upper()
    if typ == "NONE":
        if len(cmd.args) != 1:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        return
    known = dict.fromkeys(("interval", "timeout", "start-period", "start-interval", "retries"), "string")
    cmd.flags, _ = _bflags(flags, known)
    if typ != "CMD":
        raise DockerfileError(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    if len(cmd.args) < 2 or (not cmd.json and not cmd.args[1].strip()):
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    for n in ("interval", "timeout", "start-period", "start-interval"):
        if n in cmd.flags:
            d = parse_duration(cmd.flags[n])
            if 0 < d < 1_000_000:
                raise DockerfileError(f'Interval "{n}" cannot be less than 1ms')
            cmd.flags[n] = d
    if "retries" in cmd.flags:
        try:
            retries = int(cmd.flags["retries"])
        except ValueError:
            raise DockerfileError(f'strconv.ParseInt: parsing "{cmd.flags["retries"]}": invalid syntax') from None
        if retries < 0:
            raise DockerfileError(f"--retries cannot be negative ({retries})")
        cmd.flags["retries"] = retries


def _p_expose(cmd: Command, flags: list[str], node: Any) -> None:
    _at_least_one(cmd)
    cmd.flags, _ = _bflags(flags, {})
    cmd.args.sort()


def _p_user(cmd: Command, flags: list[str], node: Any) -> None:
    _exactly_one(cmd)
    cmd.flags, _ = _bflags(flags, {})


def _p_volume(cmd: Command, flags: list[str], node: Any) -> None:
    _at_least_one(cmd)
    cmd.flags, _ = _bflags(flags, {})
    cmd.args = [v.strip() for v in cmd.args]
    if any(not v for v in cmd.args):
        raise DockerfileError("VOLUME specified can not be an empty string")


def _p_stopsignal(cmd: Command, flags: list[str], node: Any) -> None:
    _exactly_one(cmd)


def _p_arg(cmd: Command, flags: list[str], node: Any) -> None:
    _at_least_one(cmd)
    for a in cmd.args:
        if "=" in a and not a.partition("=")[0]:
            raise DockerfileError("ARG names can not be blank")


def _p_shell(cmd: Command, flags: list[str], node: Any) -> None:
    cmd.flags, _ = _bflags(flags, {})
    if not cmd.args:
        raise DockerfileError("SHELL requires at least one argument")
    if not cmd.json:
        raise DockerfileError("SHELL requires the arguments to be in JSON form")


_PARSERS = {
    "env": _p_kv,
    "label": _p_kv,
    "maintainer": _p_maintainer,
    "add": _p_copy,
    "copy": _p_copy,
    "onbuild": _p_onbuild,
    "workdir": _p_workdir,
    "run": _p_run,
    "cmd": _p_cmdline,
    "entrypoint": _p_cmdline,
    "healthcheck": _p_healthcheck,
    "expose": _p_expose,
    "user": _p_user,
    "volume": _p_volume,
    "stopsignal": _p_stopsignal,
    "arg": _p_arg,
    "shell": _p_shell,
}

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    s = text
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise DockerfileError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _DUR.match(s, pos)
        if m is None:
            if re.match(r"\d", s[pos:]) and not _DUR.match(s, pos):
                raise DockerfileError(f'time: missing unit in duration "{text}"')
            raise DockerfileError(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * int(total)


def label_command(key: str, value: str) -> Command:
    """NewLabelCommand(k, v, noExpand=true): the `labels` build option, appended to the last stage."""
    return Command(kind="label", original=f"LABEL {key}={value}", line=0, args=[key, value], no_expand=True)


def parse_trigger(expression: str) -> Command:
    """An ONBUILD trigger stored in a base image: one instruction, parsed again."""
    try:
        nodes = _goparser().parse_string(expression)
    except _goparser().GoParseError as e:
        raise DockerfileError(str(e)) from None
    if len(nodes) != 1:
        raise DockerfileError("onbuild trigger should be a single expression")
    item = parse_node(nodes[0])
    if isinstance(item, Stage):
        raise DockerfileError("FROM isn't allowed as an ONBUILD trigger")
    return item
