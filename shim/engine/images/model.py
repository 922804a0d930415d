"""Engine layer: the image model (an image record, what containers get from it) and the small
rules about image references that dockerd's image service applies (ID prefixes, single
references, chain IDs, a commit's Config in Go's field order).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from shim.engine import refs
from shim.times import NS, parse_rfc3339_nano

KIND = "images"  # the store's kind: one record per image, `images/<hex>`


@dataclasses.dataclass(slots=True)
class Image:
    id: str  # sha256:<hex>
    config: dict[str, Any]  # the whole image config JSON (architecture, os, config, created, history, rootfs…)
    repo_tags: list[str] = dataclasses.field(default_factory=list)  # canonical: docker.io/library/busybox:latest
    repo_digests: list[str] = dataclasses.field(default_factory=list)  # canonical name@sha256:…
    parent: str = ""
    size: int = 0
    last_tag_time: str = ""  # RFC3339Nano, "" = never tagged

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def container_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.config.get("config") or {}
        return cfg

    @property
    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.container_config.get("Labels") or {}
        return labels

    @property
    def created_ns(self) -> int:
        """The config's `created` in unix nanoseconds; 0 when absent or not RFC 3339."""
        return time_ns(self.config.get("created", ""))

    @property
    def created_unix(self) -> int:
        return self.created_ns // NS

    @property
    def dangling(self) -> bool:
        return not (self.repo_tags or self.repo_digests)

    @property
    def familiar_tags(self) -> list[str]:
        # Sorted by familiar name, as the reference store returns them (lexicalRefs).
        return sorted(refs.parse_image_ref(t).familiar for t in self.repo_tags)

    @property
    def familiar_digests(self) -> list[str]:
        return sorted(refs.parse_image_ref(d).familiar for d in self.repo_digests)

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo_tags": self.repo_tags,
            "repo_digests": self.repo_digests,
            "parent": self.parent,
            "size": self.size,
            "last_tag_time": self.last_tag_time,
        }


@dataclasses.dataclass(slots=True)
class ContainerImage:
    """What the container engine needs to create and run a container from an image."""

    id: str  # sha256:<hex>
    config: dict[str, Any]  # the image's Docker Config (Env, Cmd, Entrypoint, WorkingDir, User, …)
    layer_dirs: list[str]  # overlay lower dirs, lowest layer first
    name: str  # familiar reference as the user gave it resolved (busybox:latest) or the ID


@dataclasses.dataclass(slots=True)
class ImageDetails:
    """GET /images/{name}/json: the image and where its layers are (GraphDriver data)."""

    image: Image
    layer_dirs: list[str]  # lowest layer first


def time_ns(text: str) -> int:
    """An image config's RFC 3339 time in unix nanoseconds; 0 when absent or unparseable."""
    if not text:
        return 0
    try:
        return parse_rfc3339_nano(text.strip())
    except ValueError:
        return 0


def short_id(image_id: str) -> str:
    return refs.strip_algo(image_id)[:12]


def chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def is_id_prefix(image_id: str, ref: str) -> bool:
    bare = refs.strip_algo(ref)
    return bool(bare) and all(c in "0123456789abcdef" for c in bare) and refs.strip_algo(image_id).startswith(bare)


def single_reference(names: list[str]) -> bool:
    """isSingleReference: all references in one repository and at most one of them a tag."""
    if not names:
        return True
    parsed = [refs.parse_image_ref(n) for n in names]
    repos = {p.name for p in parsed}
    tags = [p for p in parsed if p.digest is None]
    return len(repos) == 1 and len(tags) <= 1


def full_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A container.Config in Go field order with its zero values, as dockerd stores it."""
    base: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    out = {**base, **cfg}
    if "ExposedPorts" in out:  # Go's field order puts it after AttachStderr
        ports = out.pop("ExposedPorts")
        items = list(out.items())
        idx = [k for k, _ in items].index("AttachStderr") + 1
        out = dict([*items[:idx], ("ExposedPorts", ports), *items[idx:]])
    return out
