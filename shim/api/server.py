"""API layer: builds the aiohttp application (middlewares, routes, the engine key)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from shim.api import routes
from shim.api.instrument import HttpObserver, http_metrics
from shim.api.middleware import add_common_headers, api_middleware
from shim.api.rendercache import RENDER_CACHE, RenderCache
from shim.api.services import ENGINE
from shim.api.validate import JSON_BODY_MAX
from shim.engine.daemon import Engine

__all__ = ["ENGINE", "make_app"]

# The HTTP server's limits (aiohttp's RequestHandler; given to every AppRunner): a request line and a
# header line of 64 KiB each (a build's query carries its build args, X-Registry-Config every
# registry's credentials; aiohttp's default of 8 KiB is too small for them), at most 128 header
# lines, and an idle keep-alive connection closed after 75 s (aiohttp's default is an hour).
PROTOCOL_LIMITS: dict[str, Any] = {
    "max_line_size": 64 * 1024,
    "max_field_size": 64 * 1024,
    "max_headers": 128,
    "keepalive_timeout": 75.0,
}


def make_app(engine: Engine, *, http_observer: HttpObserver | None = None) -> web.Application:
    # The metrics middleware goes first (outermost): it sees the status the error renderer chose.
    middlewares: list[Middleware] = [api_middleware]
    if http_observer is not None:
        middlewares.insert(0, http_metrics(http_observer))
    # client_max_size bounds request.read(): image loads, build contexts and archive uploads stream
    # through request.content and are not limited by it; a JSON body is small (api/validate.py).
    app = web.Application(middlewares=middlewares, client_max_size=JSON_BODY_MAX)
    app[ENGINE] = engine
    app[RENDER_CACHE] = RenderCache()
    app.on_response_prepare.append(add_common_headers)
    routes.register(app)
    return app
