"""Daemon settings: flags and daemon.json, merged as dockerd merges them.

A key given both as a flag and in the config file is an error (dockerd's
"the following directives are specified both as a flag and in the configuration file").
The TLS switches follow dockerd's cmd/dockerd (options.go setDefaultOptions and
loadDaemonCliConfig): `--tlsverify` (any value) turns TLS on, `--tls` alone verifies
clients too, `--tlsverify=false` is TLS without client verification.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import Any

from shim import __version__

DEFAULT_HOST = "unix:///run/shim/docker.sock"

# dockerd's defaults (daemon/config/config.go); 0 in a file or flag means "the default".
DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3
DEFAULT_MAX_CONCURRENT_UPLOADS = 5
DEFAULT_MAX_DOWNLOAD_ATTEMPTS = 5

LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


@dataclasses.dataclass(slots=True)
class Settings:
    hosts: list[str] = dataclasses.field(default_factory=lambda: [DEFAULT_HOST])
    data_root: str = "/var/lib/shim"
    exec_root: str = "/run/shim"
    pidfile: str = ""
    group: str = "docker"
    log_level: str = "info"
    bridge: str = ""
    bip: str = ""
    debug: bool = False
    # The API over TCP (listeners.py). None = not said, which matters: dockerd refuses
    # nothing but warns, we refuse an unauthenticated TCP listener unless told so explicitly.
    tls: bool | None = None
    tlsverify: bool | None = None
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    metrics_addr: str = ""
    # The default LogConfig of containers (dockerd's --log-driver / --log-opt, daemon.json
    # log-driver / log-opts), merged into each container's at create (engine/logconfig.py).
    log_driver: str = "json-file"
    log_opts: dict[str, str] = dataclasses.field(default_factory=dict)
    # Reloaded on SIGHUP as dockerd's daemon/reload.go does. The registry ones are stored for
    # the registry service (issue 12); /info shows them from here.
    labels: list[str] = dataclasses.field(default_factory=list)
    max_concurrent_downloads: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS
    max_concurrent_uploads: int = DEFAULT_MAX_CONCURRENT_UPLOADS
    max_download_attempts: int = DEFAULT_MAX_DOWNLOAD_ATTEMPTS
    insecure_registries: list[str] = dataclasses.field(default_factory=list)
    registry_mirrors: list[str] = dataclasses.field(default_factory=list)
    # Where the settings came from, for a SIGHUP reload: the file, and what the flags said.
    config_file: str = ""
    from_flags: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Confinement (docs/SECURITY.md). seccomp_profile: builtin (Docker's default profile) |
    # unconfined | the path of a Docker-format profile.
    seccomp_profile: str = "builtin"
    no_new_privileges: bool = False
    default_cgroupns_mode: str = "host"  # dockerd's default on cgroup v1 hosts

    def __post_init__(self) -> None:
        if not self.pidfile:
            self.pidfile = os.path.join(self.exec_root, "shimd.pid")

    @property
    def effective_log_level(self) -> str:
        """-D wins over --log-level, as dockerd's debug.Enable()."""
        return "debug" if self.debug else self.log_level

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls)

    @property
    def verify_clients(self) -> bool:
        return self.tls_enabled and self.tlsverify is not False


# daemon.json key -> Settings field (the argparse dest of its flag has the same name)
FILE_KEYS = {
    "hosts": "hosts",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "group": "group",
    "log-level": "log_level",
    "bridge": "bridge",
    "bip": "bip",
    "debug": "debug",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "metrics-addr": "metrics_addr",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
    "labels": "labels",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
    "max-download-attempts": "max_download_attempts",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "seccomp-profile": "seccomp_profile",
    "no-new-privileges": "no_new_privileges",
    "default-cgroupns-mode": "default_cgroupns_mode",
    "userns-remap": "userns_remap",
}
# Understood, but refused: user namespace remapping is not implemented (docs/SECURITY.md).
USERNS_REFUSED = (
    "user namespace remapping (userns-remap) is not supported by shimd: "
    "containers run in the host's user namespace, as dockerd without userns-remap"
)

