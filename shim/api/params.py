"""API layer: query-parameter parsing with the leniency real clients need.

Booleans arrive in three spellings (the CLI sends 1/0, docker-py True/False,
dockerode true/false) and filters in two JSON shapes (map-of-bools from the CLI and
compose v2, lists from docker-py, aiodocker and dockerode).
"""

from __future__ import annotations

import json

from aiohttp import web

from shim.errors import InvalidParameter

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"0", "false", "False", "FALSE", "no", ""}


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidParameter(f"invalid boolean value: {value!r}")


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    try:
        return parse_bool(request.query.get(name), default)
    except InvalidParameter:
        raise InvalidParameter(f"invalid value for {name}: {request.query.get(name)!r}") from None


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {raw!r}: must be an integer") from None


def qstr(request: web.Request, name: str, default: str | None = None) -> str | None:
    return request.query.get(name, default)


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """Both shapes to {key: [values]}: {"label":{"a=b":true}} and {"label":["a=b"]}."""
    if raw is None or raw == "":
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InvalidParameter(f"invalid filter: {e}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: filters must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, val in data.items():
        if isinstance(val, dict):
            out[key] = [k for k, on in val.items() if on]
        elif isinstance(val, list):
            out[key] = [str(v) for v in val]
        elif isinstance(val, str):
            out[key] = [val]
        else:
            raise InvalidParameter(f"invalid filter: value of {key!r} must be an object or a list")
    return out


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """The `filters` parameter; which keys are valid is each area's translate layer's business."""
    return parse_filters(request.query.get("filters"))
