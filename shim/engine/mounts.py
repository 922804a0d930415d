"""Engine layer: a container's mounts, from its Config/HostConfig to a plan (pure).

Mirrors moby's daemon/volumes.go registerMountPoints and volume/mounts/linux_parser.go:
in order of precedence (a later source replaces an earlier one at the same
destination) image/Config `Volumes` (anonymous volumes), `VolumesFrom`, `Binds`
(`-v`), `Mounts` (`--mount`); `Tmpfs` (`--tmpfs`) last. Nothing here touches the
disk: the volume service creates volumes and checks host paths; the plan tells it
what to do and what inspect shows (`MountPoint.inspect()`).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable
from typing import Any

from shim.errors import InvalidParameter

ANONYMOUS_LABEL = "com.docker.volume.anonymous"

_RW_MODES = {"rw", "ro"}
_LABEL_MODES = {"z", "Z"}
_COPY_MODES = {"nocopy"}
_PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}
_CONSISTENCY = {"consistent", "cached", "delegated"}


@dataclasses.dataclass(slots=True)
class MountPoint:
    """One mount of a container, as dockerd's volumemounts.MountPoint."""

    type: str  # bind | volume | tmpfs
    destination: str
    source: str = ""  # host path (bind), filled in by the volume service for volumes
    name: str = ""  # volume name ("" → anonymous, generated at create)
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    copy_data: bool = True  # volumes: copy the image's content into a fresh volume
    volume_labels: dict[str, str] = dataclasses.field(default_factory=dict)
    volume_options: dict[str, str] = dataclasses.field(default_factory=dict)
    tmpfs_data: str = ""  # tmpfs: size=…,mode=… (mount(2) data)
    create_source: bool = False  # a `-v` bind whose missing host path is created (not `--mount`)
    anonymous: bool = False
    from_spec: str = ""  # "binds" | "mounts" | "image" | "volumes-from" | "tmpfs"

    def inspect(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type}
        if self.type == "volume":
            out["Name"] = self.name
        out["Source"] = self.source
        out["Destination"] = self.destination
        if self.type == "volume":
            out["Driver"] = self.driver or "local"
        out.update(Mode=self.mode, RW=self.rw, Propagation=self.propagation)
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MountPoint:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _invalid_spec(raw: str) -> InvalidParameter:
    return InvalidParameter(f"invalid volume specification: '{raw}'")


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "cons": 0}
    for m in mode.split(","):
        if m in _RW_MODES:
            counts["rw"] += 1
        elif m in _LABEL_MODES:
            counts["label"] += 1
        elif m in _PROPAGATIONS:
            counts["prop"] += 1
        elif m in _COPY_MODES:
            counts["copy"] += 1
        elif m in _CONSISTENCY:
            counts["cons"] += 1
        else:
            return False
    return all(v <= 1 for v in counts.values())


def _clean_dest(dest: str, raw: str) -> str:
    if not dest.startswith("/"):
        raise (
            InvalidParameter(
                f"invalid mount config for type \"volume\": invalid mount path: '{dest}' mount path must be absolute"
            )
            if raw == ""
            else InvalidParameter(
                f"invalid volume specification: '{raw}': invalid mount config for type \"volume\": "
                f"invalid mount path: '{dest}' mount path must be absolute"
            )
        )
    if posixpath.normpath(dest) == "/":
        raise InvalidParameter(
            f"invalid volume specification: '{raw or dest}': invalid mount config for type "
            "\"bind\": invalid specification: destination can't be '/'"
        )
    return posixpath.normpath(dest)


def parse_bind(raw: str) -> MountPoint:
    """One `-v` spec: `/dest`, `name:/dest[:mode]` or `/src:/dest[:mode]` (linuxParser.ParseMountRaw)."""
    parts = raw.split(":")
    mode = ""
    if len(parts) == 1:
        src, dest = "", parts[0]
    elif len(parts) == 2:
        if _valid_mode(parts[1]) and not parts[1].startswith("/"):
            raise _invalid_spec(raw)  # `/foo:rw`: a mode needs a source
        src, dest = parts
    elif len(parts) == 3:
        src, dest, mode = parts
    else:
        raise _invalid_spec(raw)
    if not _valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    if not dest:
        raise _invalid_spec(raw)
    dest = _clean_dest(dest, raw)
    modes = mode.split(",") if mode else []
    rw = "ro" not in modes
    prop = next((m for m in modes if m in _PROPAGATIONS), "")
    if src.startswith("/"):
        return MountPoint(
            type="bind",
            source=posixpath.normpath(src),
            destination=dest,
            mode=mode,
            rw=rw,
            propagation=prop or "rprivate",
            create_source=True,
            from_spec="binds",
        )
    if src and (src.startswith(".") or "/" in src):
        raise InvalidParameter(
            f'create {src}: "{src}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
        )
    return MountPoint(
        type="volume",
        name=src,
        destination=dest,
        driver="local",
        mode=mode or "z",
        rw=rw,
        copy_data="nocopy" not in modes,
        anonymous=not src,
        from_spec="binds",
    )


