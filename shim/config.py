"""Daemon settings: flags and daemon.json, merged as dockerd merges them.

A key given both as a flag and in the config file is an error (dockerd's
"the following directives are specified both as a flag and in the configuration file").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

DEFAULT_HOST = "unix:///run/shim/docker.sock"


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

    def __post_init__(self) -> None:
        if not self.pidfile:
            self.pidfile = os.path.join(self.exec_root, "shimd.pid")


# daemon.json key -> (Settings field, argparse dest)
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
}


class ConfigError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="shimd", description="A Docker-compatible container engine daemon.")
    ap.add_argument("-H", "--host", dest="hosts", action="append", help="daemon socket to listen on (unix://PATH)")
    ap.add_argument("--data-root", dest="data_root", help="root of persistent state (default /var/lib/shim)")
    ap.add_argument("--exec-root", dest="exec_root", help="root of runtime state (default /run/shim)")
    ap.add_argument("-p", "--pidfile", dest="pidfile", help="path of the daemon's PID file")
    ap.add_argument("-G", "--group", dest="group", help="group owning the unix socket (default docker)")
    ap.add_argument("-l", "--log-level", dest="log_level", choices=["debug", "info", "warn", "error", "fatal"])
    ap.add_argument("-D", "--debug", dest="debug", action="store_true", default=None)
    ap.add_argument("-b", "--bridge", dest="bridge", help="attach containers to this network bridge")
    ap.add_argument("--bip", dest="bip", help="IP address and netmask of the default bridge")
    ap.add_argument("--config-file", dest="config_file", default="/etc/shim/daemon.json")
    return ap


def load(argv: list[str] | None = None) -> Settings:
    args = parser().parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k != "config_file"}
    from_file: dict = {}
    explicit_file = argv is not None and any(a.startswith("--config-file") for a in argv)
    if os.path.exists(args.config_file):
        try:
            with open(args.config_file) as f:
                raw = json.load(f)
        except ValueError as e:
            raise ConfigError(f"unable to configure the shim daemon with file {args.config_file}: {e}") from None
        unknown = sorted(set(raw) - set(FILE_KEYS))
        if unknown:
            raise ConfigError(f"the following directives don't match any configuration option: {', '.join(unknown)}")
        from_file = {FILE_KEYS[k]: v for k, v in raw.items()}
    elif explicit_file:
        raise ConfigError(f"open {args.config_file}: no such file or directory")
    clash = sorted(k for k in given if k in from_file)
    if clash:
        inv = {v: k for k, v in FILE_KEYS.items()}
        parts = [f"{inv[k]}: (from flag: {given[k]}, from file: {from_file[k]})" for k in clash]
        raise ConfigError(
            "the following directives are specified both as a flag and in the configuration file: " + ", ".join(parts)
        )
    merged = {**from_file, **given}
    if merged.get("debug"):
        merged["log_level"] = "debug"
    return Settings(**merged)
