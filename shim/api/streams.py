"""API layer: streamed response bodies (JSON lines, progress messages, stdcopy frames, hijack)."""

from __future__ import annotations

from typing import Any, AsyncIterator

from aiohttp import web

from shim.api.responses import dumps


async def open_stream(request: web.Request, content_type: str | None = "application/json",
                      status: int = 200) -> web.StreamResponse:
    """Send the headers now (chunked body to follow), as dockerd does for wait/events/logs."""
    resp = web.StreamResponse(status=status)
    if content_type:
        resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def json_lines(request: web.Request, items: AsyncIterator[Any], *, progress: bool = False) -> web.StreamResponse:
    """One JSON object per chunk; progress streams (load, import, pull, build) end with \\r\\n."""
    resp = await open_stream(request)
    end = "\r\n" if progress else "\n"
    try:
        async for item in items:
            await resp.write((dumps(item) + end).encode())
    except (ConnectionResetError, ConnectionError):
        return resp
    await resp.write_eof()
    return resp
