"""API layer: query-parameter parsing with the leniency real clients need.

Booleans arrive in three spellings (the CLI sends 1/0, docker-py True/False,
dockerode true/false) and filters in two JSON shapes (map-of-bools from the CLI and
compose v2, lists from docker-py, aiodocker and dockerode).
"""

from __future__ import annotations

import re

from aiohttp import web

from shim.errors import InvalidParameter
from shim.filters import Filters
from shim.jsonin import shorten

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"0", "false", "False", "FALSE", "no", ""}


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(f"invalid boolean value: {shorten(value, 80)!r}")


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    try:
        return parse_bool(request.query.get(name), default)
    except InvalidParameter:
        raise InvalidParameter(f"invalid value for {name}: {shorten(request.query.get(name) or '', 80)!r}") from None


_INT = re.compile(r"[+-]?[0-9]+")
INT64 = (-(2**63), 2**63 - 1)


def parse_int(name: str, raw: str) -> int:
    """Go's strconv.Atoi on a 64-bit host: ASCII digits with an optional sign, within int64 (Python's
    int() would also take spaces, `_` and other scripts' digits, and any size)."""
    if _INT.fullmatch(raw) is None:
        raise InvalidParameter(f"invalid value for {name}: {shorten(raw, 80)!r}: must be an integer")
    value = int(raw)
    if not INT64[0] <= value <= INT64[1]:
        raise InvalidParameter(f"invalid value for {name}: {shorten(raw, 80)!r}: value out of range")
    return value


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(name, raw)


def qstr(request: web.Request, name: str, default: str | None = None) -> str | None:
    return request.query.get(name, default)


def parse_filters(raw: str | None) -> Filters:
    """Both shapes to one Filters: {"label":{"a=b":true}} and {"label":["a=b"]} (shim/filters.py)."""
    return Filters.parse(raw)


def qfilters(request: web.Request) -> Filters:
    """The `filters` parameter; which keys are valid is each endpoint's business (shim/filters.py)."""
    return Filters.parse(request.query.get("filters"))


def qresize(request: web.Request, name: str, what: str) -> int:
    """resize `h`/`w`: dockerd's httputils.Uint32Value and its wording; a terminal's rows and columns
    are 16-bit (struct winsize), so a larger value is refused too, not truncated."""
    raw = request.query.get(name) or ""
    if raw == "":
        return 0
    if re.fullmatch(r"[0-9]+", raw) is None:
        reason = f'strconv.ParseUint: parsing "{shorten(raw, 80)}": invalid syntax'
    elif int(raw) > 65535:
        reason = f'strconv.ParseUint: parsing "{shorten(raw, 80)}": value out of range'
    else:
        return int(raw)
    raise InvalidParameter(f'invalid resize {what} "{shorten(raw, 80)}": {reason}')
