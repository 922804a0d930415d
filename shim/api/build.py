"""API layer: POST /build (the classic builder), /build/prune, /build/cancel, and BuildKit's
/session and /grpc answered with what to do instead (this daemon speaks no BuildKit)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from shim.api import services
from shim.api.responses import dumps, json_response
from shim.api.streams import batches_until_client_gone, open_stream
from shim.errors import NotFound
from shim.translate import build as tr


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(256 * 1024):
        yield chunk


async def build(request: web.Request) -> web.StreamResponse:
    """POST /build: the context is the body; errors found before the first step are a 400."""
    q = request.query
    options = tr.options_in(
        q, lambda n: q.getall(n, []), request.headers.get("X-Registry-Config", ""), request["version"]
    )
    svc = services.build(request)
    prepared = await svc.prepare(options, _body(request))
    try:
        resp = await open_stream(request)
    except BaseException:
        await svc.discard(prepared)
        raise
    # A RUN step can be silent for long: the batches end when the client goes away even then, and
    # closing them closes the build's messages, which cancels the build and cleans up (dockerd's
    # request context is cancelled when its client disconnects).
    batches = batches_until_client_gone(request, svc.messages(prepared), poll=0.5)
    try:
        async for batch in batches:
            await resp.write(b"".join((dumps(tr.message_out(m)) + "\r\n").encode() for m in batch))
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away mid-write
    finally:
        await batches.aclose()
    with contextlib.suppress(ConnectionResetError, ConnectionError):
        await resp.write_eof()
    return resp


async def prune(request: web.Request) -> web.Response:
    """POST /build/prune (`docker builder prune -f`)."""
    deleted, reclaimed = await services.build(request).prune()
    return json_response(tr.prune_out(deleted, reclaimed))


async def cancel(request: web.Request) -> web.Response:
    """POST /build/cancel?id=<buildid>: stops the classic build started with that `buildid` (dockerd
    cancels only BuildKit builds there; an unknown ID is a 200 as with dockerd)."""
    services.build(request).cancel(request.query.get("id", ""))
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
