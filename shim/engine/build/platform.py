"""Engine layer: the build's `--platform` and `FROM --platform=`, read as containerd's platforms.Parse.

dockerd parses the value (a bad specifier is a 400 before the stream, in containerd's words)
and hands it to the image lookup of every FROM. What it does with a local image of another
platform depends on its image store: the graphdriver store uses it anyway (dockerd 20.10 and
28 build `--platform linux/arm64` on an amd64 busybox without a word), the containerd store
looks for that platform and pulls it. shimd refuses it with dockerd's lookup message instead of
building a wrong-architecture image quietly (docs/BUILD.md); the host's platform is accepted.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from shim.errors import InvalidParameter

_COMPONENT = re.compile(r"^[A-Za-z0-9_-]+$")
_KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd",
             "openbsd", "plan9", "solaris", "windows", "zos"}  # fmt: skip
# normalizeArch: the aliases users type, to GOARCH (+ variant)
_ARCH = {"i386": ("386", ""), "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
         "aarch64": ("arm64", ""), "arm64": ("arm64", ""), "armhf": ("arm", "v7"), "armel": ("arm", "v6")}  # fmt: skip
_KNOWN_ARCH = {"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
               "ppc64le", "riscv64", "s390x", "wasm"}  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Platform:
    os: str
    arch: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


def parse(spec: str, host_arch: str) -> Platform:
    """platforms.Parse: `os[/arch[/variant]]`, or a lone arch (then the host's OS); a missing arch
    is the host's."""
    parts = spec.split("/")
    for part in parts:
        if not _COMPONENT.match(part):
            raise InvalidParameter(
                f'"{part}" is an invalid component of "{spec}": platform specifier component must match '
                f'"^[A-Za-z0-9_-]+$": invalid argument'
            )
    if len(parts) > 3:
        raise InvalidParameter(f'"{spec}": cannot parse platform specifier: invalid argument')
    first = parts[0].lower()
    if len(parts) == 1:
        if first in _KNOWN_OS:
            return Platform(first, host_arch)
        if first in _ARCH or first in _KNOWN_ARCH:
            arch, variant = _ARCH.get(first, (first, ""))
            return Platform("linux", arch, variant)
        raise InvalidParameter(f'"{spec}": unknown operating system or architecture: invalid argument')
    arch, variant = _ARCH.get(parts[1].lower(), (parts[1].lower(), ""))
    if len(parts) == 3:
        variant = parts[2].lower()
    return Platform(first, arch, variant)


def image_platform(config: dict[str, Any]) -> Platform:
    arch, variant = _ARCH.get(config.get("architecture") or "", (config.get("architecture") or "", ""))
    return Platform(config.get("os") or "linux", arch, config.get("variant") or variant)


def matches(want: Platform, have: Platform) -> bool:
    """OnlyPlatformWithFallback, as far as one host goes: same OS and architecture; a variant asked
    for must be the image's unless the image names none."""
    if (want.os, want.arch) != (have.os, have.arch):
        return False
    return not want.variant or not have.variant or want.variant == have.variant


def mismatch(ref: str, want: Platform, have: Platform) -> str:
    """dockerd's GetImage error for a local image of another platform."""
    return (
        f"image with reference {ref} was found but its platform ({have}) does not match the specified platform ({want})"
    )
