"""The daemon's API listeners: `-H unix://`, `tcp://` (plain or TLS) and `fd://` (systemd), as dockerd's
daemon/command/daemon.go loadListeners and daemon/listeners.

- unix: a stale socket left by a crash is replaced, a live daemon's is not; the socket is
  owned by root and the `-G` group (default `docker`, root's when that group doesn't exist;
  another group that doesn't exist is an error, as dockerd), mode 0660.
- tcp: TLS when `--tls`/`--tlsverify` say so. Without client verification dockerd logs its
  three warnings and goes on (sleeping 1 s, 15 s off loopback), announcing that "in future
  versions this will be a hard failure"; shimd makes it one unless the operator said
  `--tls=false` or `--tlsverify=false` explicitly (dockerd's own "explicit intent" test,
  checkTLSAuthOK), and then logs the same warnings.
- fd: the sockets systemd passed; TLS applies to the TCP ones only (go-systemd TLSListeners).
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import logging
import os
import socket
import ssl

from aiohttp import web

from shim import systemd
from shim.config import DEFAULT_HOST, Settings
from shim.hosts import Host, parse_daemon_host
from shim.tlsrelay import TLSConfigError, TLSServer, server_context

log = logging.getLogger("shim")

BACKLOG = 1024  # asyncio clients opening many connections at once fail with a small one
DEFAULT_SOCKET_GROUP = "docker"

_WARNINGS = (
    "Binding to IP address without --tlsverify is insecure and gives root access on this machine to "
    "everyone who has access to your network.",
    "Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!",
)


class StartupError(Exception):
    pass


@dataclasses.dataclass(slots=True)
class Listener:
    host: Host
    sock: socket.socket
    tls: bool
    owned_path: str = ""  # a unix socket we created (removed at shutdown)

    @property
    def name(self) -> str:
        return self.host.addr if self.host.proto != "fd" else f"fd://{self.sock.fileno()} ({_sockname(self.sock)})"


def _sockname(sock: socket.socket) -> str:
    name = sock.getsockname()
    return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)


def plan(settings: Settings) -> list[Host]:
    """Check the listeners before anything starts: the hosts, the TLS files, the TCP policy."""
    hosts = [parse_daemon_host(h, DEFAULT_HOST) for h in settings.hosts]
    if settings.tls_enabled:
        tls_context(settings)  # fail now on a missing or bad certificate, not at the first client
    for h in hosts:
        if h.proto == "tcp":
            check_tcp_policy(settings, h)
        if h.proto == "unix":
            _claim_socket(h.addr)
    return hosts


def tls_context(settings: Settings) -> ssl.SSLContext:
    try:
        return server_context(settings.tlscacert, settings.tlscert, settings.tlskey, verify=settings.verify_clients)
    except TLSConfigError as e:
        raise StartupError(str(e)) from None


def check_tcp_policy(settings: Settings, host: Host) -> None:
    if settings.verify_clients:
        return
    for line in _WARNINGS:
        log.warning('%s host="%s"', line, host.url)
    if settings.tls is None:
        raise StartupError(
            f"refusing to listen on {host.url} without TLS client verification: anyone who can reach it gets "
            "root on this machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey, or accept the risk "
            "explicitly with --tls=false (or --tlsverify=false for TLS without client certificates)"
        )


def _claim_socket(path: str) -> None:
    """Refuse to steal a live daemon's socket; remove a stale one left by a crash."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise StartupError(f"listen unix {path}: bind: address already in use")


def socket_gid(group: str, path: str) -> int:
    """moby's lookupGID: a group name, or a numeric gid; the default group may be missing."""
    if not group:
        return os.getgid()
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    if group != DEFAULT_SOCKET_GROUP:
        raise StartupError(f"can't create unix socket {path}: group {group} not found")
    log.warning("could not change group %s to %s: group %s not found", path, group, group)
    return os.getgid()


def open_listeners(settings: Settings, hosts: list[Host]) -> list[Listener]:
    out: list[Listener] = []
    passed: list[socket.socket | None] | None = None
    try:
        for h in hosts:
            if h.proto == "unix":
                out.append(Listener(h, _unix_socket(h.addr, settings.group), tls=False, owned_path=h.addr))
            elif h.proto == "tcp":
                out.append(Listener(h, _tcp_socket(h), tls=settings.tls_enabled))
            else:
                passed = systemd.listen_fds() if passed is None else passed
                out.extend(
                    Listener(h, s, tls=settings.tls_enabled and s.family != socket.AF_UNIX)
                    for s in systemd.select(passed, h.addr)
                )
    except systemd.ActivationError as e:
        close_listeners(out)
        raise StartupError(str(e)) from None
    except BaseException:
        close_listeners(out)
        raise
    return out


def _unix_socket(path: str, group: str) -> socket.socket:
    gid = socket_gid(group, path)
    # After build_engine: the default socket's directory is the exec root, made 0700 there.
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Owner and mode before listen(): nobody outside the group can connect in between.
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise StartupError(f"can't create unix socket {path}: {e.strerror or e}") from None
    sock.setblocking(False)
    return sock


def _tcp_socket(host: Host) -> socket.socket:
    name, port = host.tcp_host_port()
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise StartupError(f"listen tcp {host.addr}: lookup {name}: {e.strerror}") from None
    # Go's net.Listen on a name listens on one of its addresses, IPv4 first.
    family, type_, proto, _, addr = sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise StartupError(f"listen tcp {host.addr}: bind: {e.strerror or e}") from None
    sock.setblocking(False)
    return sock


class Serving:
    """The listeners served by one aiohttp runner; closed in reverse at shutdown."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self._tls_servers: list[TLSServer] = []

    async def start(self, runner: web.AppRunner, settings: Settings) -> None:
        ctx = tls_context(settings) if any(lst.tls for lst in self.listeners) else None
        for lst in self.listeners:
            if lst.tls and ctx is not None and runner.server is not None:
                server = TLSServer(lst.sock, ctx, runner.server)
                await server.start()
                self._tls_servers.append(server)
            else:
                await web.SockSite(runner, lst.sock, backlog=BACKLOG).start()
            log.info("API listen on %s%s", lst.name, " (TLS)" if lst.tls else "")

    def stop_accepting(self) -> None:
        """First step of a shutdown (aiohttp's sites stop in runner.cleanup())."""
        for server in self._tls_servers:
            server.stop_accepting()

    async def close(self) -> None:
        """Last step, after runner.cleanup(): TLS relays still open end, sockets go."""
        for server in self._tls_servers:
            await server.close()
        close_listeners(self.listeners)


def close_listeners(listeners: list[Listener]) -> None:
    for lst in listeners:
        lst.sock.close()
        if lst.owned_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lst.owned_path)
