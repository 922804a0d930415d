"""Runtime adapter: image archive formats (blocking).

Reads what `docker save` writes (manifest.json + `<id>.json` + `<layer>/layer.tar`, docker
20.10 and 25+ which adds an OCI layout next to it) and plain OCI image layouts
(index.json + blobs/); writes the docker-archive form a real dockerd loads.

Every path named inside an archive is resolved within the unpacked staging directory
(rootpath.ContainerView), so a manifest naming `../../etc/shadow` cannot read the host.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from typing import Any

from shim.engine.imageports import ArchiveImage
from shim.errors import InvalidParameter
from shim.platforms import host_platform
from shim.runtime import tarsafe
from shim.runtime.rootpath import ContainerView

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def _path(stage: str, name: str) -> str:
    path = ContainerView(stage).host_path(tarsafe.clean_member_name(name, stage))
    if not os.path.isfile(path):
        raise InvalidParameter(f"invalid archive: {name!r} not found")
    return path


def _read_json(stage: str, name: str) -> object:
    with open(_path(stage, name), "rb") as f:
        try:
            return json.loads(f.read())
        except ValueError as e:
            raise InvalidParameter(f"invalid archive: {name}: {e}") from e


def read(stage: str) -> list[ArchiveImage]:
    if os.path.lexists(os.path.join(stage, "manifest.json")):
        return _read_docker(stage)
    if os.path.lexists(os.path.join(stage, "index.json")):
        return _read_oci(stage)
    raise InvalidParameter("invalid archive: no manifest.json or index.json found")


def _read_docker(stage: str) -> list[ArchiveImage]:
    manifest = _read_json(stage, "manifest.json")
    if not isinstance(manifest, list):
        raise InvalidParameter("invalid archive: manifest.json is not a list")
    out = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidParameter("invalid archive: bad manifest.json entry")
        with open(_path(stage, entry["Config"]), "rb") as f:
            config = f.read()
        layers = [_path(stage, name) for name in entry.get("Layers") or []]
        out.append(ArchiveImage(config=config, repo_tags=list(entry.get("RepoTags") or []), layer_paths=layers))
    return out


def _blob(stage: str, digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    if not algo or not hexd or "/" in digest:
        raise InvalidParameter(f"invalid archive: bad digest {digest!r}")
    return _path(stage, f"blobs/{algo}/{hexd}")


def _blob_json(stage: str, digest: str) -> dict[str, Any]:
    with open(_blob(stage, digest), "rb") as f:
        try:
            data: object = json.loads(f.read())
        except ValueError as e:
            raise InvalidParameter(f"invalid archive: blob {digest}: {e}") from e
    if not isinstance(data, dict):
        raise InvalidParameter(f"invalid archive: blob {digest} is not an object")
    return data


def _pick_manifest(stage: str, desc: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Follow nested indexes down to the image manifest for this host's platform."""
    if depth > 4:
        raise InvalidParameter("invalid archive: nested indexes too deep")
    if desc.get("mediaType") in (MT_OCI_INDEX, MT_DOCKER_LIST):
        index = _blob_json(stage, desc["digest"])
        manifests = index.get("manifests") or []
        os_, arch = host_platform()
        chosen = next(
            (
                m
                for m in manifests
                if (m.get("platform") or {}).get("os") == os_ and (m.get("platform") or {}).get("architecture") == arch
            ),
            None,
        )
        if chosen is None:
            chosen = next((m for m in manifests if (m.get("platform") or {}).get("architecture") != "unknown"), None)
        if chosen is None:
            raise InvalidParameter("invalid archive: no manifest for this platform")
        return _pick_manifest(stage, chosen, depth + 1)
    return _blob_json(stage, desc["digest"])


def _oci_name(annotations: dict[str, str]) -> str | None:
    name = annotations.get(CONTAINERD_NAME)
    if name:
        return name
    ref = annotations.get(REF_NAME)
    # A bare tag ("latest") names no repository: the image loads untagged, as dockerd does.
    if ref and ("/" in ref or ":" in ref or "@" in ref):
        return ref
    return None


