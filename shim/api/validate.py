"""API layer: JSON request bodies, read within bounds and checked against our own JSON Schemas.

Bounded parsing comes first (issue 16): a JSON body is at most `JSON_BODY_MAX` bytes (image
loads, build contexts and archive uploads stream and are not read here), then shim/jsonin.py
parses it (nesting depth, finite numbers).

Schemas live in shim/api/schemas/<name>.json (draft 2020-12, derived from the API docs and kept
permissive: unknown fields are tolerated as dockerd tolerates them). Beyond JSON Schema, two
rules of Go's decoder: an "integer" is a JSON number without a fraction or exponent (1.5 and
1e3 are not integers to json.Unmarshal), and `"goType"` names the Go integer type of a field
(int64, uint16, …), whose range a value must fit (2^70 is a 400, not a container created with
it). A malformed body or a wrong type is a 400 naming the field; dockerd 20.10 answers 500 for
malformed JSON, we do better.

Each body is first put to the schema's compiled yes/no check (api/schemafast.py, ~15× faster):
the bodies it accepts are the ones jsonschema accepts; every other body goes to jsonschema, which
judges it and words the 400.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from shim import jsonin
from shim.api import schemafast
from shim.errors import InvalidParameter, TooLarge
from shim.jsonin import shorten

if TYPE_CHECKING:
    import jsonschema

JSON_BODY_MAX = 8 * 1024 * 1024  # bytes; dockerd has no limit, its largest real bodies are ~100 KiB

# Go's integer types: the range json.Unmarshal accepts for each
GO_INTS: dict[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint": (0, 2**64 - 1),
    "uint64": (0, 2**64 - 1),
    "uint32": (0, 2**32 - 1),
    "uint16": (0, 2**16 - 1),
    "uint8": (0, 2**8 - 1),
}


def _is_int(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _go_type(_validator: Any, go_type: str, value: Any, _schema: Any) -> Iterator[jsonschema.ValidationError]:
    if not _is_int(None, value):
        return  # "type" reports a non-integer
    lo, hi = GO_INTS[go_type]
    if not lo <= value <= hi:
        import jsonschema  # loaded with the first schema: see _validator

        yield jsonschema.ValidationError(f"json: cannot unmarshal number {value} into a Go value of type {go_type}")


_compiled: set[str] = set()  # schemas whose fast check is cached
_validated: set[str] = set()  # schemas whose jsonschema validator is cached
# functools.cache does not hold back a second caller while the first computes: without this, the
# first burst of parallel creates compiled the same schema once per request, each in its own thread
_compile_lock = threading.Lock()


def _compile_once(compile_: Callable[[str], object], name: str) -> None:
    """Run a cached compile in a worker thread; threads that arrive meanwhile wait, then hit the cache."""
    with _compile_lock:
        compile_(name)


@functools.cache
def _schema(name: str) -> Any:
    # a plain path: importlib.resources' reader would bring importlib.readers and zipfile into the
    # daemon for good (issue 17, third pass; runtime/seccomp.py reads its profile the same way)
    with open(os.path.join(os.path.dirname(__file__), "schemas", f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


@functools.cache
def _fast(name: str) -> schemafast.Check | None:
    """The schema's compiled yes/no check (api/schemafast.py), None if it can't give one."""
    return schemafast.compile_schema(_schema(name), GO_INTS)


@functools.cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    # jsonschema (with referencing, attrs, rpds: 3 MiB) is imported with the first body the fast
    # check does not accept (a wrong one, mostly), not by the idle daemon nor by valid bodies
    # (issue 17); each schema is compiled once, on first use.
    import jsonschema

    schema = _schema(name)
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    base.check_schema(schema)
    # types-jsonschema leaves `extend` unannotated (it returns a Validator class, as `create` does)
    cls: type[jsonschema.protocols.Validator] = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        base,
        validators={"goType": _go_type},
        type_checker=base.TYPE_CHECKER.redefine("integer", _is_int),
    )
    return cls(schema, format_checker=base.FORMAT_CHECKER)


def _field(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "body"


def validate(obj: Any, name: str) -> None:
    """Raise InvalidParameter naming the first offending field (deepest path first). The fast check
    answers for the bodies it accepts; jsonschema judges every other one and words the 400."""
    fast = _fast(name)
    if fast is None or not fast(obj):
        _judge(obj, name)


def _judge(obj: Any, name: str) -> None:
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: (-len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        raise InvalidParameter(f"invalid parameter {_field(err.absolute_path)}: {shorten(err.message)}")


async def check(obj: Any, name: str) -> None:
    """validate() from a handler: the first use of a schema reads its file and compiles its fast
    check, and the first body that check does not accept compiles jsonschema's validator, off the loop."""
    if name not in _compiled:
        await asyncio.to_thread(_compile_once, _fast, name)
        _compiled.add(name)
    fast = _fast(name)
    if fast is not None and fast(obj):
        return
    if name not in _validated:
        await asyncio.to_thread(_compile_once, _validator, name)
        _validated.add(name)
    _judge(obj, name)


def check_json_content_type(request: web.Request) -> None:
    ctype = request.headers.get("Content-Type", "")
    base = ctype.split(";")[0].strip()
    if base not in ("", "application/json"):
        raise InvalidParameter(f"Content-Type specified ({shorten(ctype, 100)}) must be 'application/json'")


async def read_bounded(request: web.Request, limit: int = JSON_BODY_MAX) -> bytes:
    """The whole body of a request whose body is a document (not a stream), at most `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body too large: {request.content_length} bytes, at most {limit} for this endpoint")
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            raise TooLarge(f"request body too large: more than {limit} bytes for this endpoint")
    return bytes(data)


async def json_body(request: web.Request, schema: str | None = None, *, allow_empty: bool = False) -> Any:
    """The request's JSON body, decoded within bounds and validated; `allow_empty` gives None for no body."""
    check_json_content_type(request)
    raw = await read_bounded(request)
    if not raw.strip():
        if allow_empty:
            return None
        raise InvalidParameter("invalid JSON: request body is empty")
    obj = jsonin.loads(raw)
    if schema is not None:
        await check(obj, schema)
    return obj
