"""Translate layer: image objects to the API's shapes, per API version.

Version differences (api-docs CHANGELOG):
- 1.43: list no longer fakes `<none>:<none>` / `<none>@<none>` for untagged images;
- 1.44: `VirtualSize` gone from list and inspect; inspect omits a missing `Created`;
- 1.45: inspect drops `Container` and `ContainerConfig`;
- 1.50: inspect's `Config` drops the container-only fields (Hostname, Attach*, Tty, Image…);
- 1.51: list's `Containers` counts the containers using the image (-1 before);
- 1.52: inspect omits empty `Parent`, `Comment`, `DockerVersion`, `Author`, and its `Config` is the
  OCI image config: every field omitted when unset (moby image_routes.go, inspect_response.go).
Descriptor (1.48), Manifests (1.47/1.48) and Identity (1.53/1.54) come only from a containerd
(multi-platform) image store; shimd's store is a graph-driver one, whose dockerd omits them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shim import jsonin
from shim.engine.containerconfig import CONFIG_FIELDS
from shim.errors import InvalidParameter, NotFound
from shim.times import ZERO_TIME
from shim.translate.versions import Version

# Fields that are not image configuration; API 1.50 stopped returning them.
_CONTAINER_ONLY = {
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
    "NetworkDisabled",
    "MacAddress",
    "StopTimeout",
}


def container_config(cfg: dict[str, Any] | None, version: Version | None = None) -> dict[str, Any]:
    """A Docker Config with Go's zero values and field order (`...` = null when unset).
    From 1.52 the OCI image config: every field omitempty."""
    cfg = cfg or {}
    out: dict[str, Any] = {}
    oci = version is not None and version.ge("1.52")
    for key, zero in CONFIG_FIELDS:
        if version is not None and version.ge("1.50") and key in _CONTAINER_ONLY:
            continue
        val = cfg.get(key)
        if zero is None or oci:  # omitempty
            if val not in (None, "", [], {}, False, 0):
                out[key] = val
        elif zero is ...:
            out[key] = val if val not in ([], {}) else None
        else:
            out[key] = val if val is not None else zero
    return out


def _tags_for_list(tags: list[str], digests: list[str], version: Version) -> tuple[Any, Any]:
    if not tags and not digests:
        if version.lt("1.43"):
            return ["<none>:<none>"], ["<none>@<none>"]
        return [], []
    return tags, (digests if digests else ([] if version.ge("1.43") else None))


def list_item(
    img: Any, tags: list[str], version: Version, containers: Callable[[str], int] | None = None
) -> dict[str, Any]:
    """One GET /images/json entry (img: engine.images.Image; tags: familiar tags to show;
    containers: how many containers use an image ID, shown from 1.51, -1 before)."""
    repo_tags, repo_digests = _tags_for_list(tags if img.repo_tags else [], img.familiar_digests, version)
    labels = img.container_config.get("Labels") or None
    out = {
        "Containers": containers(img.id) if containers is not None and version.ge("1.51") else -1,
        "Created": img.created_unix,
        "Id": img.id,
        "Labels": labels,
        "ParentId": img.parent,
        "RepoDigests": repo_digests,
        "RepoTags": repo_tags,
        "SharedSize": -1,
        "Size": img.size,
    }
    if version.lt("1.44"):
        out["VirtualSize"] = img.size
    return out


def inspect(img: Any, layer_dirs: list[str], version: Version) -> dict[str, Any]:
    """GET /images/{name}/json (img: engine.images.Image; layer_dirs lowest first)."""
    cfg = img.config
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": img.familiar_tags,
        "RepoDigests": img.familiar_digests,
        "Parent": img.parent,
        "Comment": cfg.get("comment", ""),
    }
    created = cfg.get("created")
    if created or version.lt("1.44"):
        out["Created"] = created or ZERO_TIME
    if version.lt("1.45"):
        out["Container"] = cfg.get("container", "")
        out["ContainerConfig"] = container_config(cfg.get("container_config"))
    out.update(
        {
            "DockerVersion": cfg.get("docker_version", ""),
            "Author": cfg.get("author", ""),
            "Config": container_config(cfg.get("config"), version),
            "Architecture": cfg.get("architecture", ""),
        }
    )
    if version.ge("1.52"):
        # omitempty from 1.52 (CHANGELOG v1.52)
        for key in ("Parent", "Comment", "DockerVersion", "Author"):
            if not out[key]:
                del out[key]
    if cfg.get("variant"):
        out["Variant"] = cfg["variant"]
    out["Os"] = cfg.get("os", "")
    if cfg.get("os.version"):
        out["OsVersion"] = cfg["os.version"]
    out["Size"] = img.size
    if version.lt("1.44"):
        out["VirtualSize"] = img.size
    out["GraphDriver"] = {"Data": graph_driver_data(layer_dirs), "Name": "overlay2"}
    out["RootFS"] = {"Type": "layers", "Layers": img.diff_ids}
    out["Metadata"] = {"LastTagTime": img.last_tag_time or ZERO_TIME}
    return out


def graph_driver_data(layer_dirs: list[str]) -> dict[str, str] | None:
    if not layer_dirs:
        return None
    top = layer_dirs[-1]
    base = top.rsplit("/", 1)[0]
    data = {}
    if len(layer_dirs) > 1:
        data["LowerDir"] = ":".join(reversed(layer_dirs[:-1]))
    data.update(MergedDir=f"{base}/merged", UpperDir=top, WorkDir=f"{base}/work")
    return data


def history_item(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "Comment": entry["comment"],
        "Created": entry["created"],
        "CreatedBy": entry["created_by"],
        "Id": entry["id"],
        "Size": entry["size"],
        "Tags": entry["tags"] or None,
    }


def prune_result(records: list[dict[str, str]], reclaimed: int) -> dict[str, Any]:
    return {"ImagesDeleted": records or None, "SpaceReclaimed": reclaimed}


# ---------------------------------------------------------------- platform parameters (1.48+)


def decode_platform(raw: str) -> dict[str, Any]:
    """httputils.DecodePlatform: a JSON-encoded OCI platform with both os and architecture."""
    try:
        p = jsonin.loads(raw)
    except InvalidParameter as e:
        raise InvalidParameter(f"failed to parse platform: {e.message.removeprefix('invalid JSON: ')}") from None
    if not isinstance(p, dict):
        raise InvalidParameter("failed to parse platform: json: cannot unmarshal into Go value of type v1.Platform")
    optional = p.get("variant") or p.get("os.version") or p.get("os.features")
    if not p.get("os") and not p.get("architecture") and optional:
        raise InvalidParameter("optional platform fields provided, but OS and Architecture are missing")
    if not p.get("os") or not p.get("architecture"):
        raise InvalidParameter("both OS and Architecture must be provided")
    return p


def platforms_in(
    values: list[str], version: Version, *, since: str, several_since: str | None = None
) -> list[dict[str, Any]]:
    """The `platform` (or `platforms`) query values from `since` on; more than one only from
    `several_since` (load/save: 1.52), as moby's image routes."""
    if version.lt(since) or not values:
        return []
    if several_since is not None and version.lt(several_since) and len(values) > 1:
        raise InvalidParameter(
            "multiple platform parameters are not supported in this API version; use API version 1.52 or later"
        )
    return [decode_platform(v) for v in values if v]