def _read_oci(stage: str) -> list[ArchiveImage]:
    index = _read_json(stage, "index.json")
    if not isinstance(index, dict):
        raise InvalidParameter("invalid archive: index.json is not an object")
    by_config: dict[bytes, ArchiveImage] = {}
    for desc in index.get("manifests") or []:
        manifest = _pick_manifest(stage, desc)
        with open(_blob(stage, manifest["config"]["digest"]), "rb") as f:
            config = f.read()
        img = by_config.get(config)
        if img is None:
            layers = [_blob(stage, layer["digest"]) for layer in manifest.get("layers") or []]
            img = by_config[config] = ArchiveImage(config=config, repo_tags=[], layer_paths=layers)
        name = _oci_name(desc.get("annotations") or {})
        if name and name not in img.repo_tags:
            img.repo_tags.append(name)
    return list(by_config.values())


def check_diff_ids(config: bytes, diff_ids: list[str]) -> None:
    try:
        expected = json.loads(config)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidParameter(f"invalid image config: {e}") from e
    if len(expected) != len(diff_ids):
        raise InvalidParameter(
            f"invalid manifest, layers length mismatch: expected {len(expected)}, got {len(diff_ids)}"
        )
    for i, (want, got) in enumerate(zip(expected, diff_ids, strict=False)):
        if want != got:
            raise InvalidParameter(f"invalid diffID for layer {i}: expected {want!r}, got {got!r}")


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def v1_layer_ids(diff_ids: list[str]) -> list[str]:
    """Stable per-layer directory names: each depends on the layer and all below it."""
    ids, parent = [], ""
    for d in diff_ids:
        parent = hashlib.sha256(_json({"diff_id": d, "parent": parent})).hexdigest()
        ids.append(parent)
    return ids


def write(out_path: str, images: list[ArchiveImage], layer_tar: Callable[[str], str]) -> None:
    """A docker-archive like docker 20.10's `docker save`."""
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()

    def info(name: str, size: int = 0, dir_: bool = False) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE if dir_ else tarfile.REGTYPE
        ti.mode = 0o755 if dir_ else 0o644
        ti.size = size
        ti.mtime = 0
        return ti

    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for img in images:
            hexid = img.image_id.split(":", 1)[1]
            config_name = f"{hexid}.json"
            if config_name not in written:
                tar.addfile(info(config_name, len(img.config)), io.BytesIO(img.config))
                written.add(config_name)
            layer_names = []
            layer_ids = v1_layer_ids(img.diff_ids)
            for i, (diff_id, lid) in enumerate(zip(img.diff_ids, layer_ids, strict=False)):
                layer_names.append(f"{lid}/layer.tar")
                if lid in written:
                    continue
                written.add(lid)
                v1 = {
                    "id": lid,
                    **({"parent": layer_ids[i - 1]} if i else {}),
                    "created": "1970-01-01T00:00:00Z",
                    "container_config": {},
                    "os": "linux",
                }
                v1b = _json(v1)
                tar.addfile(info(lid, dir_=True))
                tar.addfile(info(f"{lid}/VERSION", 3), io.BytesIO(b"1.0"))
                tar.addfile(info(f"{lid}/json", len(v1b)), io.BytesIO(v1b))
                path = layer_tar(diff_id)
                ti = info(f"{lid}/layer.tar", os.path.getsize(path))
                with open(path, "rb") as f:
                    tar.addfile(ti, f)
            manifest.append({"Config": config_name, "RepoTags": img.repo_tags or None, "Layers": layer_names})
            for tag in img.repo_tags:
                repo, _, t = tag.rpartition(":")
                if layer_ids:
                    repositories.setdefault(repo, {})[t] = layer_ids[-1]
        mb = _json(manifest)
        tar.addfile(info("manifest.json", len(mb)), io.BytesIO(mb))
        if repositories:
            rb = _json(repositories)
            tar.addfile(info("repositories", len(rb)), io.BytesIO(rb))