# The JSON type each newer key must have (Go's json.Unmarshal refuses the others).
_FILE_TYPES: dict[str, type] = {
    "tls": bool,
    "tlsverify": bool,
    "tlscacert": str,
    "tlscert": str,
    "tlskey": str,
    "metrics-addr": str,
    "log-driver": str,
    "log-opts": dict,
    "labels": list,
    "max-concurrent-downloads": int,
    "max-concurrent-uploads": int,
    "max-download-attempts": int,
    "insecure-registries": list,
    "registry-mirrors": list,
    "seccomp-profile": str,
    "no-new-privileges": bool,
    "default-cgroupns-mode": str,
    "userns-remap": str,
}


class ConfigError(Exception):
    pass


def python_log_level(level: str) -> str:
    """dockerd's level names as the logging module's."""
    return {"warn": "WARNING", "fatal": "CRITICAL"}.get(level, level.upper())


def version_line() -> str:
    """`shimd --version`, shaped as `dockerd --version` ("Docker version 28.2.2, build e6534b4")."""
    from shim.translate.versions import MAX_VERSION, MIN_VERSION

    return f"shimd version {__version__}, API {MAX_VERSION} (minimum {MIN_VERSION})"


def go_bool(raw: str) -> bool:
    """A boolean flag value as Go's strconv.ParseBool reads it (pflag: `--tls=false`)."""
    if raw in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if raw in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f'parse error on "{raw}": invalid syntax')


def _cert_dir() -> str:
    """dockerd's default certificate directory: $DOCKER_CERT_PATH, else $DOCKER_CONFIG, else ~/.docker."""
    return os.environ.get("DOCKER_CERT_PATH") or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shimd", description="A Docker-compatible container engine daemon.")
    ap.add_argument("-v", "--version", action="version", version=version_line())
    ap.add_argument(
        "-H", "--host", dest="hosts", action="append", help="daemon socket(s) to listen on (unix://, tcp://, fd://)"
    )
    ap.add_argument("--data-root", dest="data_root", help="root of persistent state (default /var/lib/shim)")
    ap.add_argument("--exec-root", dest="exec_root", help="root of runtime state (default /run/shim)")
    ap.add_argument("-p", "--pidfile", dest="pidfile", help="path of the daemon's PID file")
    ap.add_argument("-G", "--group", dest="group", help="group owning the unix socket (default docker)")
    ap.add_argument("-l", "--log-level", dest="log_level", choices=list(LOG_LEVELS))
    ap.add_argument("-D", "--debug", dest="debug", action="store_true", default=None)
    ap.add_argument("-b", "--bridge", dest="bridge", help="attach containers to this network bridge")
    ap.add_argument("--bip", dest="bip", help="IP address and netmask of the default bridge")
    ap.add_argument("--config-file", dest="config_file", default="/etc/shim/daemon.json")
    ap.add_argument("--seccomp-profile", dest="seccomp_profile", help="seccomp profile: a path, builtin or unconfined")
    ap.add_argument("--no-new-privileges", dest="no_new_privileges", action="store_true", default=None)
    ap.add_argument("--default-cgroupns-mode", dest="default_cgroupns_mode", help='"host" or "private"')
    ap.add_argument("--userns-remap", dest="userns_remap", help="not supported: refused")
    _tls_flags(ap)
    ap.add_argument("--metrics-addr", dest="metrics_addr", help="serve Prometheus metrics on HOST:PORT (/metrics)")
    ap.add_argument("--log-driver", dest="log_driver", help="default driver for container logs (json-file)")
    ap.add_argument(
        "--log-opt", dest="log_opts", action="append", type=_log_opt, help="default log driver option (key=value)"
    )
    ap.add_argument("--label", dest="labels", action="append", help="key=value label of this daemon")
    for what in ("downloads", "uploads"):
        ap.add_argument(f"--max-concurrent-{what}", dest=f"max_concurrent_{what}", type=int)
    ap.add_argument("--max-download-attempts", dest="max_download_attempts", type=int)
    ap.add_argument("--insecure-registry", dest="insecure_registries", action="append")
    ap.add_argument("--registry-mirror", dest="registry_mirrors", action="append")
    return ap


def _tls_flags(ap: argparse.ArgumentParser) -> None:
    # Go booleans: `--tls` is true, `--tls=false` is false (nargs="?" takes the `=value`).
    ap.add_argument("--tls", dest="tls", nargs="?", const=True, type=go_bool, help="use TLS; implied by --tlsverify")
    ap.add_argument(
        "--tlsverify", dest="tlsverify", nargs="?", const=True, type=go_bool, help="use TLS and verify the remote"
    )
    ap.add_argument("--tlscacert", dest="tlscacert", help="trust certs signed only by this CA (~/.docker/ca.pem)")
    ap.add_argument("--tlscert", dest="tlscert", help="path to TLS certificate file (default ~/.docker/cert.pem)")
    ap.add_argument("--tlskey", dest="tlskey", help="path to TLS key file (default ~/.docker/key.pem)")


