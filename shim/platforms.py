"""Platform names: the kernel's machine names (`uname -m`) and Go's GOARCH spelling that images,
manifests and /version use. Pure, shared by every layer (like shim.labels).

dockerd reports `Arch` (/version) and image `architecture` in GOARCH (`amd64`), but /info's
`Architecture` as the kernel says it (`x86_64`); OCI indexes name platforms in GOARCH too.
"""

from __future__ import annotations

import platform

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
