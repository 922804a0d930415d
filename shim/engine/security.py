"""Engine layer: a container's confinement as dockerd decides it (pure; one place for create's checks).

- `parse_security_opts`: HostConfig.SecurityOpt as moby's parseSecurityOpt reads it (daemon_unix.go),
  with its wording ("invalid --security-opt 1/2").
- `check_seccomp_profile`: a Docker-format seccomp profile (moby profiles/seccomp) parsed and checked
  against what runc 1.1 and this host's libseccomp accept, so a bad profile is a 400 at create that
  names what is wrong instead of a failed start (dockerd only finds out at start).
- `SecurityPolicy`: the daemon-wide defaults (`--seccomp-profile`, `--no-new-privileges`); `validate`
  at create, `confinement` at start (moby WithSeccomp: which profile applies to which container).
The translation of a profile into OCI's `linux.seccomp` is the runtime's (runtime/seccomp.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

from shim.engine.ports import Confinement
from shim.errors import InvalidParameter

BUILTIN = "builtin"
UNCONFINED = "unconfined"

# The actions runc 1.1 knows (libcontainer/seccomp ConvertStringToAction). SCMP_ACT_NOTIFY needs a
# seccomp agent on a listenerPath, which shimd does not run: runc would refuse it at start.
ACTIONS = {
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
}
OPERATORS = {
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
}
# The architectures runc 1.1 can add to a filter, by byte order (a filter holds one byte order only:
# libseccomp answers EDOM for the other). RISCV64, PARISC and LOONGARCH64 are unknown to runc 1.1.
LITTLE_ENDIAN = {
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC64LE",
}
BIG_ENDIAN = {
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
}
_KERNEL = re.compile(r"^\d+\.\d+$")


@dataclasses.dataclass(slots=True)
class SecurityOpts:
    """HostConfig.SecurityOpt, read."""

    seccomp: str = ""  # "" (the daemon's choice) | builtin | unconfined | a profile's JSON text
    apparmor: str = ""
    no_new_privileges: bool | None = None  # None: the daemon's default
    labels: list[str] = dataclasses.field(default_factory=list)


def parse_security_opts(opts: list[str] | None) -> SecurityOpts:
    """moby daemon_unix.go parseSecurityOpt, its messages included."""
    out = SecurityOpts()
    for opt in opts or []:
        if opt == "no-new-privileges":
            out.no_new_privileges = True
            continue
        if opt == "disable":
            out.labels.append("disable")
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidParameter(f"invalid --security-opt 1: {_go_quote(opt)}")
        key, _, val = opt.partition(sep)
        if key == "label":
            out.labels.append(val)
        elif key == "apparmor":
            out.apparmor = val
        elif key == "seccomp":
            out.seccomp = val
        elif key == "no-new-privileges":
            flag = _parse_bool(val)
            if flag is None:
                raise InvalidParameter(f"invalid --security-opt 2: {_go_quote(opt)}")
            out.no_new_privileges = flag
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {_go_quote(opt)}")
    return out


def _parse_bool(val: str) -> bool | None:
    """Go's strconv.ParseBool."""
    if val in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if val in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    return None


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# --- seccomp profiles ---------------------------------------------------------------------


def check_seccomp_profile(
    text: str, *, known_syscall: Callable[[str], bool] = lambda _n: True, native: str = "SCMP_ARCH_X86_64"
) -> dict[str, Any]:
    """Parse and check a Docker-format profile; the parsed profile, or InvalidParameter naming the fault.

    `known_syscall` answers whether this host's libseccomp resolves a name on the native arch
    (runc skips names it can't resolve, so a profile none of whose names resolve does nothing).
    """
    try:
        profile = json.loads(text)
    except ValueError as e:
        raise InvalidParameter(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict):
        raise InvalidParameter("Decoding seccomp profile failed: the profile is not a JSON object")
    _check_top(profile, native)
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _bad("'syscalls' must be a list")
    names: list[str] = []
    for i, rule in enumerate(syscalls):
        names += _check_rule(rule, i)
    if names and not any(known_syscall(n) for n in names):
        shown = ", ".join(sorted(set(names))[:8])
        raise _bad(f"none of its syscalls exist on this host's architecture ({native}): {shown}")
    return profile


def _bad(what: str) -> InvalidParameter:
    return InvalidParameter(f"invalid seccomp profile: {what}")


