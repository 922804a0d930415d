"""API layer: POST /build (the classic builder), /build/prune, /build/cancel, and BuildKit's
/session and /grpc answered with what to do instead (this daemon speaks no BuildKit)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from shim.api.responses import dumps, json_response
from shim.api.server import ENGINE
from shim.api.streams import client_gone, open_stream
from shim.engine.build.service import BuildService
from shim.errors import NotFound, NotImplementedYet
from shim.translate import build as tr


def _svc(request: web.Request) -> BuildService:
    svc: BuildService | None = request.app[ENGINE].more.get("build")
    if svc is None:
        raise NotImplementedYet("the builder is not available")
    return svc


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(256 * 1024):
        yield chunk


async def build(request: web.Request) -> web.StreamResponse:
    """POST /build: the context is the body; errors found before the first step are a 400."""
    q = request.query
    options = tr.options_in(
        q, lambda n: q.getall(n, []), request.headers.get("X-Registry-Config", ""), request["version"]
    )
    svc = _svc(request)
    prepared = await svc.prepare(options, _body(request))
    resp = await open_stream(request)
    messages = svc.messages(prepared)
    watch = asyncio.ensure_future(_until_gone(request))
    try:
        async for msg in messages:
            if watch.done():
                break
            await resp.write((dumps(tr.message_out(msg)) + "\r\n").encode())
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away: closing the iterator cancels the build
    finally:
        watch.cancel()
        await messages.aclose()
    with contextlib.suppress(ConnectionResetError, ConnectionError):
        await resp.write_eof()
    return resp


async def _until_gone(request: web.Request) -> None:
    """A RUN step can be silent for long: notice a client that disconnected without a write failing."""
    # aiohttp has no event for a peer that closed while we don't write: poll the transport.
    while not client_gone(request):  # noqa: ASYNC110
        await asyncio.sleep(0.5)


async def prune(request: web.Request) -> web.Response:
    """POST /build/prune (`docker builder prune -f`)."""
    deleted, reclaimed = await _svc(request).prune()
    return json_response(tr.prune_out(deleted, reclaimed))


async def cancel(request: web.Request) -> web.Response:
    """POST /build/cancel?id=<buildid>"""
    _svc(request).cancel(request.query.get("id", ""))
    return web.Response(status=200)


async def buildkit(request: web.Request) -> web.Response:
    """POST /session, POST /grpc: BuildKit's endpoints, not offered; the 404 names the fix."""
    raise NotFound(tr.BUILDKIT_UNSUPPORTED)


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
    ("POST", "/build/cancel", cancel),
    ("POST", "/session", buildkit),
    ("POST", "/grpc", buildkit),
    ("GET", "/grpc", buildkit),
]
