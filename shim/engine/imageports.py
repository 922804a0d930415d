"""Engine layer: the ports of images, the adapters engine/images/, engine/build/ and
engine/distribution/ drive (a section of the engine's ports, kept beside engine/ports.py so that
neither grows past 600 lines, as engine/netports.py for networking).

Implemented by shim/runtime/layers.py and image_archive.py (the layer and config store, archives),
build_files.py (the classic builder's files) and registry/ (the registry client), built in
shim/app.py. Blocking ports are called through asyncio.to_thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import IO, Any, Protocol

# === the image store: layers, configs, archives (shim/runtime/layers.py, image_archive.py) =======


@dataclasses.dataclass(slots=True)
class LayerInfo:
    diff_id: str  # sha256:<hex> of the uncompressed layer tar
    size: int  # apparent size of the extracted content


@dataclasses.dataclass(slots=True)
class ArchiveImage:
    """One image read from (or written to) a docker-archive / OCI layout."""

    config: bytes  # the image config, byte for byte (its sha256 is the image ID)
    repo_tags: list[str]  # as written in the archive (familiar or canonical names)
    image_id: str = ""  # sha256:<hex>, set once the config is stored
    diff_ids: list[str] = dataclasses.field(default_factory=list)
    layer_paths: list[str] = dataclasses.field(default_factory=list)  # staging paths while loading


class BlobWriter(Protocol):
    size: int

    def write(self, data: bytes) -> None: ...

    def close(self) -> str:
        """Closes the file; returns the sha256 digest of everything written."""


class GzipLayer(Protocol):
    digest: str  # set once chunks() is exhausted
    size: int

    def chunks(self) -> Iterator[tuple[bytes, int]]:
        """(compressed bytes, uncompressed bytes consumed so far), blocking."""


class LayerStore(Protocol):
    """Blocking content store for layers and image configs; the engine calls it via to_thread."""

    def staging_file(self) -> str: ...

    def discard(self, path: str) -> None: ...

    def add_layer(self, path: str, progress: Callable[[int], None] | None = None) -> LayerInfo:
        """Ingest a layer tar (plain/gzip/bzip2/xz/zstd) safely; InvalidParameter if hostile.

        `progress(compressed bytes read)` is called along the way; raising from it cancels
        the ingest, which then leaves nothing behind.
        """

    def blob_writer(self, path: str) -> BlobWriter:
        """A download's destination file, hashed as it is written."""

    def gzip_layer(self, diff_id: str) -> GzipLayer:
        """The stored layer, gzip-compressed on the fly for an upload."""

    def has_layer(self, diff_id: str) -> bool: ...

    def layer_dir(self, diff_id: str) -> str:
        """The extracted layer in overlayfs form (an overlay lower dir)."""

    def layer_size(self, diff_id: str) -> int: ...

    def remove_layer(self, diff_id: str) -> None: ...

    def list_layers(self) -> list[str]: ...

    def list_configs(self) -> list[str]:
        """The image IDs whose config is stored (a start removes those no image record names)."""

    def put_config(self, data: bytes) -> str: ...

    def get_config(self, image_id: str) -> bytes: ...

    def remove_config(self, image_id: str) -> None: ...

    def load_archive(self, path: str) -> list[ArchiveImage]:
        """Unpack a docker-archive or OCI layout tar, ingest layers and configs."""

    def save_archive(self, out_path: str, images: list[ArchiveImage]) -> None:
        """Write a docker-archive (docker save format) of the given images."""

    def diff_tar(self, upper_dir: str) -> str:
        """A container's overlay upper dir as a layer tar (staging file) with AUFS whiteouts."""


# --- the classic builder's files (shim/runtime/build_files.py) ------------------------------------


@dataclasses.dataclass(slots=True)
class BuildCopySource:
    """One COPY/ADD source resolved inside its root (the context or an image's root)."""

    rel: str  # path inside the root
    host: str  # resolved host path
    name: str  # base name (what a file is called at a directory destination)
    is_dir: bool
    checksum: str  # "file:<hex>" / "dir:<hex>": names, modes, sizes, link targets and content


@dataclasses.dataclass(slots=True)
class BuildStepRoot:
    """A COPY/ADD/WORKDIR step's root: the parent's layers with a fresh upper dir, mounted."""

    dir: str
    merged: str
    upper: str


