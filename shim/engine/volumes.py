"""Engine layer: volumes (the `local` driver) and each container's mounts.

dockerd's volume/service + daemon/volumes.go. Volumes are persisted in the Store
(`volumes/<name>`), a container's resolved mounts in `mounts/<cid>` (inspect's
`Mounts`, what the next start mounts). References (container → volume) are rebuilt
from those records at restore; a volume is "in use" while any container (running or
not) references it, as with dockerd.

The container service calls, in its lifecycle: `register(c)` at create, `start_mounts(c)`
while starting (the seed's mounts step), `release(cid)` in its cleanup after the process
ended, `forget(cid, remove_anonymous=…)` at remove (`rm -v`). Blocking work goes to the
`fs` (runtime/volumefs.LocalVolumeFS) and `rootfs` (runtime/rootfs_io.RootfsIO) adapters
through asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from shim.engine import mounts as mp_
from shim.engine import validation
from shim.engine.events import Events
from shim.engine.mounts import ANONYMOUS_LABEL, MountPoint
from shim.engine.ports import MountSpec, RootfsAccess, VolumeFS
from shim.engine.store import Store
from shim.errors import Conflict, InvalidParameter, NotFound, ShimError
from shim.filters import VOLUME_LIST, VOLUME_PRUNE, FilterInput, Filters

log = logging.getLogger("shim.volumes")

KIND = "volumes"
MOUNTS_KIND = "mounts"
VALID_OPTS = {"type", "device", "o", "size"}


@dataclasses.dataclass(slots=True)
class Volume:
    name: str
    driver: str = "local"
    labels: dict[str, str] | None = None
    options: dict[str, str] | None = None
    created: int = 0  # ns
    anonymous: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Volume:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def validate_opts(name: str, opts: dict[str, str]) -> None:
    """The local driver's setOpts checks, with its wording."""
    for key in opts:
        if key not in VALID_OPTS:
            raise InvalidParameter(f'create {name}: invalid option key: "{key}"')
    if opts.get("size"):
        raise InvalidParameter(f"create {name}: quota size requested but no quota support")


