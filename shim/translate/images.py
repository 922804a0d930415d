"""Translate layer: image objects to the API's shapes, per API version.

Version differences (api-docs CHANGELOG):
- 1.43: list no longer fakes `<none>:<none>` / `<none>@<none>` for untagged images;
- 1.44: `VirtualSize` gone from list and inspect; inspect omits a missing `Created`;
- 1.45: inspect drops `Container` and `ContainerConfig`;
- 1.50: inspect's `Config` drops the container-only fields (Hostname, Attach*, Tty, Image…).
"""

from __future__ import annotations

from typing import Any

from shim.times import ZERO_TIME
from shim.translate.versions import Version

# container.Config in Go field order; None marks `omitempty` fields.
_CONFIG_FIELDS: list[tuple[str, Any]] = [
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", ...),
    ("Cmd", ...),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", ...),
    ("WorkingDir", ""),
    ("Entrypoint", ...),
    ("NetworkDisabled", None),
    ("MacAddress", None),
    ("OnBuild", ...),
    ("Labels", ...),
    ("StopSignal", None),
    ("StopTimeout", None),
    ("Shell", None),
]
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
    """A Docker Config with Go's zero values and field order (`...` = null when unset)."""
    cfg = cfg or {}
    out: dict[str, Any] = {}
    for key, zero in _CONFIG_FIELDS:
        if version is not None and version.ge("1.50") and key in _CONTAINER_ONLY:
            continue
        val = cfg.get(key)
        if zero is None:  # omitempty
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


def list_item(img: Any, tags: list[str], version: Version) -> dict[str, Any]:
    """One GET /images/json entry (img: engine.images.Image; tags: familiar tags to show)."""
    repo_tags, repo_digests = _tags_for_list(tags if img.repo_tags else [], img.familiar_digests, version)
    labels = img.container_config.get("Labels") or None
    out = {
        "Containers": -1,
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
