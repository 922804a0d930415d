"""Engine layer: the objects the services keep and persist (snake_case dataclasses).

A container's Config / HostConfig / NetworkingConfig stay Docker-shaped dicts, as
dockerd keeps them, because inspect must give them back field for field; only the
state the engine itself drives is modelled as typed fields. Times are unix
nanoseconds (int), 0 meaning Go's zero time ("0001-01-01T00:00:00Z").
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(slots=True)
class HealthLogEntry:
    start: int  # ns
    end: int  # ns
    exit_code: int
    output: str


@dataclasses.dataclass(slots=True)
class Health:
    status: str = "starting"  # starting | healthy | unhealthy
    failing_streak: int = 0
    log: list[HealthLogEntry] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class ContainerState:
    status: str = "created"  # a state.Status value
    running: bool = False
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    dead: bool = False
    removal_in_progress: bool = False
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: int = 0
    finished_at: int = 0
    health: Health | None = None


def _health_dict(h: Health) -> dict[str, Any]:
    return {
        "status": h.status,
        "failing_streak": h.failing_streak,
        "log": [{"start": e.start, "end": e.end, "exit_code": e.exit_code, "output": e.output} for e in h.log],
    }


@dataclasses.dataclass(slots=True)
class CreateSpec:
    """What a create request asks for, already out of its wire shape (translate.create_in)."""

    name: str  # "" → generated
    config: dict[str, Any]
    host_config: dict[str, Any]
    networking_config: dict[str, Any]
    platform: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)  # the API version's own (translate)


@dataclasses.dataclass(slots=True)
class ImageInfo:
    """What the container engine needs from the image store for one ref."""

    id: str  # sha256:…
    config: dict[str, Any]  # the image's Config (Cmd, Entrypoint, Env, WorkingDir, …)
    layer_dirs: list[str]  # lowest first
    ref: str = ""


@dataclasses.dataclass(slots=True)
class Container:
    id: str
    name: str  # without the leading slash
    created: int  # ns
    path: str
    args: list[str]
    config: dict[str, Any]  # Docker Config, image defaults merged (as inspect shows it)
    host_config: dict[str, Any]  # Docker HostConfig, dockerd defaults filled in
    networking_config: dict[str, Any]
    image_id: str
    layer_dirs: list[str] = dataclasses.field(default_factory=list)
    state: ContainerState = dataclasses.field(default_factory=ContainerState)
    restart_count: int = 0
    has_been_started: bool = False
    # unless-stopped: a container the user stopped is not restarted, even by a daemon restart.
    manually_stopped: bool = False
    platform: str = "linux"
    exec_ids: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict(self)`, field for field and in the same order, one level deep: asdict
        deep-copies the Docker-shaped dicts (0.66 ms for a `docker run` record, 10× the json.dumps
        of the result; two saves per start). Those dicts and lists are shared, not copied: the
        result is for encoding at once (Store.aput encodes before it awaits), not to keep."""
        st = self.state
        state = {name: getattr(st, name) for name in _STATE_FIELDS}
        if st.health is not None:
            state["health"] = _health_dict(st.health)
        d = {name: getattr(self, name) for name in _FIELDS}
        d["state"] = state
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Container:
        d = dict(d)
        st = dict(d.pop("state", {}) or {})
        health = st.pop("health", None)
        state = ContainerState(**{k: v for k, v in st.items() if k in ContainerState.__slots__})
        if health is not None:
            log = [HealthLogEntry(**e) for e in health.get("log", [])]
            state.health = Health(
                status=health.get("status", "starting"), failing_streak=health.get("failing_streak", 0), log=log
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(state=state, **{k: v for k, v in d.items() if k in fields})

    @property
    def short_id(self) -> str:
        return self.id[:12]


# Container.to_dict's keys, in asdict's order
_FIELDS = tuple(f.name for f in dataclasses.fields(Container))
_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(ContainerState))


@dataclasses.dataclass(slots=True)
class BuildOptions:
    """POST /build's query, out of its wire shape (translate/build.py)."""

    dockerfile: str = "Dockerfile"
    tags: list[str] = dataclasses.field(default_factory=list)
    build_args: dict[str, str | None] = dataclasses.field(default_factory=dict)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    remove: bool = True
    force_remove: bool = False
    quiet: bool = False
    cache_from: list[str] = dataclasses.field(default_factory=list)
    host_config: dict[str, Any] = dataclasses.field(default_factory=dict)  # network mode, hosts, shm, resources
    platform: str = ""
    build_id: str = ""
    auth_configs: dict[str, Any] = dataclasses.field(default_factory=dict)  # X-Registry-Config, for base pulls


@dataclasses.dataclass(slots=True)
class BuildMessage:
    """One line of a build's progress stream: text for the client, the built image's ID, or the error."""

    stream: str = ""
    aux_id: str = ""
    error: str = ""
    code: int = 0


@dataclasses.dataclass(slots=True)
class BuildCacheRecord:
    """A step image the builder made: what `system df` lists as build cache and `builder prune` removes."""

    id: str
    parent: str
    description: str
    size: int
    in_use: bool
    created_at: int  # ns
    last_used_at: int  # ns
    usage_count: int


@dataclasses.dataclass(slots=True)
class ListQuery:
    """GET /containers/json's parameters, the filters' references still unresolved."""

    show_all: bool = False
    limit: int = -1
    size: bool = False
    ancestors: list[str] = dataclasses.field(default_factory=list)
    before: list[str] = dataclasses.field(default_factory=list)
    since: list[str] = dataclasses.field(default_factory=list)
    # network and volume filters match against each container's networks and mounts
    mount_and_network_facts: bool = False


@dataclasses.dataclass(slots=True)
class ImageUsage:
    image: Any  # engine.images.Image
    tags: list[str]
    containers: int  # how many containers use it


@dataclasses.dataclass(slots=True)
class VolumeUsage:
    volume: Any  # engine.volumes.Volume
    mountpoint: str
    usage: dict[str, int]  # UsageData: Size, RefCount


@dataclasses.dataclass(slots=True)
class DiskUsage:
    """GET /system/df's facts; None for a kind that was not asked for."""

    layers_size: int = 0
    images: list[ImageUsage] | None = None
    containers: list[tuple[Container, dict[str, Any]]] | None = None  # with list facts and sizes
    volumes: list[VolumeUsage] | None = None
    build_cache: list[BuildCacheRecord] | None = None
