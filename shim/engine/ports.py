"""Engine layer: the ports (Protocols) the engine needs from the outside world.

Concrete adapters live in shim/runtime/ and are built only in shim/app.py; tests
use fakes from tests/fakes.py. The engine keeps a container's configuration in
Docker's own shapes (Config / HostConfig dicts, as dockerd does), so the runtime
receives those plus everything the engine has already resolved.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

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


# What dockerd puts in every non-privileged container (oci defaults): set at create, shown in inspect
# (engine/containerconfig.py), and the runtime's fallback for a record without them (oci_spec.py).
# The recorded Debian dockerd 20.10.24 lists no /sys/devices/virtual/powercap, so neither do we.
DEFAULT_MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


class AttachHandle(Protocol):
    """A live connection to a running container's stdio (through its monitor)."""

    async def read(self) -> tuple[int, bytes] | None:
        """Next output chunk as (stream, bytes) with stream 1=stdout 2=stderr; None at end."""

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def close(self) -> None: ...


class Runtime(Protocol):
    platform: str  # "linux": start-time HostConfig semantics depend on it

    async def start(self, req: RunRequest, ready: asyncio.Future[None] | None = None) -> int:
        """Mount the rootfs, write the bundle, create and start the process under its monitor.

        `ready` (the network's wiring, still going on) is awaited once the container is created and
        before its process runs; if it fails, the created container is removed and its error raised.
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


# === volumes and files in a container: the local volume driver, a container's root as it sees it ===
# (shim/runtime/volumefs.py, rootfs_io.py; used by engine/volumes.py and engine/archive.py)


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

    def plans_mounts(self, c: Container) -> bool:
        """Whether `register` would record or make anything for `c` (a create without mounts
        writes only its container record, with no intent)."""

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

    @property
    def wired(self) -> asyncio.Future[None] | None:
        """The rest of the wiring (firewall, DNS, veths, addresses, routes), still going on: to be
        joined before the process runs, and before a failed start is undone by `release` (which
        also undoes a failed wiring). None: all done."""


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


# Images' adapters (the layer store, the builder's files, registries) have their own module beside
# this one: engine/imageports.py; networking's (netlink, firewall, DNS server, files, port
# reservations) too: engine/netports.py.


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
