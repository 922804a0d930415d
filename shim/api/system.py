"""API layer: /_ping, /version, /info, /events."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from shim.api import services
from shim.api.middleware import COMMON_HEADERS
from shim.api.params import qfilters
from shim.api.responses import json_response
from shim.api.streams import json_lines
from shim.engine.events import matches
from shim.errors import InvalidParameter, NotFound
from shim.filters import EVENT_KEYS
from shim.times import parse_unix_timestamp
from shim.translate import events as tre
from shim.translate import system as tr
from shim.translate.versions import advertised_max

PYTHON = f"python{platform.python_version()}"

PING_HEADERS = {
    "Api-Version": COMMON_HEADERS["Api-Version"],
    "Builder-Version": "1",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    # CHANGELOG v1.42 (unversioned): the swarm state, so clients need not ask /info; shimd has no swarm
    "Swarm": "inactive",
}


async def ping(request: web.Request) -> web.Response:
    """GET/HEAD /_ping. A HEAD answer must carry no body: the CLI's connection breaks otherwise."""
    headers = dict(PING_HEADERS, **{"Api-Version": str(advertised_max(request.headers.get("User-Agent")))})
    resp = web.Response(text="OK" if request.method == "GET" else None, headers=headers)
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    if request.method == "HEAD":
        resp.headers["Content-Length"] = "0"
    return resp


async def version(request: web.Request) -> web.Response:
    """GET /version"""
    engine = services.engine(request)
    api_max = advertised_max(request.headers.get("User-Agent"))
    return json_response(tr.version_body(engine.host, PYTHON, request["version"], api_max))


async def info(request: web.Request) -> web.Response:
    """GET /info"""
    engine = services.engine(request)
    counts = engine.container_counts()
    images = engine.images.count() if engine.images is not None else 0
    return json_response(
        tr.info_body(
            engine_id=engine.id,
            host=engine.host,
            settings=engine.settings,
            counts=counts,
            images=images,
            listeners=engine.events.listeners,
            python_version=PYTHON,
            v=request["version"],
        )
    )


async def events(request: web.Request) -> web.StreamResponse:
    """GET /events: JSON lines; a bounded query (until) ends once `until` has passed."""
    engine = services.engine(request)
    filters = qfilters(request)
    # dockerd ignores a key its event filter doesn't know (every event then matches, or none in
    # shimd before): a typo is a 400 `Invalid filter 'x'` as on every other endpoint (issue 16)
    filters.validate(EVENT_KEYS)
    since = parse_unix_timestamp(request.query.get("since", ""), "since")
    until = parse_unix_timestamp(request.query.get("until", ""), "until")
    if since is not None and until is not None and until < since:
        raise InvalidParameter("since time must be before until time")

    v = request["version"]
    ctype = tre.content_type(request.headers.get("Accept"), v)

    async def selected() -> AsyncIterator[dict[str, Any]]:
        async for ev in engine.events.stream(since, until):
            out = tre.event_out(ev, v) if matches(ev, filters) else None
            if out is not None:
                yield out

    return await json_lines(request, selected(), content_type=ctype, record_prefix=tre.record_prefix(ctype))


async def plugins(request: web.Request) -> web.Response:
    """GET /plugins: shim has no plugin system; the list is empty, as on a plain dockerd."""
    return json_response([])


async def plugin_inspect(request: web.Request) -> web.Response:
    """GET /plugins/{name}/json: `docker inspect <unknown>` probes here last."""
    raise NotFound(f'plugin "{request.match_info["name"]}" not found')


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("GET", "/plugins", plugins),
    ("GET", "/plugins/{name:.+}/json", plugin_inspect),
]