class BuildFilesPort(Protocol):
    """Blocking file work of the builder; the engine calls it through asyncio.to_thread."""

    def workspace(self) -> str: ...

    def discard(self, path: str) -> None: ...

    def open_spool(self, workspace: str) -> IO[bytes]: ...

    def unpack_context(self, workspace: str) -> tuple[str, bool]: ...

    def read_context_file(self, ctx: str, rel: str) -> bytes | None: ...

    def remove_excluded(self, ctx: str, excluded: Callable[[str], bool], keep: set[str]) -> None: ...

    def remove_context_file(self, ctx: str, rel: str) -> None: ...

    def sources(self, root: str, patterns: list[str], cmd: str) -> list[BuildCopySource]: ...

    def mount_step(self, workspace: str, layer_dirs: list[str]) -> BuildStepRoot: ...

    def unmount_step(self, step: BuildStepRoot) -> None: ...

    def copy(
        self,
        step: BuildStepRoot,
        src_root: str,
        sources: list[BuildCopySource],
        dest: str,
        *,
        owner: tuple[int, int] | None,
        chmod: int | None,
        unpack: bool,
    ) -> None: ...

    def mkdir(self, step: BuildStepRoot, path: str) -> None: ...

    def chown_ids(self, step: BuildStepRoot, chown: str) -> tuple[int, int]: ...

    def layer_tar(self, upper: str) -> str: ...

    def fetch_url(self, workspace: str, url: str) -> tuple[str, str, float]: ...


# --- registries (shim/runtime/registry/) ------------------------------------------------


@dataclasses.dataclass(slots=True)
class RegistryAuth:
    """Credentials for one registry, as the client sent them (X-Registry-Auth, POST /auth).

    Never logged, never stored by the daemon: they live as long as the request.
    """

    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth refresh token from an earlier login
    registry_token: str = ""  # a bearer token to send as is
    server_address: str = ""

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"RegistryAuth(username={self.username!r}, server_address={self.server_address!r})"

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """One place to talk to a registry: `url` is scheme://host[:port] without a path."""

    url: str
    host: str  # the registry's host[:port] (the certs.d directory name)
    secure: bool  # verify TLS and read certs.d; False: unverified TLS or plain HTTP
    mirror: bool = False
    official: bool = False


@dataclasses.dataclass(slots=True)
class FetchedManifest:
    data: bytes  # exactly as served: its sha256 is the manifest digest
    media_type: str  # the Content-Type the registry gave (parameters dropped)


class RegistryError(Exception):
    """The registry answered with an error (the distribution spec's errcode body, or a bare status).

    `code` is the errcode (MANIFEST_UNKNOWN, UNAUTHORIZED, DENIED, BLOB_UNKNOWN…) or "" when the body
    had none; str() is distribution's client wording: `manifest unknown: manifest unknown`.
    """

    def __init__(self, status: int, code: str, message: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.message = message


class RegistryUnreachable(Exception):
    """Transport failure before the registry said anything (refused, TLS, DNS, timeout, proxy).

    An endpoint that fails this way is skipped for the next one (HTTPS -> HTTP, mirror -> origin).
    """


class BlobStream(Protocol):
    size: int | None  # Content-Length when the registry gave one

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class RegistryRepository(Protocol):
    """One repository on one endpoint, authenticated for the actions asked (pull, push)."""

    async def get_manifest(self, reference: str, accept: list[str], limit: int) -> FetchedManifest:
        """GET /v2/<name>/manifests/<reference>; RegistryError when it is not there."""

    async def open_blob(self, digest: str) -> BlobStream: ...

    async def blob_exists(self, digest: str) -> bool:
        """HEAD /v2/<name>/blobs/<digest>."""

    async def mount_blob(self, digest: str, source: str) -> bool:
        """Cross-repository mount from `source` (a path on the same registry); False if not mounted."""

    async def upload_blob(self, chunks: AsyncIterator[bytes], digest: Callable[[], str]) -> int:
        """Stream a new blob (POST, PATCH, then PUT ?digest= with `digest()` once the chunks are
        exhausted); returns the bytes sent."""

    async def put_manifest(self, tag: str, data: bytes, media_type: str) -> None: ...

    async def tags(self) -> list[str]: ...

    async def close(self) -> None: ...


class EndpointPolicy(Protocol):
    """dockerd's rules for where a registry is reached (engine/distribution/registries.py
    `RegistryPolicy`); the adapter only adds the name resolution the insecure-CIDR check needs."""

    def hosts_to_check(self, host: str) -> list[str]: ...

    def lookup_name(self, host: str) -> str | None:
        """The name to resolve for is_secure(), or None when the check needs no lookup."""

    def is_secure(self, host: str, addresses: Iterable[str] = ()) -> bool: ...

    def endpoints(self, host: str, secure_of: dict[str, bool], *, push: bool = False) -> list[Endpoint]: ...


class RegistryClient(Protocol):
    async def endpoints(self, host: str, *, push: bool) -> list[Endpoint]:
        """Where a registry is reached, in the order to try (mirrors, HTTPS, then HTTP if insecure)."""

    def repository(
        self, endpoint: Endpoint, path: str, auth: RegistryAuth, *, push: bool, mount_from: list[str] | None = None
    ) -> RegistryRepository: ...

    async def login(self, endpoint: Endpoint, auth: RegistryAuth) -> str:
        """Check the credentials against the registry; returns an identity token ("" if none)."""

    async def search(self, endpoint: Endpoint, term: str, limit: int, auth: RegistryAuth) -> list[dict[str, Any]]:
        """GET /v1/search?q=&n= on the registry: its `results` as given."""

    async def close(self) -> None: ...
