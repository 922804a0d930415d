"""Engine layer (pure): port specs as dockerd's nat/network packages read them.

`80`, `80/tcp`, `8000-8010/udp` for ExposedPorts and PortBindings keys; HostPort `""`, `8080`,
`8000-8010`; HostIp empty or an IP address. Digits only (Go's strconv.ParseUint: no sign, no
spaces, no `_`, no non-ASCII digits, which Python's int() would take).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from shim.errors import InvalidParameter

PROTOCOLS = ("tcp", "udp", "sctp")
_DIGITS = re.compile(r"[0-9]{1,5}")


def _number(text: str) -> int:
    if _DIGITS.fullmatch(text) is None:
        raise ValueError(text)
    n = int(text)
    if n > 65535:
        raise ValueError(text)
    return n


def _range(text: str, *, zero: bool) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    first = _number(lo)
    last = _number(hi) if sep else first
    if last < first or (not zero and first == 0):
        raise ValueError(text)
    return first, last


def parse_port_key(key: str) -> tuple[int, int, str]:
    """ "80/tcp", "8000-8010/udp" → (first, last, proto); dockerd's wording when malformed."""
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    try:
        first, last = _range(port, zero=False)
    except ValueError:
        raise InvalidParameter(f'invalid port specification: "{_short(port)}"') from None
    if proto not in PROTOCOLS:
        raise InvalidParameter(f'invalid proto: "{_short(proto)}"')
    return first, last, proto


def parse_host_port(raw: str) -> tuple[int, int]:
    """HostPort "" → (0, 0) (any free port), "8080", "8000-8010"."""
    if not raw:
        return 0, 0
    try:
        return _range(raw, zero=True)
    except ValueError:
        raise InvalidParameter(f'invalid port specification: "{_short(raw)}"') from None


def check_exposed(exposed: dict[str, Any] | None) -> None:
    """Config.ExposedPorts: every key a port spec (70000/tcp means nothing to the kernel)."""
    for key in exposed or {}:
        try:
            parse_port_key(key)
        except InvalidParameter as e:
            raise InvalidParameter(f"invalid ExposedPorts: {e.message}") from None


def check_bindings(bindings: dict[str, Any] | None) -> None:
    """HostConfig.PortBindings (validatePortBindings): keys, host ports, host IPs (the shapes are
    the request schema's: a list of objects per key)."""
    for key, items in (bindings or {}).items():
        parse_port_key(key)
        for b in [b if isinstance(b, dict) else {} for b in items or []]:  # null: the zero PortBinding
            parse_host_port(str(b.get("HostPort") or ""))
            ip = str(b.get("HostIp") or "")
            if ip:
                try:
                    ipaddress.ip_address(ip.strip("[]"))
                except ValueError:
                    raise InvalidParameter(f'invalid host IP address in PortBindings: "{_short(ip)}"') from None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