def _check_top(profile: dict[str, Any], native: str) -> None:
    default = profile.get("defaultAction", "")
    if default or profile.get("syscalls"):
        _check_action(default, "defaultAction")
    _check_errno(profile.get("defaultErrnoRet"), "defaultErrnoRet")
    if profile.get("architectures") and profile.get("archMap"):
        # moby setupSeccomp's wording
        raise InvalidParameter(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    arches = list(_str_list(profile.get("architectures"), "architectures"))
    for entry in profile.get("archMap") or []:
        if not isinstance(entry, dict):
            raise _bad("each 'archMap' entry must be an object")
        if entry.get("architecture") == native:
            # only the native entry is used (moby: the one keyed by this host's arch)
            arches += [native, *_str_list(entry.get("subArchitectures"), "subArchitectures")]
    same = LITTLE_ENDIAN if native in LITTLE_ENDIAN else BIG_ENDIAN
    for arch in arches:
        if arch not in LITTLE_ENDIAN | BIG_ENDIAN:
            raise _bad(f"unknown architecture {_go_quote(arch)} (runc 1.1 knows {', '.join(sorted(same))})")
        if arch not in same:
            raise _bad(f"architecture {arch} has another byte order than this host's ({native})")
    if profile.get("flags"):
        raise _bad(f"flags {_str_list(profile['flags'], 'flags')} are not supported by runc 1.1")
    if profile.get("listenerPath"):
        raise _bad("listenerPath (a seccomp agent) is not supported")


def _check_action(action: Any, where: str) -> None:
    if action == "SCMP_ACT_NOTIFY":
        raise _bad(f"{where}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which shimd does not run")
    if action not in ACTIONS:
        raise _bad(f"{where}: unknown action {_go_quote(str(action))}")


def _check_errno(value: Any, where: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise _bad(f"{where} must be a non-negative number, not {json.dumps(value)}")


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"'{where}' must be a list of strings")
    return value


def _check_rule(rule: Any, i: int) -> list[str]:
    if not isinstance(rule, dict):
        raise _bad(f"syscalls[{i}] is not an object")
    names = _str_list(rule.get("names"), f"syscalls[{i}].names")
    if rule.get("name"):
        if names:
            # moby setupSeccomp's wording
            raise InvalidParameter(
                "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'"
            )
        names = [str(rule["name"])]
    where = f"syscalls[{i}] ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
    _check_action(rule.get("action", ""), where)
    _check_errno(rule.get("errnoRet"), f"{where} errnoRet")
    for arg in rule.get("args") or []:
        if not isinstance(arg, dict):
            raise _bad(f"{where}: each argument filter must be an object")
        index = arg.get("index")
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise _bad(f"{where}: argument index {json.dumps(index)} is out of range (syscalls have 6 arguments: 0-5)")
        if arg.get("op") not in OPERATORS:
            raise _bad(f"{where}: unknown operator {_go_quote(str(arg.get('op')))}")
        for key in ("value", "valueTwo"):
            _check_errno(arg.get(key), f"{where} argument {key}")
    for cond_key in ("includes", "excludes"):
        cond = rule.get(cond_key)
        if cond is None:
            continue
        if not isinstance(cond, dict):
            raise _bad(f"{where}: '{cond_key}' must be an object")
        _str_list(cond.get("caps"), f"{cond_key}.caps")
        _str_list(cond.get("arches"), f"{cond_key}.arches")
        mk = cond.get("minKernel")
        if mk not in (None, "") and (not isinstance(mk, str) or not _KERNEL.match(mk) or mk in ("0.0",)):
            # moby KernelVersion.UnmarshalJSON's wording
            raise InvalidParameter(f'invalid kernel version: {json.dumps(mk)}, expected "<kernel>.<major>"')
    return names


# --- the daemon's policy ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class SecurityPolicy:
    """Daemon-wide defaults, and which confinement a container gets (moby WithSeccomp, parseSecurityOpt)."""

    # --seccomp-profile: builtin | unconfined | the path of a profile file (its parsed content below)
    seccomp_profile: str = BUILTIN
    seccomp_default: dict[str, Any] | None = None
    no_new_privileges: bool = False  # --no-new-privileges
    cgroupns_mode: str = "host"  # --default-cgroupns-mode (host: dockerd's default on cgroup v1)
    known_syscall: Callable[[str], bool] = lambda _n: True
    native_arch: str = "SCMP_ARCH_X86_64"

    def check_profile(self, text: str) -> dict[str, Any]:
        return check_seccomp_profile(text, known_syscall=self.known_syscall, native=self.native_arch)

    def validate(self, hc: dict[str, Any]) -> None:
        """At create: everything SecurityOpt says must be usable, or nothing is created."""
        opts = parse_security_opts(hc.get("SecurityOpt"))
        if opts.seccomp not in ("", BUILTIN, UNCONFINED):
            self.check_profile(opts.seccomp)

    def fill_defaults(self, hc: dict[str, Any]) -> None:
        """At create, before dockerd's other defaults: the daemon's cgroup namespace mode
        (moby adaptContainerSettings: a privileged container on cgroup v1 stays in the host's)."""
        if not hc.get("CgroupnsMode"):
            hc["CgroupnsMode"] = "host" if hc.get("Privileged") else self.cgroupns_mode

    def confinement(self, hc: dict[str, Any]) -> Confinement:
        """At start: the seccomp profile and no-new-privileges the container runs with."""
        opts = parse_security_opts(hc.get("SecurityOpt"))
        nnp = self.no_new_privileges if opts.no_new_privileges is None else opts.no_new_privileges
        mode, profile = self._seccomp(opts.seccomp, bool(hc.get("Privileged")))
        return Confinement(seccomp=mode, seccomp_profile=profile, no_new_privileges=nnp)

    def _seccomp(self, asked: str, privileged: bool) -> tuple[str, dict[str, Any] | None]:
        if asked == UNCONFINED:
            return UNCONFINED, None
        if asked == BUILTIN:
            return BUILTIN, None
        if asked:
            return "custom", self.check_profile(asked)
        if privileged:
            # moby: a privileged container runs unconfined unless it names a profile itself
            return UNCONFINED, None
        if self.seccomp_default is not None:
            return "custom", self.seccomp_default
        return (UNCONFINED, None) if self.seccomp_profile == UNCONFINED else (BUILTIN, None)

    def apparmor_profile(self, hc: dict[str, Any], *, started: bool) -> str:
        """Inspect's AppArmorProfile on a host without AppArmor, as dockerd: the `apparmor=` option
        from create (parseSecurityOpt) until the first start, which resets it (saveAppArmorConfig)."""
        if started:
            return ""
        try:
            return parse_security_opts(hc.get("SecurityOpt")).apparmor
        except InvalidParameter:  # a container stored before SecurityOpt was checked at create
            return ""
