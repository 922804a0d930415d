"""API layer: response helpers shaped like dockerd's (Go's json.Encoder ends bodies with a newline)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=(dumps(obj) + "\n").encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def json_bytes(body: bytes, status: int = 200) -> web.Response:
    """A JSON body already encoded (and ended with its newline)."""
    return web.Response(body=body, status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


def empty_ok(status: int = 200) -> web.Response:
    """200/201 with Content-Length: 0, as dockerd answers tag, connect and resize."""
    return web.Response(status=status)
