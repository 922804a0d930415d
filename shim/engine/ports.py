"""Engine layer: the ports (Protocols) the engine needs from the outside world.

Concrete adapters live in shim/runtime/ and are built only in shim/app.py; tests
use fakes from tests/fakes.py. The engine keeps a container's configuration in
Docker's own shapes (Config / HostConfig dicts, as dockerd does), so the runtime
receives those plus everything the engine has already resolved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

from shim.engine.model import Container

if TYPE_CHECKING:  # netmodel imports MountSpec from here
    from shim.engine.netmodel import EndpointView


@dataclasses.dataclass(slots=True)
class MountSpec:
    """One extra mount inside the container (binds, volumes, tmpfs, /etc/hosts…)."""

    destination: str
    source: str
    type: str = "bind"  # bind | tmpfs | proc | ...
    options: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Confinement:
    """What the engine decided about seccomp and no-new-privileges (engine/security.py)."""

    seccomp: str = "builtin"  # builtin (Docker's default profile) | unconfined | custom
    seccomp_profile: dict[str, Any] | None = None  # custom: the Docker-format profile, checked at create
    no_new_privileges: bool = False


@dataclasses.dataclass(slots=True)
class LogPolicy:
    """How the runtime writes and keeps a container's log (from its merged, verified LogConfig)."""

    driver: str = "json-file"  # json-file | local | none
    max_size: int = 0  # bytes per file; 0: one file without limit
    max_file: int = 1  # files kept (the current one included)
    compress: bool = False  # rotated files gzip-compressed


@dataclasses.dataclass(slots=True)
class RunRequest:
    """Everything the runtime needs to create and start one container process."""

    id: str
    name: str  # without the leading slash
    layer_dirs: list[str]  # image layer directories, lowest first
    args: list[str]  # final argv (Entrypoint + Cmd, Docker's rules applied)
    env: list[str]  # final environment, KEY=VALUE
    cwd: str
    user: str  # as given by the user ("", "name", "uid", "uid:gid"); resolved by the runtime in the rootfs
    hostname: str
    domainname: str
    tty: bool
    open_stdin: bool
    stdin_once: bool
    config: dict[str, Any]  # Docker Config, image defaults merged in
    host_config: dict[str, Any]  # Docker HostConfig
    mounts: list[MountSpec] = dataclasses.field(default_factory=list)
    netns_path: str | None = None  # None: the runtime makes a fresh netns (loopback only); "host": share the host's
    stop_signal: str = "SIGTERM"
    # join another container's namespaces (IpcMode/PidMode "container:<id>"):
    # {"ipc"|"pid"|"uts": "/proc/<pid>/ns/<type>"}
    namespace_paths: dict[str, str] = dataclasses.field(default_factory=dict)
    confinement: Confinement = dataclasses.field(default_factory=Confinement)
    log: LogPolicy = dataclasses.field(default_factory=LogPolicy)


@dataclasses.dataclass(slots=True)
class ExitInfo:
    exit_code: int
    finished_at: float  # unix time, seconds (float)
    oom_killed: bool = False


@dataclasses.dataclass(slots=True)
class RuntimeState:
    status: str  # "created" | "running" | "paused" | "stopped" | "unknown"
    pid: int = 0
    exit: ExitInfo | None = None
    # survey(): the runtime still holds something a running container holds (its runc state, its
    # monitor, its rootfs mount), so a container whose record says it is not running needs a cleanup
    held: bool = False


@dataclasses.dataclass(slots=True)
class LogQuery:
    """A read of a container's log, as GET /containers/{id}/logs asks it (json-file's ReadConfig:
    tail counts entries of both streams, then since/until apply, then the stream choice)."""

    stdout: bool = True
    stderr: bool = True
    since: int = 0  # unix ns; entries before it are left out (0: from the first)
    until: int = 0  # unix ns; the read ends at the first entry after it (0: no end)
    tail: int | None = None  # only the last N entries (None: all)
    timestamps: bool = False  # each line prefixed with its RFC3339NanoFixed time and a space
    details: bytes | None = None  # `--details`: the log attributes ("k=v,k2=v2") and a space before each line
    follow: bool = False  # keep reading new entries until the container exits