def _log_opt(raw: str) -> tuple[str, str]:
    """--log-opt key=value (dockerd's opts.NamedMapOpts with ValidateLogOpt's "=" check)."""
    key, eq, value = raw.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"invalid key value pair format in log options: {raw}")
    return key, value


def _read_file(path: str, explicit: bool) -> dict[str, Any]:
    if not os.path.exists(path):
        if explicit:
            raise ConfigError(f"open {path}: no such file or directory")
        return {}
    try:
        with open(path) as f:
            raw = json.load(f)
    except ValueError as e:
        raise ConfigError(f"unable to configure the shim daemon with file {path}: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"unable to configure the shim daemon with file {path}: not a JSON object")
    unknown = sorted(set(raw) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"the following directives don't match any configuration option: {', '.join(unknown)}")
    for key, want in _FILE_TYPES.items():
        if key in raw and not _is_type(raw[key], want):
            # Go's json.Unmarshal wording, as dockerd reports it.
            raise ConfigError(
                f"unable to configure the shim daemon with file {path}: json: cannot unmarshal "
                f"{_JSON_KIND.get(type(raw[key]), 'value')} into Go struct field Config.{key} of type {_GO_KIND[want]}"
            )
    return {FILE_KEYS[k]: v for k, v in raw.items()}


_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}
_GO_KIND = {bool: "bool", str: "string", int: "int", list: "[]string", dict: "map[string]string"}


def _is_type(value: Any, want: type) -> bool:
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if want is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if want is dict:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, want)


def _merge(given: dict[str, Any], config_file: str, explicit: bool) -> tuple[dict[str, Any], set[str]]:
    """Flags + file: (merged values, the fields that were set by either, dockerd's IsValueSet)."""
    from_file = _read_file(config_file, explicit)
    clash = sorted(k for k in given if k in from_file)
    if clash:
        inv = {v: k for k, v in FILE_KEYS.items()}
        parts = [f"{inv[k]}: (from flag: {given[k]}, from file: {from_file[k]})" for k in clash]
        raise ConfigError(
            "the following directives are specified both as a flag and in the configuration file: " + ", ".join(parts)
        )
    merged = {**from_file, **given}
    return merged, set(merged)


def _resolve_tls(merged: dict[str, Any]) -> None:
    """dockerd's rules: a tlsverify value (true or false) turns TLS on; tls alone verifies clients."""
    if merged.get("tlsverify") is not None:
        merged["tls"] = True
    if merged.get("tlsverify") is None and merged.get("tls") is not None:
        merged["tlsverify"] = merged["tls"]
    cert_dir = _cert_dir()
    for key, name in (("tlscacert", "ca.pem"), ("tlscert", "cert.pem"), ("tlskey", "key.pem")):
        if not merged.get(key):
            merged[key] = os.path.join(cert_dir, name)


def validate(merged: dict[str, Any]) -> None:
    """What dockerd's config.Validate checks of the keys shim has (same wording)."""
    level = merged.get("log_level")
    if level is not None and level not in LOG_LEVELS:
        raise ConfigError(f"invalid logging level: {level}")
    seen: dict[str, str] = {}
    for label in merged.get("labels") or []:
        key, eq, val = label.partition("=")
        if not eq:
            raise ConfigError(f"bad attribute format: {label}")
        if label.lower().startswith(("com.docker.", "io.docker.", "org.dockerproject.")):
            raise ConfigError(
                f"label {label} is not allowed: the namespaces com.docker.*, io.docker.*, and org.dockerproject.* "
                "are reserved for internal use"
            )
        if key in seen and seen[key] != val:
            raise ConfigError(f"conflict labels for {key}={val} and {key}={seen[key]}")
        seen[key] = val
    for field, what in (
        ("max_concurrent_downloads", "max concurrent downloads"),
        ("max_concurrent_uploads", "max concurrent uploads"),
        ("max_download_attempts", "max download attempts"),
    ):
        if (merged.get(field) or 0) < 0:
            raise ConfigError(f"invalid {what}: {merged[field]}")
    for mirror in merged.get("registry_mirrors") or []:
        _check_mirror(mirror)
    if merged.get("userns_remap"):
        raise ConfigError(USERNS_REFUSED)
    mode = merged.get("default_cgroupns_mode", "host")
    if mode not in ("host", "private"):
        raise ConfigError(f'invalid default cgroup namespace ({mode}): use "host" or "private"')
    _check_log_defaults(merged)