def parse_mount(m: dict[str, Any]) -> MountPoint:
    """One HostConfig.Mounts entry (`--mount`), validated as linuxParser.ValidateMountConfig."""
    typ = m.get("Type") or ""
    src = m.get("Source") or ""
    dest = m.get("Target") or ""
    ro = bool(m.get("ReadOnly"))
    if typ not in ("bind", "volume", "tmpfs"):
        raise InvalidParameter(
            f'invalid mount config for type "{typ}": mount type unknown'
            if typ
            else "invalid mount config: mount type unknown"
        )
    if not dest:
        raise InvalidParameter(f'invalid mount config for type "{typ}": field Target must not be empty')
    if not dest.startswith("/"):
        raise InvalidParameter(
            f"invalid mount config for type \"{typ}\": invalid mount path: '{dest}' mount path must be absolute"
        )
    dest = posixpath.normpath(dest)
    bind_opts = m.get("BindOptions") or {}
    vol_opts = m.get("VolumeOptions") or {}
    tmpfs_opts = m.get("TmpfsOptions") or {}
    if typ == "bind":
        if not src:
            raise InvalidParameter('invalid mount config for type "bind": field Source must not be empty')
        if not src.startswith("/"):
            raise InvalidParameter(
                f"invalid mount config for type \"bind\": invalid mount path: '{src}' mount path must be absolute"
            )
        if vol_opts:
            raise InvalidParameter('invalid mount config for type "bind": field VolumeOptions must not be specified')
        if tmpfs_opts:
            raise InvalidParameter('invalid mount config for type "bind": field TmpfsOptions must not be specified')
        prop = bind_opts.get("Propagation") or "rprivate"
        if prop not in _PROPAGATIONS:
            raise InvalidParameter(f'invalid mount config for type "bind": invalid propagation mode: {prop}')
        return MountPoint(
            type="bind",
            source=posixpath.normpath(src),
            destination=dest,
            rw=not ro,
            propagation=prop,
            create_source=bool(bind_opts.get("CreateMountpoint")),  # API 1.42: as `-v` would
            from_spec="mounts",
        )
    if typ == "volume":
        if bind_opts:
            raise InvalidParameter('invalid mount config for type "volume": field BindOptions must not be specified')
        if tmpfs_opts:
            raise InvalidParameter('invalid mount config for type "volume": field TmpfsOptions must not be specified')
        if src and ("/" in src or src.startswith(".")):
            raise InvalidParameter(f'invalid mount config for type "volume": invalid volume name: {src}')
        driver = ((vol_opts.get("DriverConfig") or {}).get("Name")) or "local"
        opts = dict(((vol_opts.get("DriverConfig") or {}).get("Options")) or {})
        return MountPoint(
            type="volume",
            name=src,
            destination=dest,
            driver=driver,
            rw=not ro,
            copy_data=not vol_opts.get("NoCopy"),
            volume_labels=dict(vol_opts.get("Labels") or {}),
            volume_options=opts,
            anonymous=not src,
            from_spec="mounts",
        )
    # tmpfs
    if src:
        raise InvalidParameter('invalid mount config for type "tmpfs": field Source must not be specified')
    if bind_opts:
        raise InvalidParameter('invalid mount config for type "tmpfs": field BindOptions must not be specified')
    if vol_opts:
        raise InvalidParameter('invalid mount config for type "tmpfs": field VolumeOptions must not be specified')
    return MountPoint(type="tmpfs", destination=dest, rw=not ro, tmpfs_data=tmpfs_data(tmpfs_opts), from_spec="mounts")


def tmpfs_data(opts: dict[str, Any]) -> str:
    """mount.ConvertTmpfsOptions: SizeBytes → size=Nk (or bytes), Mode → mode=octal."""
    out = []
    size = opts.get("SizeBytes") or 0
    if size:
        out.append(f"size={size // 1024}k" if size % 1024 == 0 else f"size={size}")
    mode = opts.get("Mode") or 0
    if mode:
        out.append(f"mode={mode & 0o7777:o}")
    # API 1.46: Options, a list of [flag] or [key, value] (moby mount.ConvertTmpfsOptions)
    out.extend("=".join(str(x) for x in opt) for opt in opts.get("Options") or [] if isinstance(opt, list) and opt)
    return ",".join(out)