@dataclasses.dataclass(slots=True)
class LogChunk:
    """One or more consecutive lines of one stream, already as `docker logs` writes them."""

    stream: int  # 1 stdout, 2 stderr
    data: bytes


class AttachHandle(Protocol):
    """A live connection to a running container's stdio (through its monitor)."""

    async def read(self) -> tuple[int, bytes] | None:
        """Next output chunk as (stream, bytes) with stream 1=stdout 2=stderr; None at end."""

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def close(self) -> None: ...


class Runtime(Protocol):
    platform: str  # "linux": start-time HostConfig semantics depend on it

    async def start(self, req: RunRequest) -> int:
        """Mount the rootfs, write the bundle, create and start the process under its monitor.

        Returns the container's host PID once the process runs. Raises a ShimError subclass
        with dockerd's wording on failure (as moby: SystemFailure for anything while building
        the spec, e.g. a bad user; for what the OCI runtime reports, errors.StartFailed with its
        exit code: StartRefused '...exec: "x": executable file not found in $PATH...' with
        exit_code 127 (126 for permission denied) for a bad command; see docs/RUNTIME.md).
        Leaves nothing behind on failure.
        """

    async def wait_exit(self, cid: str) -> ExitInfo:
        """Resolves when the container's process has exited (works across shimd restarts)."""

    async def state(self, cid: str) -> RuntimeState: ...

    async def survey(self, known: set[str]) -> dict[str, RuntimeState]:
        """Daemon start: kill and remove every container the runtime holds that is not in `known`
        (with everything it holds); return the state of each known one, in one pass."""

    async def kill(self, cid: str, signal: int) -> None: ...

    async def pause(self, cid: str) -> None: ...

    async def resume(self, cid: str) -> None: ...

    async def cleanup(self, cid: str) -> None:
        """After exit: delete the runc container, unmount the rootfs, stop the monitor. Idempotent."""

    async def remove(self, cid: str) -> None:
        """Delete everything the runtime holds for the container (bundle, upper dir, logs)."""

    async def attach(self, cid: str) -> AttachHandle: ...

    async def resize(self, cid: str, height: int, width: int) -> None: ...

    def logs(self, cid: str, query: LogQuery) -> AsyncIterator[LogChunk]:
        """The container's log as the query asks, every kept line in order (across rotations);
        with `follow`, keeps yielding until the container exits."""

    async def stats(self, cid: str) -> dict[str, Any]:
        """Raw figures from cgroups, already in the shape of Docker's stats body (cgroup v1)."""

    async def top(self, cid: str, ps_args: str) -> tuple[list[str], list[list[str]]]: ...

    async def update(self, cid: str, host_config: dict[str, Any]) -> None:
        """Apply new cgroup resources to a running container."""

    def log_path(self, cid: str) -> str: ...

    def rootfs_path(self, cid: str) -> str:
        """Where the container's root filesystem is (or will be) mounted."""

    def upper_dir(self, cid: str) -> str:
        """The container's own diff (overlay upper dir)."""

    async def diff_size(self, cid: str) -> int:
        """Bytes in the container's own diff (SizeRw)."""


# === images and volumes: the image store, the local volume driver, files in a container =========
# (shim/runtime/layers.py, volumefs.py, rootfs_io.py; used by engine/images/ and engine/volumes.py)


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


class VolumeFS(Protocol):
    """Blocking disk side of the `local` volume driver; the engine calls it via to_thread."""

    def path(self, name: str) -> str:
        """`<data-root>/volumes/<name>/_data`."""

    def create(self, name: str) -> str: ...

    def names(self) -> list[str]:
        """The volumes that have a directory (a start removes those no record names)."""

    def remove(self, name: str) -> None: ...

    def mount(self, name: str, opts: dict[str, str]) -> None:
        """Mount the DriverOpts filesystem (type/device/o) on the volume's _data; idempotent."""

    def unmount(self, name: str) -> None: ...

    def is_empty(self, name: str) -> bool: ...

    def size(self, name: str) -> int: ...

    def exists(self, path: str) -> bool: ...

    def ensure_bind_source(self, path: str) -> None: ...