def _check_log_defaults(merged: dict[str, Any]) -> None:
    """setupDefaultLogConfig: options given to the daemon must suit its default driver (dockerd
    checks their names at startup; shim their values too, as it does at create)."""
    from shim.engine.logconfig import check

    opts = merged.get("log_opts") or {}
    if opts:
        try:
            check(merged.get("log_driver") or "json-file", opts)
        except ValueError as e:
            raise ConfigError(f"failed to set log opts: {e}") from None


def _check_mirror(mirror: str) -> None:
    """moby's registry.ValidateMirror."""
    scheme, sep, rest = mirror.partition("://")
    either = "must use either 'https://' or 'http://'"
    if not sep or not scheme:
        raise ConfigError(f'invalid mirror: no scheme specified for "{mirror}": {either}')
    if scheme not in ("http", "https"):
        raise ConfigError(f'invalid mirror: unsupported scheme "{scheme}" in "{mirror}": {either}')
    if "?" in rest or "#" in rest:
        raise ConfigError(f'invalid mirror: query or fragment at end of the URI "{mirror}"')
    if "@" in rest.split("/", 1)[0]:
        raise ConfigError(f'invalid mirror: username/password not allowed in URI "{mirror}"')


def _normalise(merged: dict[str, Any]) -> None:
    """Defaults for zeros, labels without duplicates, mirrors with one trailing slash (as dockerd)."""
    for field, default in (
        ("max_concurrent_downloads", DEFAULT_MAX_CONCURRENT_DOWNLOADS),
        ("max_concurrent_uploads", DEFAULT_MAX_CONCURRENT_UPLOADS),
        ("max_download_attempts", DEFAULT_MAX_DOWNLOAD_ATTEMPTS),
    ):
        if not merged.get(field):
            merged[field] = default
    merged.pop("userns_remap", None)
    if not merged.get("seccomp_profile"):
        merged.pop("seccomp_profile", None)
    if "labels" in merged:
        merged["labels"] = list(dict.fromkeys(merged["labels"]))
    if "registry_mirrors" in merged:
        merged["registry_mirrors"] = list(dict.fromkeys(m.rstrip("/") + "/" for m in merged["registry_mirrors"]))


def _hosts(merged: dict[str, Any]) -> None:
    from shim.hosts import HostError, normalise_hosts

    hosts = [h for h in merged.get("hosts") or [] if h.strip()]
    if not hosts:
        # dockerd: no host but TLS on means tcp://localhost:2376, else the default unix socket.
        hosts = ["tcp://localhost:2376" if merged.get("tls") else DEFAULT_HOST]
    try:
        merged["hosts"] = normalise_hosts(hosts, default_unix=DEFAULT_HOST)
    except HostError as e:
        raise ConfigError(str(e)) from None


def load(argv: list[str] | None = None) -> Settings:
    args = parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k != "config_file"}
    if "log_opts" in given:
        given["log_opts"] = dict(given["log_opts"])
    explicit_file = argv is not None and any(a.startswith("--config-file") for a in argv)
    merged, _ = _merge(given, args.config_file, explicit_file)
    validate(merged)
    _normalise(merged)
    _resolve_tls(merged)
    _hosts(merged)
    return Settings(**merged, config_file=args.config_file, from_flags=given)


def reload(current: Settings) -> tuple[Settings, set[str]]:
    """SIGHUP: the file read again with the flags the daemon started with (dockerd's config.Reload).

    Returns the new settings and the fields set by the file or a flag: dockerd keeps the
    running value of a reloadable key that is absent (its IsValueSet checks).
    """
    merged, was_set = _merge(dict(current.from_flags), current.config_file, explicit=False)
    validate(merged)
    _normalise(merged)
    _resolve_tls(merged)
    _hosts(merged)
    return Settings(**merged, config_file=current.config_file, from_flags=current.from_flags), was_set