def tmpfs_options(mp: MountPoint) -> list[str]:
    """The options runc gets for a tmpfs (moby setMounts: noexec,nosuid,nodev by default, user data merged)."""
    opts = ["noexec", "nosuid", "nodev"]
    extra = [o for o in mp.tmpfs_data.split(",") if o]
    flags = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    for o in extra:
        if o in flags:
            opts = [x for x in opts if x != flags[o]]
        elif o in ("noexec", "nosuid", "nodev") and o in opts:
            continue
        key = o.split("=", 1)[0]
        opts = [x for x in opts if not ("=" in o and x.split("=", 1)[0] == key)]
        if o not in flags:
            opts.append(o)
    if not mp.rw:
        opts.append("ro")
    return opts


def _volumes_from(spec: str, lookup: Callable[[str], tuple[str, list[MountPoint]]]) -> list[MountPoint]:
    """`--volumes-from c[:ro|rw]`: the other container's mounts, with their own or the given mode."""
    ref, _, mode = spec.partition(":")
    if mode and mode not in _RW_MODES:
        raise InvalidParameter(f"invalid mode: {mode}")
    _cid, mounts = lookup(ref)
    out = []
    for m in mounts:
        if m.type == "tmpfs":
            continue
        n = MountPoint.from_dict(m.to_dict())
        n.from_spec = "volumes-from"
        n.create_source = False
        n.copy_data = False
        if mode:
            n.rw = mode == "rw"
            if n.mode and any(p in n.mode.split(",") for p in _RW_MODES):
                n.mode = ",".join(mode if p in _RW_MODES else p for p in n.mode.split(","))
            elif n.type == "bind":
                n.mode = mode
        out.append(n)
    return out


def plans_none(config: dict[str, Any], host_config: dict[str, Any]) -> bool:
    """No mount for `plan` to make: no VOLUME (the image's or -v's), --volumes-from, bind or tmpfs."""
    specs = ("VolumesFrom", "Binds", "Mounts", "Tmpfs")
    return not config.get("Volumes") and not any(host_config.get(k) for k in specs)


def plan(
    config: dict[str, Any],
    host_config: dict[str, Any],
    volumes_from: Callable[[str], tuple[str, list[MountPoint]]] | None = None,
) -> list[MountPoint]:
    """Every mount of a container at create, destination order of appearance; duplicates refused.

    `config` is the container's Config with the image's merged in (its `Volumes` include
    the image's VOLUMEs). `volumes_from(ref)` gives another container's (id, mounts).
    """
    by_dest: dict[str, MountPoint] = {}

    for dest in config.get("Volumes") or {}:
        d = _clean_dest(dest, dest)
        by_dest[d] = MountPoint(type="volume", destination=d, driver="local", anonymous=True, from_spec="image")

    for spec in host_config.get("VolumesFrom") or []:
        if volumes_from is None:
            continue
        for m in _volumes_from(spec, volumes_from):
            by_dest[m.destination] = m

    seen: set[str] = set()
    tmpfs = host_config.get("Tmpfs") or {}
    for raw in host_config.get("Binds") or []:
        m = parse_bind(raw)
        if m.destination in seen or m.destination in {posixpath.normpath(t) for t in tmpfs}:
            raise InvalidParameter(f"Duplicate mount point: {m.destination}")
        seen.add(m.destination)
        by_dest[m.destination] = m

    for raw in host_config.get("Mounts") or []:
        m = parse_mount(raw)
        if m.destination in seen:
            raise InvalidParameter(f"Duplicate mount point: {m.destination}")
        seen.add(m.destination)
        by_dest[m.destination] = m

    for dest, data in tmpfs.items():
        d = _clean_dest(dest, dest)
        by_dest[d] = MountPoint(
            type="tmpfs",
            destination=d,
            tmpfs_data=data or "",
            from_spec="tmpfs",
            rw="ro" not in (data or "").split(","),
        )
    return list(by_dest.values())


def check_not_under(mp: MountPoint, roots: list[str]) -> None:
    """Binds of shim's own state (data root, exec root) would let a container rewrite the daemon's."""
    if mp.type != "bind":
        return
    src = posixpath.normpath(mp.source)
    for root in roots:
        root = posixpath.normpath(root)
        if src == root or src.startswith(root + "/"):
            raise InvalidParameter(
                f'invalid mount config for type "bind": bind source path is inside the daemon\'s data root: {mp.source}'
            )


def sort_for_mounting(mps: list[MountPoint]) -> list[MountPoint]:
    """Parents before children (moby sortMounts)."""
    return sorted(mps, key=lambda m: m.destination.rstrip("/").count("/"))