@dataclasses.dataclass(slots=True)
class PathStat:
    """What HEAD/GET archive report of a path (X-Docker-Container-Path-Stat)."""

    name: str
    size: int
    mode: int  # st_mode
    mtime_ns: int
    link_target: str


class RootfsAccess(Protocol):
    """A container's files as the container sees them (rootfs plus (dest, source, rw) mounts)."""

    def upper_dir(self, cid: str) -> str: ...

    async def copy_up(self, cid: str, layer_dirs: list[str], pairs: list[tuple[str, str]]) -> None:
        """Fill fresh volumes (host dirs) with the image's content at their destinations."""

    async def stat(
        self, cid: str, layer_dirs: list[str], mounts: list[tuple[str, str, bool]], path: str, readonly: bool = False
    ) -> PathStat:
        """`path` as the container sees it, its last element not followed; NotFound if missing."""

    def read_archive(
        self, cid: str, layer_dirs: list[str], mounts: list[tuple[str, str, bool]], path: str
    ) -> AsyncIterator[bytes]: ...

    async def write_archive(
        self,
        cid: str,
        layer_dirs: list[str],
        mounts: list[tuple[str, str, bool]],
        path: str,
        chunks: AsyncIterator[bytes],
        *,
        readonly: bool,
        no_overwrite_dir_nondir: bool,
        user: str | None,
    ) -> None: ...

    def export(self, cid: str, layer_dirs: list[str]) -> AsyncIterator[bytes]: ...

    async def changes(self, cid: str, layer_dirs: list[str]) -> list[tuple[str, int]]:
        """(path, kind) with kind 0 modified, 1 added, 2 deleted."""


# === exec (shim/runtime/execproc.py) ============================================================


class ExecProcessHandle(Protocol):
    pid: int
    runc_error: str  # set when the runtime could not start the process (exit code 126)

    async def read_pid(self) -> int: ...

    async def read(self) -> tuple[int, bytes] | None:
        """Next output chunk as (stream, bytes), 1=stdout 2=stderr (a TTY has only 1); None at end."""

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, height: int, width: int) -> None: ...

    async def wait(self) -> int: ...

    async def kill(self) -> None: ...

    async def drain_and_close(self) -> None: ...

    async def close(self) -> None: ...


class ExecRuntimePort(Protocol):
    async def start(
        self,
        cid: str,
        *,
        cmd: list[str],
        env: list[str],
        cwd: str,
        user: str,
        tty: bool,
        privileged: bool,
        attach_stdin: bool,
        console_size: tuple[int, int] | None = None,
    ) -> ExecProcessHandle: ...


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


# =====================================================================================================
# The engine's own services as the container package (engine/containers/) uses them. Typed here so
# ContainerService can be built on fakes in unit tests and on the real services in app.py.
# =====================================================================================================


class ImageForContainer(Protocol):
    """What a container is created from (engine.images.ContainerImage)."""

    @property
    def id(self) -> str: ...

    @property
    def config(self) -> dict[str, Any]: ...

    @property
    def layer_dirs(self) -> list[str]: ...


