"""Engine layer (pure): the container checks of create, update and a pre-1.24 start.

dockerd's verifyContainerSettings (validateContainerConfig, validateHostConfig,
verifyPlatformContainerSettings) and runconfig's decode-time checks, in that order, with dockerd
20.10's wording; then what dockerd leaves to the start (a capability, a sysctl, a StopSignal or a
container to join that doesn't exist), so that a create which can never run creates nothing.
"""

from __future__ import annotations

import ipaddress
import posixpath
from collections.abc import Callable
from typing import Any

from shim.engine import mounts as mp_
from shim.engine.ports import HostLimits
from shim.engine.security import parse_security_opts
from shim.engine.signals import parse_signal
from shim.engine.validation import names
from shim.engine.validation.modes import Lookup, check_modes, check_network_conflicts, check_sysctls
from shim.engine.validation.ports import check_bindings, check_exposed
from shim.engine.validation.resources import check_resources, items
from shim.errors import InvalidParameter, NotFound

MAX_HOSTNAME = 64  # HOST_NAME_MAX (moby's maxHostnameLen); also __NEW_UTS_LEN for the domain name
MIN_DURATION_NS = 1_000_000  # containertypes.MinimumDuration (1ms)
# The log drivers a Linux dockerd registers (daemon/logdrivers_linux.go); any other is a plugin lookup.
KNOWN_LOG_DRIVERS = (
    "awslogs",
    "fluentd",
    "gcplogs",
    "gelf",
    "journald",
    "json-file",
    "local",
    "logentries",
    "none",
    "splunk",
    "syslog",
)


