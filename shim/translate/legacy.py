"""Translate layer: the HostConfig a pre-1.24 client may send in the body of start.

dockerd 20.10's postContainersStart (api/server/router/container/container_routes.go):
a body counts only when Content-Length > 7 ("a non-nil json object is at least 7
characters") or the length is unknown (chunked). From 1.24 on such a body is a 400;
below it the Content-Type must be empty or application/json, and the body is a whole
HostConfig (bare, or wrapped as {"HostConfig": {...}}, runconfig's ContainerConfigWrapper)
that replaces the container's one. The Windows refusal ("Supplying a hostconfig on start is
not supported…") comes later, from the daemon's ContainerStart after its state checks, so it
lives in engine/containers.py, which knows the runtime's platform.
"""

from __future__ import annotations

from typing import Any

from shim import jsonin
from shim.errors import InvalidParameter
from shim.translate.versions import Version

BODY_ON_START = "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"


def body_counts(content_length: int | None, chunked: bool) -> bool:
    if chunked or content_length is None:
        return chunked
    return content_length > 7


def check_content_type(content_type: str) -> None:
    """httputils.CheckForJSON: empty or application/json (parameters allowed)."""
    ct = (content_type or "").strip()
    if not ct:
        return
    if ct.split(";", 1)[0].strip().lower() == "application/json":
        return
    raise InvalidParameter(f"Content-Type specified ({ct}) must be 'application/json'")


def start_host_config(
    version: Version, content_length: int | None, chunked: bool, content_type: str, body: bytes
) -> dict[str, Any] | None:
    """The start body as a HostConfig to apply, or None when there is none."""
    if not body_counts(content_length, chunked):
        return None
    if version.ge("1.24"):
        raise InvalidParameter(BODY_ON_START)
    check_content_type(content_type)
    # dockerd 20.10 answers undecodable JSON with a 500 (api-traffic section 8, item 14): a client's
    # mistake is a 400 here, as for every other JSON body (issue 16: no 5xx for malformed input)
    data = jsonin.loads(body or b"null")
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidParameter("json: cannot unmarshal into Go value of type container.HostConfig")
    inner = data.get("HostConfig")
    if isinstance(inner, dict):
        hc = dict(inner)
        # getHostConfig: a few top-level fields survive into the inner one when it leaves them out.
        for key in ("Memory", "MemorySwap", "CpuShares", "CpusetCpus"):
            if data.get(key) and not hc.get(key):
                hc[key] = data[key]
    else:
        hc = {k: v for k, v in data.items() if k != "HostConfig"}
    if not hc.get("NetworkMode"):
        hc["NetworkMode"] = "default"  # runconfig.SetDefaultNetModeIfBlank
    return hc
