"""Where Docker's yaml and dockerd (the spec) disagree, and how the checker reads the yaml then.

Each entry names the versions, the place and the reason; docs/API-VERSIONS.md lists the same
places for people. A violation that matches an entry here is counted as explained, not failed.
"""

from __future__ import annotations

import re
from typing import Any

# Undocumented 200 bodies that are JSON message streams (jsonmessage.JSONMessage): the yaml gives
# no schema; each message is checked against BuildInfo, the yaml's definition of that shape.
STREAM_MESSAGES = {
    ("post", "/images/create"): "BuildInfo",
    ("post", "/images/load"): "BuildInfo",
    ("post", "/images/{name}/push"): "BuildInfo",
    ("post", "/build"): "BuildInfo",
}


def patch_definitions(version: str, defs: dict[str, Any]) -> None:
    """Corrections to the yaml's definitions, where dockerd's Go types say otherwise."""


def patch_response(version: str, template: str, method: str, status: int, schema: dict[str, Any]) -> dict[str, Any]:
    return schema


# (versions or None for all, template regex, method or "*", JSON-path regex, message regex, reason)
_GO_POINTER = "a Go pointer (*int64/*bool) dockerd encodes as null when unset; the yaml types it as a plain scalar"
EXPLAINED: list[tuple[tuple[str, ...] | None, str, str, str, str, str]] = [
    (
        None,
        r"/containers/\{id\}/json",
        "get",
        r"\$\.HostConfig\.(MemorySwappiness|PidsLimit|OomKillDisable|Init)",
        r"None is not of type",
        "HostConfig." + _GO_POINTER,
    ),
    (
        None,
        r"/exec/\{id\}/json",
        "get",
        r"\$\.ExitCode",
        r"None is not of type",
        "ExitCode is a *int in dockerd: null until the process has ended; the yaml types it as integer",
    ),
    (
        ("1.41",),
        r"/system/df",
        "get",
        r"\$",
        r"not in the description: BuilderSize$",
        "dockerd 20.10 (API 1.41) still sends BuilderSize: 0 (removed from the API in 1.42, CHANGELOG v1.42)",
    ),
    (
        ("1.56",),
        r"/images/(load|create|\{name\}/push)|/build",
        "post",
        r"\$",
        r"not in the description: error$",
        "the deprecated `error` of a progress message (1.48) is still sent by dockerd beside errorDetail; "
        "the 1.56 yaml's BuildInfo dropped it",
    ),
    (
        ("1.56",),
        r"/system/df",
        "get",
        r"\$",
        r"not in the description: ((BuildCache|Containers|Images|LayersSize|Volumes)(, )?)+$",
        "from 1.52 dockerd still sends the legacy LayersSize/Images/Containers/Volumes/BuildCache unless "
        "verbose=1 (moby getDiskUsage; the CHANGELOG says 1.53 drops them, the 1.56 yaml lists only the *Usage)",
    ),
    (
        ("1.41", "1.50"),
        r"/events",
        "get",
        r"\$",
        r"not in the description: (from, )?id, status$",
        "dockerd backfills the deprecated status/id/from of container and image events below 1.52 "
        "(moby backFillLegacy: the CLI before 25.0 panics without them); the yaml dropped them",
    ),
    (
        None,
        r"/images/\{name\}/push",
        "post",
        r"\$\.aux",
        r"not in the description: Digest, Size, Tag$",
        "a push ends with dockerd's PushResult {Tag, Digest, Size} as aux (moby push_v2.go progress.Aux, "
        "what docker-py reads; recorded in api-traffic 5.5); the yaml's BuildInfo types aux as ImageID",
    ),
    (
        ("1.56",),
        r"/images/\{name\}/json",
        "get",
        r"\$",
        r"not in the description: (DockerVersion|Parent|DockerVersion, Parent)$",
        "from 1.52 dockerd still sends Parent and DockerVersion when set (legacy-builder images; moby "
        "getImagesByName); the 1.56 yaml dropped both",
    ),
    (
        ("1.41",),
        r"/containers/\{id\}/json",
        "get",
        r"\$\.HostConfig\.LogConfig\.Type",
        r"^'local' is not one of",
        "the `local` log driver exists since dockerd 18.09 and 20.10 answers it; the 1.41 yaml's enum "
        "lacks it (the 1.50 and 1.56 yamls list it)",
    ),
]


def explained(version: str, template: str, method: str, violation: str) -> str | None:
    """The reason when this violation is a documented yaml/dockerd disagreement."""
    path, _, message = violation.partition(": ")
    for versions, t_rx, m, p_rx, msg_rx, reason in EXPLAINED:
        if versions is not None and version not in versions:
            continue
        if m != "*" and m != method.lower():
            continue
        if re.fullmatch(t_rx, template) and re.fullmatch(p_rx, path) and re.search(msg_rx, message):
            return reason
    return None