def _format(p: dict[str, Any]) -> str:
    return "/".join(x for x in (p.get("os", ""), p.get("architecture", ""), p.get("variant", "")) if x)


def check_platforms(name: str, cfg: dict[str, Any], wanted: list[dict[str, Any]]) -> None:
    """A single-platform image matches a requested platform or is NotFound with dockerd's
    wording (daemon/images/image.go GetImage)."""
    have = {"os": cfg.get("os", ""), "architecture": cfg.get("architecture", ""), "variant": cfg.get("variant", "")}
    for p in wanted:
        if p.get("os") != have["os"] or p.get("architecture") != have["architecture"]:
            raise NotFound(
                f"image with reference {name} was found but its platform ({_format(have)}) "
                f"does not match the specified platform ({_format(p)})"
            )
        if p.get("variant") and have["variant"] and p["variant"] != have["variant"]:
            raise NotFound(
                f"image with reference {name} was found but its platform ({_format(have)}) "
                f"does not match the specified platform ({_format(p)})"
            )


def inspect_options(manifests: str | None, platform: str | None, version: Version) -> list[dict[str, Any]]:
    """GET /images/{name}/json?manifests=&platform=: manifests counts from 1.48, platform from 1.49,
    and the two exclude each other (moby getImagesByName). Returns the platforms to match."""
    want_manifests = bool(manifests) and version.ge("1.48") and manifests not in ("0", "false", "False")
    wanted = platforms_in([platform] if platform else [], version, since="1.49")
    if want_manifests and wanted:
        raise InvalidParameter("conflicting options: manifests and platform options cannot both be set")
    return wanted


def list_options(manifests: bool, identity: bool, version: Version) -> None:
    """GET /images/json?identity=: from 1.54, only together with manifests=1."""
    if version.ge("1.54") and identity and not (manifests and version.ge("1.47")):
        raise InvalidParameter("conflicting options: identity requires manifests=1")


def attestation_platforms(values: list[str]) -> list[dict[str, Any]]:
    """GET /images/{name}/attestations?platform=: one value at most (moby getImageAttestations)."""
    if len(values) > 1:
        raise InvalidParameter("only one platform value is currently supported")
    return [decode_platform(values[0])] if values and values[0] else []
