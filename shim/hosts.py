"""`-H` addresses as dockerd reads them (moby daemon/pkg/opts/hosts.go ParseDaemonHost).

- `unix://PATH` (`unix://` alone: the default socket);
- `tcp://HOST:PORT`: no host means localhost, no port means 2375 (the IANA port for plain
  HTTP; 2376 is only the default when no -H is given at all and TLS is on); a bare
  `HOST:PORT` is TCP;
- `fd://`, `fd://*` (every socket systemd passed) or `fd://N` (that one).
"""

from __future__ import annotations

import dataclasses

DEFAULT_HTTP_HOST = "localhost"
DEFAULT_HTTP_PORT = 2375
DEFAULT_TLS_HTTP_PORT = 2376


class HostError(Exception):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Host:
    proto: str  # unix, tcp, fd
    addr: str  # a path, HOST:PORT, or the fd spec ("" / "*" / "N")

    @property
    def url(self) -> str:
        return f"{self.proto}://{self.addr}"

    def tcp_host_port(self) -> tuple[str, int]:
        host, _, port = self.addr.rpartition(":")
        return host.strip("[]"), int(port)


def parse_daemon_host(address: str, default_unix: str) -> Host:
    proto, sep, addr = address.partition("://")
    if not sep:
        proto, addr = "tcp", address
    if proto == "tcp":
        return Host("tcp", _tcp_addr(address))
    if proto == "unix":
        if "://" in addr:
            raise HostError(f"invalid bind address ({address}): invalid unix address: {addr}")
        return Host("unix", addr or default_unix.partition("://")[2])
    if proto == "fd":
        if addr not in ("", "*") and not addr.isdigit():
            raise HostError(f"failed to parse systemd fd address: should be a number: {addr}")
        return Host("fd", addr)
    raise HostError(f"invalid bind address ({address}): unsupported proto '{proto}'")


def _tcp_addr(address: str) -> str:
    """moby's ParseTCPAddr with tcp://localhost:2375 as the default."""
    rest = address.partition("://")[2] if "://" in address else address
    netloc, slash, _ = rest.partition("/")
    if slash:
        raise HostError(f"invalid bind address ({address}): should not contain a path element")
    if netloc.startswith("["):
        host, _, after = netloc[1:].partition("]")
        port = after[1:] if after.startswith(":") else ""
    elif ":" in netloc:
        host, _, port = netloc.rpartition(":")
    else:
        host, port = netloc, ""
    if port and (not port.isdigit() or int(port) == 0 or int(port) > 65535):
        raise HostError(f"invalid bind address ({address}): invalid port: {port}")
    host = host or DEFAULT_HTTP_HOST
    port = port or str(DEFAULT_HTTP_PORT)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalise_hosts(addresses: list[str], default_unix: str) -> list[str]:
    """Each address parsed and written in its normal form, duplicates dropped (dockerd's normalizeHosts)."""
    out = [parse_daemon_host(a.strip(), default_unix).url for a in addresses]
    return list(dict.fromkeys(out))
