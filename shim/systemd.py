"""systemd's two small protocols, as dockerd uses them through coreos/go-systemd.

- Socket activation (sd_listen_fds(3)): LISTEN_PID names us, LISTEN_FDS counts the sockets
  passed from fd 3 on; the variables are removed once read so children don't inherit them
  (go-systemd's activation.Files(true)). A passed fd that is not a listening stream socket
  is skipped, as activation.Listeners leaves it nil.
- Readiness (sd_notify(3)): READY=1 once the API serves, RELOADING=1 around a SIGHUP reload,
  STOPPING=1 at shutdown; a datagram to $NOTIFY_SOCKET, nothing when it is unset.

Both are a few lines of a stable, documented protocol: the PyPI bindings (systemd-python
needs libsystemd headers and a compiler; sdnotify covers only notify) would cost more
than they save (docs/OPERATIONS.md).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping

LISTEN_FDS_START = 3


class ActivationError(Exception):
    pass


def listen_fds(environ: MutableMapping[str, str] | None = None) -> list[socket.socket | None]:
    """The sockets systemd passed to this process (index i is fd 3+i); [] if none were meant for us."""
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    finally:
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(key, None)
    if pid != os.getpid() or count <= 0:
        return []
    out: list[socket.socket | None] = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        out.append(_as_listener(fd))
    return out


def _as_listener(fd: int) -> socket.socket | None:
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.detach()
        return None
    return sock


def select(passed: list[socket.socket | None], spec: str) -> list[socket.socket]:
    """`fd://` / `fd://*`: every passed listener; `fd://N`: only fd N, the others closed (moby's listenFD)."""
    found = [s for s in passed if s is not None]
    if not found:
        raise ActivationError("no sockets found via socket activation: make sure the service was started by systemd")
    if spec in ("", "*"):
        return found
    index = int(spec) - LISTEN_FDS_START
    if index < 0 or index >= len(passed):
        raise ActivationError("too few socket activated files passed in by systemd")
    chosen = passed[index]
    if chosen is None:
        raise ActivationError(f"failed to listen on systemd activated file: fd {spec}")
    for other in found:
        if other is not chosen:
            other.close()
    return [chosen]


def notify(state: str, environ: MutableMapping[str, str] | None = None) -> bool:
    """Send `state` to the service manager; False when not run under systemd (or it can't be reached)."""
    env = os.environ if environ is None else environ
    addr = env.get("NOTIFY_SOCKET", "")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(addr)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def reloading_state() -> str:
    """RELOADING=1 with the monotonic timestamp systemd ≥ 253 wants (dockerd's notifyReloading)."""
    return f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