def check_config(cfg: dict[str, Any]) -> None:
    """validateContainerConfig (WorkingDir, StopSignal, Env, Healthcheck) and the strings a process
    is made of (execve stops at a NUL byte; the kernel refuses a hostname past 64 bytes)."""
    wd = cfg.get("WorkingDir") or ""
    if wd and not wd.startswith("/"):
        raise InvalidParameter(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    if wd:
        names.path(wd, "WorkingDir")
    if cfg.get("StopSignal"):
        parse_signal(cfg["StopSignal"])
    for env in cfg.get("Env") or []:
        if env.split("=", 1)[0] == "":
            raise InvalidParameter(f"invalid environment variable: {env[:200]}")
        names.no_nul(env, "Env")
    for key in ("Cmd", "Entrypoint", "Shell", "OnBuild"):
        value = cfg.get(key)
        for arg in [value] if isinstance(value, str) else value or []:
            names.no_nul(arg, key)
    for key in ("User", "Image"):
        names.no_nul(cfg.get(key) or "", key)
    for key in ("Hostname", "Domainname"):
        value = cfg.get(key) or ""
        names.no_nul(value, key)
        if len(value.encode()) > MAX_HOSTNAME:
            raise InvalidParameter(f'{key.lower()} "{value[:80]}" is too long (maximum {MAX_HOSTNAME} bytes)')
    check_healthcheck(cfg.get("Healthcheck"))
    check_exposed(cfg.get("ExposedPorts"))
    for dest in cfg.get("Volumes") or {}:
        names.path(dest, "Volumes")


def check_healthcheck(hc: dict[str, Any] | None) -> None:
    if not hc:
        return
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        val = hc.get(key) or 0
        if val != 0 and val < MIN_DURATION_NS:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    test = hc.get("Test") or []
    if test and test[0] not in ("", "NONE", "CMD", "CMD-SHELL"):
        raise InvalidParameter(f"invalid Healthcheck.Test: unknown type {test[0][:80]!r} (NONE, CMD or CMD-SHELL)")
    for arg in test:
        names.no_nul(arg, "Healthcheck.Test")


def check_restart_policy(hc: dict[str, Any]) -> None:
    rp = hc.get("RestartPolicy") or {}
    name, retries = rp.get("Name") or "", rp.get("MaximumRetryCount") or 0
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{name}'")
    elif name == "on-failure":
        if retries < 0:
            raise InvalidParameter("maximum retry count cannot be negative")
    elif name != "":
        raise InvalidParameter(f"invalid restart policy '{name[:80]}'")
    if hc.get("AutoRemove") and name not in ("", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")


def check_resources_and_policy(hc: dict[str, Any], host: HostLimits, *, update: bool = False) -> list[str]:
    """What an update may change, and a start re-checks (dockerd's verifyContainerSettings(update))."""
    warnings = check_resources(hc, host, update=update)
    check_restart_policy(hc)
    if (hc.get("OomScoreAdj") or 0) < -1000 or (hc.get("OomScoreAdj") or 0) > 1000:
        raise InvalidParameter(f"Invalid value {hc.get('OomScoreAdj')}, range for oom score adj is [-1000, 1000]")
    return warnings


def check_capabilities(hc: dict[str, Any], known: tuple[str, ...]) -> None:
    """caps.NormalizeLegacyCapabilities on CapAdd and CapDrop, with validateCapabilities' prefix."""
    for field in ("CapAdd", "CapDrop"):
        for name in hc.get(field) or []:
            cap = name.upper()
            if cap == "ALL":
                continue
            if not cap.startswith("CAP_"):
                cap = "CAP_" + cap
            if known and cap not in known:
                raise InvalidParameter(f'invalid {field}: unknown capability: "{cap[:80]}"')


def check_host_config(
    config: dict[str, Any],
    hc: dict[str, Any],
    host: HostLimits,
    lookup: Lookup | None,
    security: Callable[[dict[str, Any]], None] | None = None,
    log_config: Callable[[Any], dict[str, Any]] | None = None,
) -> list[str]:
    """Every HostConfig field at create, in dockerd's order; returns its warnings."""
    check_network_conflicts(config, hc)
    isolation = hc.get("Isolation") or ""
    if isolation not in ("", "default"):
        raise InvalidParameter(f"Invalid isolation: \"{isolation[:80]}\" - linux only supports 'default'")
    check_mounts(config, hc, lookup)
    for extra in hc.get("ExtraHosts") or []:
        _extra_host(extra)
    check_bindings(hc.get("PortBindings"))
    check_capabilities(hc, host.capabilities)
    for key in hc.get("Annotations") or {}:
        if key == "":
            raise InvalidParameter("invalid Annotations: the empty string is not permitted as an annotation key")
    warnings = check_resources_and_policy(hc, host)
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    check_modes(hc, lookup)
    if (hc.get("NetworkMode") or "") == "host" and hc.get("PortBindings"):
        warnings.append("Published ports are discarded when using host network mode")
    runtime = hc.get("Runtime") or ""
    if runtime and runtime not in host.runtimes:
        raise InvalidParameter(f"Unknown runtime specified {runtime[:80]}")
    check_sysctls(hc)
    for key in ("MaskedPaths", "ReadonlyPaths"):
        for p in hc.get(key) or []:
            if not p.startswith("/"):
                raise InvalidParameter(f"invalid {key}: {p[:80]!r} is not an absolute path")
            names.path(p, key)
    for dns in hc.get("Dns") or []:
        try:
            ipaddress.ip_address(dns)
        except ValueError:
            raise InvalidParameter(f"{dns[:80]} is not an ip address") from None
    for key in ("DnsOptions", "DnsSearch", "GroupAdd", "SecurityOpt"):
        for item in hc.get(key) or []:
            names.no_nul(item, key)
    names.no_nul(hc.get("CgroupParent") or "", "CgroupParent")
    if hc.get("StorageOpt"):
        # dockerd's overlay2 driver without project quotas (the only storage shimd has)
        raise InvalidParameter("--storage-opt is supported only for overlay over xfs with 'pquota' mount option")
    check_log_config(hc, log_config)
    check_security_opts(hc, security)
    return warnings


def _extra_host(extra: str) -> None:
    """opts.ValidateExtraHost: `name:ip` (IPv6 after the first colon), or host-gateway."""
    host, sep, ip = extra.partition(":")
    if not sep or not host:
        raise InvalidParameter(f'bad format for add-host: "{extra[:80]}"')
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise InvalidParameter(f'invalid IP address in add-host: "{ip[:80]}"') from None


def check_mounts(config: dict[str, Any], hc: dict[str, Any], lookup: Lookup | None) -> None:
    """Binds, Mounts, Tmpfs, Volumes and VolumesFrom planned as create will (engine/mounts.py), and
    every name and path in the plan checked before a volume is made or a path is touched."""

    def volumes_from(ref: str) -> tuple[str, list[mp_.MountPoint]]:
        if lookup is None:
            return ref, []
        try:
            other = lookup(ref)
        except NotFound:
            raise InvalidParameter(f"invalid VolumesFrom: No such container: {ref[:80]}") from None
        return str(getattr(other, "id", ref)), []

    for dest in hc.get("Tmpfs") or {}:
        names.path(dest, "Tmpfs")
        if not dest.startswith("/") or posixpath.normpath(dest) == "/":
            raise InvalidParameter(
                f"invalid mount config: destination must be an absolute path other than '/': {dest[:80]}"
            )
    for raw in hc.get("Binds") or []:
        names.no_nul(raw, "Binds")
    for mount in items(hc.get("Mounts")):
        for key in ("Source", "Target"):
            names.no_nul(str(mount.get(key) or ""), f"Mounts.{key}")
    for m in mp_.plan(config, hc, volumes_from):
        names.path(m.destination, "mount destination")
        if m.type == "bind":
            names.path(m.source, "bind source")
        elif m.type == "volume" and m.name:
            names.volume_name(m.name)


def check_log_config(hc: dict[str, Any], verify: Callable[[Any], dict[str, Any]] | None = None) -> None:
    """HostConfig.LogConfig through the logging's own validator (engine/logconfig.verify, dockerd's
    mergeAndVerifyLogConfig: the driver, its option names and values, the daemon's defaults merged
    in; the merged LogConfig is what the container keeps, so it replaces the request's here). With
    none given (a pass without a daemon), the driver name as dockerd 20.10 looks it up."""
    lc = hc.get("LogConfig") or {}
    for key, value in (lc.get("Config") or {}).items():
        names.no_nul(f"{key}={value}", "LogConfig.Config")
    if verify is not None:
        hc["LogConfig"] = verify(hc.get("LogConfig"))
        return
    driver = lc.get("Type") or ""
    if driver and driver not in KNOWN_LOG_DRIVERS:
        # not built in, so dockerd looks for a logging plugin (shimd has none): dockerd 20.10's wording
        raise InvalidParameter(f'error looking up logging plugin {driver[:80]}: plugin "{driver[:80]}" not found')


def check_security_opts(hc: dict[str, Any], policy: Callable[[dict[str, Any]], None] | None = None) -> None:
    """HostConfig.SecurityOpt through the confinement's own validator (engine/security): the daemon's
    `SecurityPolicy.validate` when the service gives it (the options in parseSecurityOpt's words and
    a seccomp profile's content against this host), else parseSecurityOpt alone."""
    if policy is not None:
        policy(hc)
    else:
        parse_security_opts(hc.get("SecurityOpt"))
