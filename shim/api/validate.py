"""API layer: JSON request bodies, checked against our own JSON Schemas.

Schemas live in shim/api/schemas/<name>.json (draft 2020-12, derived from the API
docs and kept permissive: unknown fields are tolerated as dockerd tolerates them).
A malformed body or a wrong type is a 400 naming the field; dockerd 20.10 answers
500 for malformed JSON, we do better.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema
from aiohttp import web

from shim.errors import InvalidParameter


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    text = resources.files("shim.api").joinpath("schemas", f"{name}.json").read_text()
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _field(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "body"


def validate(obj: Any, name: str) -> None:
    """Raise InvalidParameter naming the first offending field (deepest path first)."""
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: (-len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        raise InvalidParameter(f"invalid parameter {_field(err.absolute_path)}: {err.message}")


def check_json_content_type(request: web.Request) -> None:
    ctype = request.headers.get("Content-Type", "")
    base = ctype.split(";")[0].strip()
    if base not in ("", "application/json"):
        raise InvalidParameter(f"Content-Type specified ({ctype}) must be 'application/json'")


async def json_body(request: web.Request, schema: str | None = None, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, decoded and validated; `allow_empty` gives None for no body."""
    check_json_content_type(request)
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return None
        raise InvalidParameter("invalid JSON: request body is empty")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidParameter(f"invalid JSON: {e}") from None
    if schema is not None:
        validate(obj, schema)
    return obj
