"""Runtime adapter: host port reservation for published ports.

Traffic to a published port is DNATed in PREROUTING/OUTPUT and never reaches a socket, so
there is no userland proxy (127.0.0.1 works through route_localnet on our bridges). We
still bind — without listening — one socket per published port, as dockerd's portmapper
does: another program can't take the port while a container publishes it, an occupied port
fails with dockerd's `Bind for 0.0.0.0:8080 failed: port is already allocated`, and port 0
lets the kernel choose a free ephemeral port for `-p 80` / `-P`.
"""

from __future__ import annotations

import errno
import socket

from shim.errors import SystemFailure


class PortInUse(SystemFailure):
    pass


class PortReserver:
    def __init__(self) -> None:
        self._held: dict[tuple[str, str, int], socket.socket] = {}

    def reserve(self, proto: str, host_ip: str, port: int) -> int:
        """Bind (proto, ip, port); port 0 picks one. Returns the port. PortInUse if taken."""
        ip = host_ip or "0.0.0.0"
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        try:
            s.bind((ip, port))
        except OSError as e:
            s.close()
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(f"Bind for {ip}:{port} failed: port is already allocated") from e
            raise SystemFailure(f"Bind for {ip}:{port} failed: {e.strerror}") from e
        actual: int = s.getsockname()[1]  # (host, port) for AF_INET, (host, port, flow, scope) for AF_INET6
        self._held[(proto, ip, actual)] = s
        return actual

    def release(self, proto: str, host_ip: str, port: int) -> None:
        s = self._held.pop((proto, host_ip or "0.0.0.0", port), None)
        if s is not None:
            s.close()

    def held(self) -> list[tuple[str, str, int]]:
        return list(self._held)

    def close(self) -> None:
        for s in self._held.values():
            s.close()
        self._held.clear()