class ImageFacts(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def size(self) -> int: ...


# For an image ID: (container ID, running?) of every container made from it.
ImageUsageFn = Callable[[str], list[tuple[str, bool]]]


class ImagesPort(Protocol):
    """The image service (engine/images.py) as containers see it."""

    def image_for_container(self, ref: str) -> ImageForContainer:
        """NotFound `No such image: …` when there is none."""

    def resolve(self, ref: str) -> ImageFacts: ...

    def get(self, ref: str) -> ImageFacts: ...

    def children(self, image_id: str) -> Sequence[ImageFacts]: ...

    def set_usage(self, fn: ImageUsageFn) -> None:
        """The image service asks containers which of them use an image (rmi's conflicts)."""

    def set_layer_usage(self, fn: Callable[[], set[str]]) -> None:
        """The image service asks containers which layer dirs they stack on (unused layers go at start)."""


class VolumesPort(Protocol):
    """The volume service (engine/volumes.py) as containers see it: the seed's mount steps."""

    async def register(self, c: Container, lookup: Callable[[str], Container]) -> object:
        """registerMountPoints at create (and for a pre-1.24 start-time HostConfig)."""

    async def start_mounts(self, c: Container) -> list[MountSpec]:
        """Mount what needs it and give the runtime its mounts, parents first."""

    async def release(self, cid: str) -> None:
        """After the process ended: unmount volumes no container uses any more."""

    async def forget(self, cid: str, *, remove_anonymous: bool = False) -> None:
        """At remove (`rm -v` removes anonymous volumes)."""

    def inspect_mounts(self, cid: str) -> list[dict[str, Any]]:
        """Inspect's and the list's Mounts."""

    def drop_stale(self, known: set[str]) -> None:
        """At daemon start: forget the mounts of containers that no longer exist."""

    def claim_running(self, running: set[str]) -> None:
        """At daemon start: the containers that still run hold the volumes they mounted."""


class NetworkAttachment(Protocol):
    """What connecting a container gives its start (engine.netmodel.Attachment)."""

    @property
    def netns_path(self) -> str | None: ...

    @property
    def mounts(self) -> Sequence[MountSpec]:
        """/etc/hosts, /etc/hostname, /etc/resolv.conf."""

    @property
    def env(self) -> Sequence[str]:
        """Legacy --link variables."""


class NetworkingPort(Protocol):
    """The networking facade (engine/networks/facade.ContainerNetworking) as containers see it."""

    def validate(self, c: Container) -> None:
        """At create: port specs and the network mode (dockerd's 400/404)."""

    async def connect(self, c: Container) -> NetworkAttachment:
        """The seed's initializeNetworking step of a start."""

    async def release(self, cid: str) -> None:
        """After the process ended."""

    async def forget(self, cid: str) -> None:
        """At remove."""

    def inspect(self, c: Container) -> EndpointView:
        """The container's network facts; translate/networks.py renders them per API version."""

    async def rename(self, cid: str, name: str) -> None:
        """DNS names on user networks follow the container's name."""

    async def stats(self, cid: str) -> dict[str, dict[str, int]]:
        """The `networks` object of a stats body."""

    def paths(self, c: Container) -> dict[str, str]:
        """hosts_path, hostname_path, resolv_conf_path for inspect."""

    def owners(self) -> dict[str, bool]:
        """At daemon start: the containers networking keeps a record of, and whether their
        attachment (namespace, veths, addresses, ports) is live."""


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


# Networking's adapters (netlink, firewall, DNS server, files, port reservations) have their own
# module beside this one: engine/netports.py.


# --- the host (shim/runtime/host.py) ---------------------------------------------------------


@dataclasses.dataclass(slots=True)
class HostFacts:
    """What /info and /version report about the machine (read by a runtime adapter)."""

    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str  # Go spelling: amd64, arm64
    ncpu: int
    mem_total: int
    cgroup_driver: str
    cgroup_version: str
    hostname: str
    runc_version: str = ""
    nofile_limit: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class HostLimits:
    """What create's validation pass checks against (engine/validation/), read once by the
    composition root (runtime/host.py `read_limits`); the defaults are a host the pass knows
    nothing about (unit tests), where only the host-free rules apply."""

    ncpu: int = 1
    cpus: str = ""  # the CPUs containers may use ("0-1"; sysinfo.Cpus); "" = 0..ncpu-1
    mems: str = "0"  # the memory nodes (sysinfo.Mems)
    cpu_realtime: bool = False  # cpu.rt_runtime_us exists (CONFIG_RT_GROUP_SCHED)
    capabilities: tuple[str, ...] = ()  # every capability the kernel knows (CAP_*); () = not checked
    runtimes: tuple[str, ...] = ("runc",)

    def cpu_list(self) -> str:
        return self.cpus or (f"0-{self.ncpu - 1}" if self.ncpu > 1 else "0")
