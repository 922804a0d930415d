"""API layer: builds the aiohttp application (middlewares, routes, the engine key)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from shim.api import routes
from shim.api.instrument import HttpObserver, http_metrics
from shim.api.middleware import add_common_headers, api_middleware
from shim.api.services import ENGINE
from shim.engine.daemon import Engine

__all__ = ["ENGINE", "make_app"]


def make_app(engine: Engine, *, http_observer: HttpObserver | None = None) -> web.Application:
    # The metrics middleware goes first (outermost): it sees the status the error renderer chose.
    middlewares: list[Middleware] = [api_middleware]
    if http_observer is not None:
        middlewares.insert(0, http_metrics(http_observer))
    # client_max_size: image loads and archive uploads are streamed, but JSON bodies
    # (create with many labels or env) may be large.
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
    app[ENGINE] = engine
    app.on_response_prepare.append(add_common_headers)
    routes.register(app)
    return app
