"""Engine layer: the build's `--platform` and `FROM --platform=` (the grammar is shim.platforms').

dockerd parses the value (a bad specifier is a 400 before the stream, in containerd's words)
and hands it to the image lookup of every FROM. What it does with a local image of another
platform depends on its image store: the graphdriver store uses it anyway (dockerd 20.10 and
28 build `--platform linux/arm64` on an amd64 busybox without a word), the containerd store
looks for that platform and pulls it. shimd pulls it too, and when it can't, refuses with
dockerd's lookup message instead of building a wrong-architecture image quietly (docs/BUILD.md).
"""

from __future__ import annotations

from shim import platforms
from shim.errors import InvalidParameter
from shim.platforms import Platform, matches
from shim.platforms import of_image as image_platform

__all__ = ["Platform", "image_platform", "matches", "mismatch", "parse"]


def parse(spec: str, host_arch: str) -> Platform:
    try:
        return platforms.parse_spec(spec, host_arch)
    except platforms.PlatformSpecError as e:
        raise InvalidParameter(str(e)) from None


def mismatch(ref: str, want: Platform, have: Platform) -> str:
    """dockerd's GetImage error for a local image of another platform."""
    return (
        f"image with reference {ref} was found but its platform ({have}) does not match the specified platform ({want})"
    )
