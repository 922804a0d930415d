"""Runtime adapter: Docker's seccomp profile format -> the OCI `linux.seccomp` section runc loads.

The one place that translates a Docker-format profile (moby profiles/seccomp: `archMap`,
`names`/`name`, `includes`/`excludes` by caps, arches and minKernel) into what runc takes, as
moby's `setupSeccomp` does (profiles/seccomp/seccomp_linux.go): rules whose conditions don't
hold for this host and this container are left out; capability conditions are read against
the container's bounding set. `to_oci` is pure (host facts come in as arguments) so it is
table-tested; the builtin profile is data in `profiles/seccomp-default.json` (moby's
default.json, see profiles/README.md); `syscall_known` asks the host's libseccomp, and
`x32_abi` whether this kernel runs x32 syscalls at all (docs/SECURITY.md, "x32").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import json
import os
import re
from collections.abc import Callable
from typing import Any

from shim.engine.ports import Confinement
from shim.platforms import go_arch

BUILTIN = "builtin"
UNCONFINED = "unconfined"

# moby seccomp.go goToNative: GOARCH -> libseccomp's native arch name (what `arches` filters say).
GO_TO_NATIVE = {
    "386": "x86",
    "amd64": "amd64",
    "arm": "arm",
    "arm64": "arm64",
    "mips64": "mips64",
    "mips64p32": "mips64n32",
    "mips64le": "mipsel64",
    "mips64p32le": "mips3l64n32",
    "mipsle": "mipsel",
    "ppc": "ppc",
    "ppc64": "ppc64",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390": "s390",
    "s390x": "s390x",
}
# moby seccomp.go nativeToSeccomp: native name -> the SCMP_ARCH_* an archMap entry is keyed by.
NATIVE_TO_SECCOMP = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips3l64n32": "SCMP_ARCH_MIPSEL64N32",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
}
# The fields of an OCI LinuxSyscall (runtime-spec config-linux.md); the Docker-only ones are dropped.
_OCI_SYSCALL_KEYS = ("names", "action", "errnoRet", "args")
_OCI_PROFILE_KEYS = ("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata")


def native_arch(machine: str | None = None) -> str:
    """This host's libseccomp native arch name (`amd64` on x86_64), as `arches` filters spell it."""
    goarch = go_arch(machine)
    return GO_TO_NATIVE.get(goarch, goarch)


def native_seccomp_arch() -> str:
    """This host's arch as SCMP_ARCH_* (the archMap entry a profile is read with)."""
    return NATIVE_TO_SECCOMP.get(native_arch(), "SCMP_ARCH_NATIVE")


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """moby parseRelease: "6.18.44-fc" -> (6, 18); minor revisions and suffixes are ignored."""
    m = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def builtin_profile() -> dict[str, Any]:
    """Docker's default profile (blocking: call it where the spec is built, off the loop). Read for
    each bounding set not rendered yet and not kept (issue 17: its parsed form was 0.3 MiB for good;
    _builtin_oci keeps each rendering, ~4 KiB); a plain path, as importlib.resources' reader brings
    zipfile into the daemon (shim is never imported from a zip: it ships a C extension)."""
    with open(os.path.join(os.path.dirname(__file__), "profiles", "seccomp-default.json")) as f:
        text = f.read()
    profile: dict[str, Any] = json.loads(text)
    return profile


@functools.lru_cache(maxsize=64)
def _builtin_oci(caps: tuple[str, ...], x32: bool) -> dict[str, Any] | None:
    """The default profile rendered for one bounding set, once per set (issue 17: every start
    renders the same few hundred rules); the result is shared, so it is only ever serialized."""
    return to_oci(builtin_profile(), list(caps), x32=x32)


def _min_kernel(value: str) -> tuple[int, int]:
    major, _, minor = value.partition(".")
    return int(major), int(minor)


def _wanted(rule: dict[str, Any], arch: str, caps: set[str], kernel: tuple[int, int]) -> bool:
    """moby setupSeccomp's Loop: an exclude that matches drops the rule, an include that fails drops it."""
    exc = rule.get("excludes") or {}
    if exc.get("arches") and arch in exc["arches"]:
        return False
    # excludes.caps: any one of the listed capabilities held drops the rule
    if any(c in caps for c in exc.get("caps") or []):
        return False
    if exc.get("minKernel") and kernel >= _min_kernel(exc["minKernel"]):
        return False
    inc = rule.get("includes") or {}
    if inc:
        if inc.get("arches") and arch not in inc["arches"]:
            return False
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            return False
        if inc.get("minKernel") and kernel < _min_kernel(inc["minKernel"]):
            return False
    return True