class VolumeService:
    def __init__(
        self,
        *,
        store: Store,
        events: Events,
        fs: VolumeFS,
        rootfs: RootfsAccess | None = None,
        protected_roots: list[str] | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._fs = fs
        self._rootfs = rootfs
        self._protected = list(protected_roots or [])
        self._vols: dict[str, Volume] = {}
        self._mounts: dict[str, list[MountPoint]] = {}  # cid -> mount points
        self._active: dict[str, set[str]] = {}  # volume -> running containers that mounted it
        self._lock = asyncio.Lock()
        self._loaded = False

    # ------------------------------------------------------------ volumes

    def get(self, name: str) -> Volume:
        v = self._vols.get(name)
        if v is None:
            raise NotFound(f"get {name}: no such volume")
        return v

    def users(self, name: str) -> list[str]:
        return sorted(
            cid for cid, mps in self._mounts.items() if any(m.type == "volume" and m.name == name for m in mps)
        )

    def mountpoint(self, name: str) -> str:
        return self._fs.path(name)

    async def create(
        self,
        name: str = "",
        driver: str = "local",
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        *,
        anonymous: bool = False,
    ) -> Volume:
        driver = driver or "local"
        validation.volume_create(name, driver, options)
        if driver != "local":
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        if not name:
            name = secrets.token_hex(32)
        opts = dict(options or {})
        validate_opts(name, opts)
        async with self._lock:
            existing = self._vols.get(name)
            if existing is not None:
                return existing  # dockerd: creating an existing volume gives it back
            v = Volume(
                name=name,
                driver=driver,
                labels=dict(labels) if labels is not None else None,
                options=opts or None,
                created=time.time_ns(),
                anonymous=anonymous,
            )
            if anonymous:
                v.labels = dict(v.labels or {})
                v.labels.setdefault(ANONYMOUS_LABEL, "")
            # the directory, then the record (docs/RELIABILITY.md): a directory without a record is
            # a create cut by a crash, removed at start
            await asyncio.to_thread(self._fs.create, name)
            try:
                await self._store.aput(KIND, name, v.to_dict())
            except BaseException:
                await asyncio.to_thread(self._fs.remove, name)
                raise
            self._vols[name] = v
        self._events.publish("volume", "create", name, {"driver": driver})
        return v

    async def remove(self, name: str, force: bool = False) -> None:
        async with self._lock:
            v = self._vols.get(name)
            if v is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.users(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            await self._destroy(v)

    async def _destroy(self, v: Volume) -> None:
        # unmounted (or refused) first, then the record, then the content: a crash in between
        # leaves a directory without a record, which the next start removes (never a record
        # whose content is half gone)
        await asyncio.to_thread(self._fs.unmount, v.name)
        await self._store.adelete(KIND, v.name)
        self._vols.pop(v.name, None)
        await asyncio.to_thread(self._fs.remove, v.name)
        self._events.publish("volume", "destroy", v.name, {"driver": v.driver})

    async def prune(self, filters: FilterInput = None, *, anonymous_only: bool = False) -> tuple[list[str], int]:
        """Unused volumes matching `label`/`label!` filters; from API 1.42 only anonymous ones
        unless the `all` filter says otherwise (the API layer decides `anonymous_only`)."""
        f = Filters.of(filters)
        f.validate(VOLUME_PRUNE)
        deleted: list[str] = []
        reclaimed = 0
        async with self._lock:
            for v in list(self._vols.values()):
                if self.users(v.name):
                    continue
                if anonymous_only and not v.anonymous and ANONYMOUS_LABEL not in (v.labels or {}):
                    continue
                if not (f.labels(v.labels) and f.not_labels(v.labels)):
                    continue
                size = await asyncio.to_thread(self._fs.size, v.name)
                try:
                    await self._destroy(v)
                except ShimError as e:
                    log.warning("prune %s: %s", v.name, e)
                    continue
                deleted.append(v.name)
                reclaimed += size
        self._events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return deleted, reclaimed

    async def usage(self, name: str) -> dict[str, int]:
        """UsageData for `system df -v`: Size in bytes, RefCount containers."""
        size = await asyncio.to_thread(self._fs.size, name)
        return {"Size": size, "RefCount": len(self.users(name))}

    # ------------------------------------------------------------ containers' mounts

    def mount_points(self, cid: str) -> list[MountPoint]:
        return list(self._mounts.get(cid, []))

    def inspect_mounts(self, cid: str) -> list[dict[str, Any]]:
        return [m.inspect() for m in self._mounts.get(cid, [])]

    def plans_mounts(self, c: Any) -> bool:
        """Whether `register` has anything to record or make for `c`: without (no mount at all, and
        no earlier plan), its create writes no mounts record and needs no intent (issue 17)."""
        return not mp_.plans_none(c.config, c.host_config) or c.id in self._mounts

    async def register(self, c: Any, lookup: Callable[[str], Any] | None = None) -> list[MountPoint]:
        """At create: plan the mounts, create named and anonymous volumes, fill fresh ones from the
        image (copy-up) and persist the plan. `lookup(ref)` finds a container for --volumes-from."""

        def from_container(ref: str) -> tuple[str, list[MountPoint]]:
            if lookup is None:
                raise NotFound(f"No such container: {ref}")
            other = lookup(ref)
            return other.id, self.mount_points(other.id)

        plan = mp_.plan(c.config, c.host_config, from_container)
        for m in plan:
            mp_.check_not_under(m, self._protected)
            if m.type == "bind" and not m.create_source and not await asyncio.to_thread(self._fs.exists, m.source):
                raise InvalidParameter(
                    f'invalid mount config for type "bind": bind source path does not exist: {m.source}'
                )
            if m.type == "volume":
                if m.name:
                    validation.names.volume_name(m.name)
                else:
                    m.name = secrets.token_hex(32)  # named now, so the record below names it
                m.source, m.driver = self._fs.path(m.name), m.driver or "local"
        if not plan and c.id not in self._mounts:
            # none: nothing to undo after a crash, and no record reads as none (a file less per
            # create); a plan replaced by none (a start-time HostConfig) is recorded empty below
            return plan
        # The plan is recorded before any volume is made (docs/RELIABILITY.md): a create cut by a
        # crash is undone at the next start through it (forget with its anonymous volumes).
        self._mounts[c.id] = plan
        created: list[Volume] = []
        try:
            await self._store.aput(MOUNTS_KIND, c.id, [m.to_dict() for m in plan])
            for m in plan:
                if m.type != "volume":
                    continue
                existed = m.name in self._vols
                v = await self.create(
                    m.name,
                    m.driver,
                    m.volume_labels or None,
                    m.volume_options or None,
                    anonymous=m.anonymous,
                )
                if not existed:
                    created.append(v)
                m.driver = v.driver
            # dockerd's populateVolumes: an empty local volume gets the image's content at its path
            copies = [
                m
                for m in plan
                if m.type == "volume"
                and m.copy_data
                and m.from_spec != "volumes-from"
                and not (self._vols[m.name].options or {})
                and await asyncio.to_thread(self._fs.is_empty, m.name)
            ]
            if copies and self._rootfs is not None:
                await self._rootfs.copy_up(c.id, list(c.layer_dirs), [(m.destination, m.source) for m in copies])
        except BaseException:
            self._mounts.pop(c.id, None)
            for v in created:
                try:
                    await self._destroy(v)
                except Exception:
                    log.exception("removing volume %s after a failed create", v.name)
            await self._store.adelete(MOUNTS_KIND, c.id)
            raise
        return plan

    async def start_mounts(self, c: Any) -> list[MountSpec]:
        """The seed's mounts step: mount volumes that need it, create missing `-v` sources, and give
        the runtime its MountSpecs (parents first)."""
        specs: list[MountSpec] = []
        mounted: list[str] = []
        try:
            for m in mp_.sort_for_mounting(self._mounts.get(c.id, [])):
                if m.type == "tmpfs":
                    specs.append(
                        MountSpec(destination=m.destination, source="tmpfs", type="tmpfs", options=mp_.tmpfs_options(m))
                    )
                    continue
                if m.type == "bind":
                    mp_.check_not_under(m, self._protected)
                    if m.create_source:
                        await asyncio.to_thread(self._fs.ensure_bind_source, m.source)
                    elif not await asyncio.to_thread(self._fs.exists, m.source):
                        raise InvalidParameter(
                            f'invalid mount config for type "bind": bind source path does not exist: {m.source}'
                        )
                else:
                    v = self._vols.get(m.name)
                    if v is None:  # removed behind our back (force): dockerd recreates it
                        v = await self.create(m.name, anonymous=m.anonymous)
                    if v.options:
                        await asyncio.to_thread(self._fs.mount, v.name, v.options)
                    mounted.append(v.name)
                    self._active.setdefault(v.name, set()).add(c.id)
                    self._events.publish(
                        "volume",
                        "mount",
                        v.name,
                        {
                            "container": c.id,
                            "destination": m.destination,
                            "driver": v.driver,
                            "propagation": m.propagation,
                            "read/write": str(m.rw).lower(),
                        },
                    )
                opts = ["rbind", "rw" if m.rw else "ro"]
                opts.append(m.propagation or "rprivate")
                specs.append(MountSpec(destination=m.destination, source=m.source, type="bind", options=opts))
        except BaseException:
            await self.release(c.id)
            raise
        return specs

    async def release(self, cid: str) -> None:
        """After the process ended (the seed's Cleanup): unmount volumes no container uses any more."""
        # after a shimd restart `_active` is empty while containers still run: a volume of this
        # container that is mounted and claimed by nobody else is released too
        for m in self._mounts.get(cid, []):
            if m.type == "volume" and m.name not in self._active:
                v = self._vols.get(m.name)
                if v is not None and v.options:
                    self._active[m.name] = {cid}
        for name, users in list(self._active.items()):
            if cid not in users:
                continue
            users.discard(cid)
            v = self._vols.get(name)
            self._events.publish("volume", "unmount", name, {"container": cid, "driver": v.driver if v else "local"})
            if not users:
                del self._active[name]
                if v is not None and v.options:
                    try:
                        await asyncio.to_thread(self._fs.unmount, name)
                    except ShimError:
                        log.exception("unmounting volume %s", name)

    async def forget(self, cid: str, *, remove_anonymous: bool = False) -> None:
        """At container remove: drop its references; `rm -v` removes its anonymous volumes
        (named ones stay, and so does an anonymous one another container still uses)."""
        await self.release(cid)
        recorded = cid in self._mounts or not self._loaded or cid in self._store.unreadable.get(MOUNTS_KIND, set())
        mps = self._mounts.pop(cid, [])  # no longer a user of its volumes
        # the volumes before the record that names them (docs/RELIABILITY.md): a removal cut by a
        # crash finds the record again and removes what is left
        for m in mps if remove_anonymous else []:
            if m.type != "volume" or m.from_spec == "volumes-from":
                continue
            v = self._vols.get(m.name)
            if v is None or not (v.anonymous or ANONYMOUS_LABEL in (v.labels or {})):
                continue
            try:
                await self.remove(v.name)
            except ShimError as e:
                log.info("keeping volume %s: %s", v.name, e)
        if recorded:  # a container without mounts has no record (register): no trip off the loop
            await self._store.adelete(MOUNTS_KIND, cid)

    # ------------------------------------------------------------ daemon start / stop

    async def restore(self) -> None:
        """Daemon start: volumes and mount records from the store, read off the event loop."""
        if not self._loaded:
            self._apply(*await asyncio.to_thread(self._read_records))

    def _load(self) -> None:
        """The same, blocking, for a caller that comes before restore (never in shimd: restore runs first)."""
        if not self._loaded:
            self._apply(*self._read_records())

    def _read_records(self) -> tuple[dict[str, Volume], dict[str, list[MountPoint]]]:
        """Blocking. A torn record is skipped (never fatal); a volume directory that no record names
        (a create or a removal cut by a crash) is removed, one whose record is unreadable kept."""
        vols: dict[str, Volume] = {}
        mounts: dict[str, list[MountPoint]] = {}
        for name, data in self._store.load_all(KIND).items():
            try:
                vols[name] = Volume.from_dict(data)
            except (TypeError, ValueError, AttributeError):
                log.error("volume %s: unreadable record, skipped", name)
        keep = set(vols) | self._store.unreadable.get(KIND, set())
        for name in self._fs.names():
            if name not in keep:
                log.warning("volume directory %s has no record (an operation cut by a crash): removing it", name)
                try:
                    self._fs.remove(name)
                except ShimError as e:
                    log.error("removing volume directory %s: %s", name, e)
        for cid, data in self._store.load_all(MOUNTS_KIND).items():
            try:
                mounts[cid] = [MountPoint.from_dict(d) for d in data]
            except (TypeError, ValueError, AttributeError):
                log.error("mounts of %s: unreadable record, skipped", cid)
        return vols, mounts

    def _apply(self, vols: dict[str, Volume], mounts: dict[str, list[MountPoint]]) -> None:
        if self._loaded:  # loaded meanwhile: what is in memory is newer than the records read
            return
        self._loaded = True
        self._vols.update(vols)
        self._mounts.update(mounts)

    def claim_running(self, running: set[str]) -> None:
        """Daemon start: a volume with its own filesystem (DriverOpts) stays mounted while a
        container that still runs uses it, so the first of them to stop must not unmount it."""
        for cid in running:
            for m in self._mounts.get(cid, []):
                if m.type == "volume" and m.name:
                    self._active.setdefault(m.name, set()).add(cid)

    def drop_stale(self, known: set[str]) -> None:
        """Mount records of containers that no longer exist (a crash between remove and forget).
        Called by the container service's restore, before it restarts containers: load now."""
        self._load()
        for cid in list(self._mounts):
            if cid not in known:
                self._mounts.pop(cid, None)
                self._store.delete(MOUNTS_KIND, cid)

    # Last in the class: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, filters: FilterInput = None) -> list[Volume]:
        """GET /volumes: name (substring), driver, label, dangling (no container references it)."""
        f = Filters.of(filters)
        f.validate(VOLUME_LIST)
        dangling = f.bool("dangling")
        return [
            v
            for v in sorted(self._vols.values(), key=lambda v: v.name)
            if f.substring("name", v.name)
            and f.exact("driver", v.driver)
            and f.labels(v.labels)
            and (dangling is None or dangling == (not self.users(v.name)))
        ]
