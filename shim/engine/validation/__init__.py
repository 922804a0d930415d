"""Engine layer (pure): the one validation pass of everything a client asks the daemon to create.

Every check of a request's values runs here, before anything is written (no container, volume,
network or exec session, no reserved name): ranges, signal and capability names, namespace
modes, references to other objects, log drivers, ports, mounts, names and paths. The API layer
has already checked the shapes (shim/api/schemas: JSON types, Go's integer widths, bounded JSON);
this pass checks what the kernel and runc will accept. dockerd's verifyContainerSettings is the
model, with its wording; where dockerd defers a check to the start (or to runc), shimd checks at
create, so a 201 means the container can be started.

Entry points (each raises shim.errors.InvalidParameter naming the field, or NotFound/Forbidden
where dockerd answers so):
- `container_create(config, host_config, host, lookup)` → warnings (the request's own Config,
  before the image's is merged; `lookup(ref)` finds a container or raises NotFound);
- `container_update(host_config, host)` → warnings (the HostConfig with the update applied);
- `container_start(host_config, host)` → warnings (dockerd's re-check at start);
- `exec_create(body)`, `network_create(name, ...)`, `volume_create(name, driver, opts)`;
- `names` (one rule for container, network and volume names; paths), `ports`, `resources`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shim.engine.ports import HostLimits
from shim.engine.validation import names
from shim.engine.validation.container import (
    check_config,
    check_host_config,
    check_resources_and_policy,
)
from shim.engine.validation.modes import Lookup
from shim.errors import InvalidParameter

__all__ = [
    "HostLimits",
    "Lookup",
    "container_create",
    "container_start",
    "container_update",
    "exec_create",
    "names",
    "network_create",
    "volume_create",
]


def container_create(
    config: dict[str, Any],
    host_config: dict[str, Any],
    host: HostLimits,
    lookup: Lookup | None = None,
    *,
    security: Callable[[dict[str, Any]], None] | None = None,
    log_config: Callable[[Any], dict[str, Any]] | None = None,
) -> list[str]:
    """POST /containers/create: Config then HostConfig, as verifyContainerSettings orders them.
    `security` is the daemon's SecurityPolicy.validate (engine/security: options and profiles),
    `log_config` its logconfig.verify with the daemon's defaults (the merged LogConfig replaces
    the request's in `host_config`)."""
    check_config(config)
    return check_host_config(config, host_config, host, lookup, security, log_config)


def container_update(host_config: dict[str, Any], host: HostLimits) -> list[str]:
    """POST /containers/{id}/update: the resources and restart policy after the update."""
    return check_resources_and_policy(host_config, host, update=True)


def container_start(host_config: dict[str, Any], host: HostLimits) -> list[str]:
    """POST /containers/{id}/start: dockerd verifies the settings again (a pre-1.24 body replaced them)."""
    return check_resources_and_policy(host_config, host)


def exec_create(body: dict[str, Any]) -> None:
    """POST /containers/{id}/exec: what runc exec would refuse, refused before the session exists."""
    cmd = body.get("Cmd") or []
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise InvalidParameter("No exec command specified")
    for arg in cmd:
        names.no_nul(arg, "Cmd")
    for env in body.get("Env") or []:
        if env.split("=", 1)[0] == "":
            raise InvalidParameter(f"invalid environment variable: {env[:200]}")
        names.no_nul(env, "Env")
    wd = body.get("WorkingDir") or ""
    if wd and not wd.startswith("/"):
        raise InvalidParameter(f"the working directory '{wd[:200]}' is invalid, it needs to be an absolute path")
    if wd:
        names.path(wd, "WorkingDir")
    names.no_nul(body.get("User") or "", "User")


def network_create(name: str, options: dict[str, Any] | None = None, labels: dict[str, Any] | None = None) -> None:
    """POST /networks/create: the name (IPAM and driver options are the network service's)."""
    names.network_name(name)
    for field, mapping in (("Options", options), ("Labels", labels)):
        for key, value in (mapping or {}).items():
            names.no_nul(f"{key}={value}", field)


def volume_create(name: str, driver: str = "", options: dict[str, Any] | None = None) -> None:
    """POST /volumes/create (and a volume a container's mounts name): the local driver's name rule."""
    if name:
        names.volume_name(name)
    names.no_nul(driver, "Driver")
    for key, value in (options or {}).items():
        names.no_nul(f"{key}={value}", "DriverOpts")
