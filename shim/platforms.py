"""Platform names: the kernel's machine names (`uname -m`) and Go's GOARCH spelling that images,
manifests and /version use. Pure, shared by every layer (like shim.labels).

dockerd reports `Arch` (/version) and image `architecture` in GOARCH (`amd64`), but /info's
`Architecture` as the kernel says it (`x86_64`); OCI indexes name platforms in GOARCH too.
"""

from __future__ import annotations

import dataclasses
import platform
import re

# uname -m -> GOARCH (containerd's platforms normalisation, the common Linux machines)
_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# GOARCH -> the machine name /info shows (the first spelling of each above)
_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "arm": "armv7l", "386": "i686"}

OS = "linux"


def go_arch(machine: str | None = None) -> str:
    """GOARCH of a machine name (this host's when None); unknown names are kept as they are."""
    m = platform.machine() if machine is None else machine
    return _GOARCH.get(m, m)


def machine_name(goarch: str) -> str:
    """The kernel's machine name for a GOARCH (`amd64` -> `x86_64`), for /info's Architecture."""
    return _MACHINE.get(goarch, goarch)


def host_platform() -> tuple[str, str]:
    """(os, GOARCH) of this host, as an OCI index names platforms."""
    return OS, go_arch()


# --- platform specifiers (`os[/arch[/variant]]`), as containerd's platforms.Parse reads them ----

_COMPONENT = re.compile(r"^[A-Za-z0-9_-]+$")
_KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd",
             "openbsd", "plan9", "solaris", "windows", "zos"}  # fmt: skip
# normalizeArch: the aliases users type, to GOARCH (+ variant)
_SPEC_ARCH = {
    "i386": ("386", ""),
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
}
_KNOWN_ARCH = {"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
               "ppc64le", "riscv64", "s390x", "wasm"}  # fmt: skip


class PlatformSpecError(ValueError):
    """A specifier containerd would refuse; the message is containerd's (`…: invalid argument`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


def parse_spec(spec: str, host_arch: str | None = None) -> Platform:
    """platforms.Parse: `os[/arch[/variant]]`, or a lone arch (then linux); a missing arch is the
    host's (`host_arch`, else this machine's GOARCH)."""
    parts = spec.split("/")
    for part in parts:
        if not _COMPONENT.match(part):
            raise PlatformSpecError(
                f'"{part}" is an invalid component of "{spec}": platform specifier component must match '
                f'"^[A-Za-z0-9_-]+$": invalid argument'
            )
    if len(parts) > 3:
        raise PlatformSpecError(f'"{spec}": cannot parse platform specifier: invalid argument')
    first = parts[0].lower()
    if len(parts) == 1:
        if first in _KNOWN_OS:
            return Platform(first, host_arch or go_arch())
        if first in _SPEC_ARCH or first in _KNOWN_ARCH:
            arch, variant = _SPEC_ARCH.get(first, (first, ""))
            return Platform(OS, arch, variant)
        raise PlatformSpecError(f'"{spec}": unknown operating system or architecture: invalid argument')
    arch, variant = _SPEC_ARCH.get(parts[1].lower(), (parts[1].lower(), ""))
    if len(parts) == 3:
        variant = parts[2].lower()
    return Platform(first, arch, variant)


def of_image(config: dict[str, object]) -> Platform:
    """An image config's platform (`os`, `architecture`, `variant`)."""
    raw = str(config.get("architecture") or "")
    arch, variant = _SPEC_ARCH.get(raw, (raw, ""))
    return Platform(str(config.get("os") or OS), arch, str(config.get("variant") or variant))


def matches(want: Platform, have: Platform) -> bool:
    """OnlyPlatformWithFallback, as far as one host goes: same OS and architecture; a variant asked
    for must be the image's unless the image names none."""
    if (want.os, want.arch) != (have.os, have.arch):
        return False
    return not want.variant or not have.variant or want.variant == have.variant