def to_oci(
    profile: dict[str, Any],
    caps: list[str],
    *,
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
    x32: bool = True,
) -> dict[str, Any] | None:
    """A Docker-format profile (already validated) -> `linux.seccomp`, or None for "no filter".

    `caps` is the container's bounding set. moby: a profile with neither a default action nor
    syscalls means seccomp disabled. `x32=False` (the kernel runs no x32 syscalls, see `x32_abi`)
    leaves SCMP_ARCH_X32 out of an archMap's sub-architectures: libseccomp then compiles the
    filter for two architectures instead of three (issue 17: 5.6 ms of runc's CPU per start),
    and an x32-numbered syscall gets the filter's bad-arch action instead of ENOSYS/EPERM.
    """
    arch = arch or native_arch()
    kernel = kernel or kernel_version()
    syscalls = profile.get("syscalls") or []
    if not profile.get("defaultAction") and not syscalls:
        return None
    out: dict[str, Any] = {k: profile[k] for k in _OCI_PROFILE_KEYS if profile.get(k) not in (None, "", [])}
    seccomp_arch = NATIVE_TO_SECCOMP.get(arch)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == seccomp_arch:
            subs = [a for a in entry.get("subArchitectures") or [] if x32 or a != "SCMP_ARCH_X32"]
            out["architectures"] = [seccomp_arch, *subs]
            break
    held = set(caps)
    rules = []
    for rule in syscalls:
        if not _wanted(rule, arch, held, kernel):
            continue
        oci = {k: rule[k] for k in _OCI_SYSCALL_KEYS if rule.get(k) is not None}
        if rule.get("name"):
            oci["names"] = [rule["name"]]
        rules.append(oci)
    out["syscalls"] = rules
    return out


# --- the host's libseccomp (the syscall table runc will resolve names with) -----------------


@functools.cache
def _libseccomp() -> Any:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    return lib


@functools.cache
def syscall_known(name: str) -> bool:
    """Whether libseccomp knows `name` on the native architecture (runc skips names it doesn't).

    Without libseccomp (runc couldn't load a filter either) every name counts as known.
    """
    lib = _libseccomp()
    if lib is None:
        return True
    # __NR_SCMP_ERROR is -1; pseudo-syscalls for other arches resolve to other negative numbers
    return bool(lib.seccomp_syscall_resolve_name(name.encode()) >= 0)


# --- the host's kernel: can it run x32 syscalls? -------------------------------------------

X32_SYSCALL_BIT = 0x40000000  # arch/x86/include/uapi/asm/unistd.h __X32_SYSCALL_BIT
_X32_GETPID = X32_SYSCALL_BIT | 39  # x32's getpid: x86_64's number with the x32 bit


def x32_decision(machine: str, pointer_bytes: int, seccomp_mode: str | None, probe: Callable[[], int]) -> bool:
    """Whether the kernel may run x32 syscalls, from the facts `x32_abi` reads (pure but `probe`).

    Only a 64-bit process on x86_64 asks, and only when its own thread is under no seccomp filter
    (`Seccomp:` 0 in its status): under a filter that lacks x32 the probe itself would be killed.
    `probe` makes x32's getpid and returns 0 or its errno; only a plain ENOSYS (kernel built
    without CONFIG_X86_X32_ABI, or Debian's syscall.x32=n) answers no. Anything else, or not asking,
    keeps x32 (True): the conservative answer only costs start time.
    """
    if machine != "x86_64" or pointer_bytes != 8 or seccomp_mode != "0":
        return True
    return probe() != errno.ENOSYS


def _probe_x32_getpid() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.syscall.argtypes = [ctypes.c_long]
    return 0 if libc.syscall(_X32_GETPID) >= 0 else ctypes.get_errno()


def _seccomp_mode() -> str | None:
    """This thread's seccomp mode (filters are per thread: thread-self, not self)."""
    try:
        with open("/proc/thread-self/status") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("Seccomp:")), None)
    except OSError:
        return None


def x32_abi() -> bool:
    """Whether this kernel runs x32 syscalls (the host fact `to_oci(x32=)` takes).

    One status read and one syscall that returns at once (no blocking); read once per daemon
    with the other host facts, in a worker thread (runtime/oci_host.read_host_facts).
    """
    machine = os.uname().machine
    return x32_decision(machine, ctypes.sizeof(ctypes.c_void_p), _seccomp_mode(), _probe_x32_getpid)


def for_container(conf: Confinement, caps: list[str], *, x32: bool = True) -> dict[str, Any] | None:
    """The `linux.seccomp` section for what the engine decided (None: no filter).

    `x32` (the host fact `x32_abi`) trims only the builtin profile: a profile the user gives is
    applied with the architectures it names, as dockerd does (docs/SECURITY.md, "x32").
    """
    if conf.seccomp == BUILTIN:
        return _builtin_oci(tuple(sorted(set(caps))), x32)
    if conf.seccomp_profile is not None:
        return to_oci(conf.seccomp_profile, caps)
    return None
