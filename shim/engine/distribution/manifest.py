"""Engine layer (pure): manifests and indexes as the distribution spec and dockerd read them.

Four kinds are pulled: Docker v2 schema 2 and OCI image manifests (a config and layers),
Docker manifest lists and OCI image indexes (one manifest per platform). Schema 1 is refused
with dockerd's message. Every descriptor is checked before anything is fetched with it: a
digest we can verify (sha256), a sane size, a media type we can unpack.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from shim.errors import InvalidParameter
from shim.platforms import Platform as Platform  # re-exported: descriptors and selection speak of it
from shim.platforms import go_arch

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_LAYER_PREFIX = "application/vnd.oci.image.layer."  # .v1.tar, .v1.tar+gzip, .v1.tar+zstd, nondistributable…

# The Accept list dockerd sends for a pull (schema 2 and OCI, lists and indexes; no schema 1).
ACCEPT = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX]
MAX_MANIFEST = 4 << 20  # distribution's own limit on a manifest body
MAX_CONFIG = 8 << 20  # an image config is a few KiB; anything bigger is hostile

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclasses.dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        """stringid.TruncateID of the digest: the id progress lines carry."""
        return self.digest.partition(":")[2][:12]


@dataclasses.dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]


class Schema1Refused(InvalidParameter):
    pass


def schema1_message(familiar_ref: str) -> str:
    """DeprecatedSchema1ImageError (20.10's wording, which 25+ turned into an error)."""
    return (
        f"[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support is "
        f"disabled by default and will be removed in an upcoming release. Suggest the author of {familiar_ref} to "
        "upgrade the image to the OCI Format or Docker Image manifest v2, schema 2. More information at "
        "https://docs.docker.com/go/deprecated-image-specs/"
    )


def check_digest(digest: object) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidParameter(f"invalid checksum digest format: {digest!r}"[:200])
    return digest


def _descriptor(raw: Any, *, with_platform: bool = False) -> Descriptor:
    if not isinstance(raw, dict):
        raise InvalidParameter("unsupported manifest format")
    size = raw.get("size")
    if not isinstance(size, int) or size < 0:
        raise InvalidParameter(f"invalid descriptor size: {size!r}"[:200])
    platform = None
    if with_platform and isinstance(raw.get("platform"), dict):
        p = raw["platform"]
        platform = Platform(str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", "") or ""))
    urls = raw.get("urls") or ()
    return Descriptor(
        media_type=str(raw.get("mediaType", "")),
        digest=check_digest(raw.get("digest")),
        size=size,
        platform=platform,
        urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
    )


def parse(data: bytes, content_type: str) -> ImageManifest | ManifestIndex:
    """A fetched manifest body. The mediaType inside wins over the Content-Type (as distribution's
    client: registries are known to serve `application/json`)."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise InvalidParameter("unsupported manifest format") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("unsupported manifest format")
    mt = str(doc.get("mediaType") or content_type or "")
    if doc.get("schemaVersion") == 1 or mt in (SCHEMA1, SCHEMA1_SIGNED):
        raise Schema1Refused("schema 1")
    if "manifests" in doc and mt in (DOCKER_LIST, OCI_INDEX, "", "application/json"):
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise InvalidParameter("unsupported manifest format")
        return ManifestIndex(mt or OCI_INDEX, tuple(_descriptor(m, with_platform=True) for m in entries))
    if mt in (DOCKER_MANIFEST, OCI_MANIFEST, "", "application/json") and "config" in doc:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidParameter("unsupported manifest format")
        return ImageManifest(mt or OCI_MANIFEST, _descriptor(doc["config"]), tuple(_descriptor(d) for d in layers))
    raise InvalidParameter("unsupported manifest format")


def check_layer_type(media_type: str) -> None:
    """Layer media types we can unpack: Docker's gzip (and foreign) layers, OCI tar/gzip/zstd."""
    if media_type in (DOCKER_LAYER, DOCKER_FOREIGN_LAYER, "application/octet-stream"):
        return
    if media_type.startswith(OCI_LAYER_PREFIX):
        rest = media_type[len(OCI_LAYER_PREFIX) :]
        if rest in ("v1.tar", "v1.tar+gzip", "v1.tar+zstd") or rest.startswith("nondistributable.v1.tar"):
            return
    raise InvalidParameter(f"unsupported media type {media_type}")


def check_config_type(media_type: str) -> None:
    if media_type not in (DOCKER_CONFIG, OCI_CONFIG, "application/octet-stream", ""):
        raise InvalidParameter(
            f'Encountered remote "{media_type}"(unknown) when fetching'
            if "docker" not in media_type and "oci" not in media_type
            else f"unsupported media type {media_type}"
        )


# --- platforms -------------------------------------------------------------------------

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
}


def normalize_platform(p: Platform) -> Platform:
    """containerd's platforms.Normalize: arm64's v8 variant is the default; arm defaults to v7."""
    os_ = (p.os or "linux").lower()
    arch = go_arch(p.arch.lower()) if p.arch else ""
    variant = p.variant.lower()
    if arch == "arm64" and variant in ("8", "v8"):
        variant = ""
    elif arch == "arm" and variant in ("", "7"):
        variant = "v7"
    elif arch == "arm" and variant in ("5", "6", "8"):
        variant = "v" + variant
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(os_, arch, variant)


def parse_platform(text: str) -> Platform:
    """The API's `platform=os[/arch[/variant]]` (an arch alone is taken with the host's OS)."""
    parts = text.strip().split("/")
    if not text.strip() or len(parts) > 3 or any(not re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise InvalidParameter(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        if parts[0].lower() in ("linux", "windows", "darwin", "freebsd"):
            return normalize_platform(Platform(parts[0], ""))
        return normalize_platform(Platform("linux", parts[0]))
    if parts[0].lower() != "linux":
        raise InvalidParameter(f'"{text}": operating system is not supported')
    return normalize_platform(Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))


def matches(want: Platform, have: Platform | None) -> bool:
    if have is None:
        return False
    h = normalize_platform(have)
    if h.os != want.os or (want.arch and h.arch != want.arch):
        return False
    return not want.variant or not h.variant or want.variant == h.variant


def select(index: ManifestIndex, want: Platform) -> Descriptor:
    """filterManifests: the entries for the wanted platform, the best (exact variant) first;
    NotFound-like InvalidParameter naming the platform when there is none."""
    candidates = [
        d
        for d in index.manifests
        if d.media_type in (DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX, "") and matches(want, d.platform)
    ]
    if not candidates:
        raise NoMatchingManifest(f"no matching manifest for {want} in the manifest list entries")
    candidates.sort(key=lambda d: 0 if d.platform and normalize_platform(d.platform).variant == want.variant else 1)
    return candidates[0]


class NoMatchingManifest(InvalidParameter):
    status = 404


def config_platform(config: dict[str, Any]) -> Platform:
    return normalize_platform(
        Platform(str(config.get("os", "linux")), str(config.get("architecture", "")), str(config.get("variant", "")))
    )


# --- building (push) -------------------------------------------------------------------


def build_schema2(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """A Docker v2 schema 2 manifest, serialised as dockerd does (MarshalIndent with 3 spaces):
    the same inputs always give the same bytes, so a second push gives the same digest."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": config.media_type, "size": config.size, "digest": config.digest},
        "layers": [{"mediaType": d.media_type, "size": d.size, "digest": d.digest} for d in layers],
    }
    return json.dumps(doc, indent=3).encode()


def descriptor_json(d: Descriptor, platform: Platform | None = None) -> dict[str, Any]:
    """An OCI descriptor as GET /distribution/{name}/json shows it."""
    out: dict[str, Any] = {"mediaType": d.media_type, "digest": d.digest, "size": d.size}
    if d.urls:
        out["urls"] = list(d.urls)
    return out
