"""Engine layer (pure): the one rule for object names and for paths that reach the filesystem.

dockerd's daemon/names.RestrictedNamePattern (`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`, so at least two
characters) for containers and local volumes; shimd applies its characters to networks too (a
one-character network name stays valid, as in dockerd), so every name can become a file name, a
DNS label list and an iptables comment without escaping (dockerd takes a NUL byte in a network name). The length
limit is NAME_MAX: a volume's name is a directory under the data root, and one rule for all three
keeps `docker run --name`, `network create` and `volume create` alike (dockerd answers a volume
name past 255 bytes with a 500 from mkdir). A NUL byte or an over-long path is refused before any
syscall sees it (Python raises ValueError for the NUL, the kernel ENAMETOOLONG for the length).
"""

from __future__ import annotations

import re

from shim.errors import InvalidParameter

NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(NAME_CHARS + "+")
NAME_MAX = 255  # bytes, as the kernel's NAME_MAX
PATH_MAX = 4096  # bytes with the terminating NUL, as the kernel's PATH_MAX


def _valid(name: str) -> bool:
    # fullmatch: `$` would let a trailing newline through
    return _NAME.fullmatch(name) is not None and len(name.encode()) <= NAME_MAX


def container_name(name: str) -> str:
    """A container name (the API's `?name=`, rename), with or without its slash; returns it without."""
    bare = name[1:] if name.startswith("/") else name
    if not _valid(bare):
        if _NAME.fullmatch(bare) is not None:
            raise InvalidParameter(f"Invalid container name ({name}): longer than {NAME_MAX} bytes")
        raise InvalidParameter(f"Invalid container name ({name}), only {NAME_CHARS} are allowed")
    return bare


def volume_name(name: str) -> None:
    """A local volume's name (volume create, `-v name:/path`, `--mount source=name`)."""
    if len(name) == 1:
        raise InvalidParameter(
            f"create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )
    if not _valid(name):
        if _NAME.fullmatch(name) is not None:
            raise InvalidParameter(f"create {_short(name)}: volume name is longer than {NAME_MAX} bytes")
        raise InvalidParameter(
            f"create {_short(name)}: {_quote(name)} includes invalid characters for a local volume name, only "
            f'"{NAME_CHARS}" are allowed. If you intended to pass a host directory, use absolute path'
        )


def network_name(name: str) -> None:
    """A network's name at create: the same characters; one is enough (dockerd takes any name, and
    `docker network create a` is common enough to keep)."""
    if not _valid(name * 2 if len(name) == 1 else name):
        if _NAME.fullmatch(name) is not None:
            raise InvalidParameter(f"invalid network name {_quote(_short(name))}: longer than {NAME_MAX} bytes")
        raise InvalidParameter(f'invalid network name {_quote(_short(name))}: only "{NAME_CHARS}" are allowed')


def path(value: str, field: str) -> str:
    """A path the daemon will hand to the filesystem (archive `path=`, bind sources, mount targets)."""
    if "\x00" in value:
        raise InvalidParameter(f"invalid {field}: the path contains a NUL byte")
    if len(value.encode()) >= PATH_MAX:
        raise InvalidParameter(f"invalid {field}: the path is longer than {PATH_MAX - 1} bytes")
    for part in value.split("/"):
        if len(part.encode()) > NAME_MAX:
            raise InvalidParameter(f"invalid {field}: a path component is longer than {NAME_MAX} bytes")
    return value


def no_nul(value: str, field: str) -> None:
    """Strings that become process arguments, environment or file names: execve and open stop at NUL."""
    if "\x00" in value:
        raise InvalidParameter(f"invalid {field}: contains a NUL byte")


def _quote(text: str) -> str:
    """Go's %q for the printable ASCII that names are (and an escape for the rest)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def _short(text: str, limit: int = 80) -> str:
    """A message quotes at most this much of a hostile value."""
    return text if len(text) <= limit else text[:limit] + "…"
