"""API layer: builds the aiohttp application (middlewares, routes, the engine key)."""

from __future__ import annotations

from aiohttp import web

from shim.api import routes
from shim.api.middleware import add_common_headers, api_middleware

ENGINE: web.AppKey = web.AppKey("engine", object)


def make_app(engine) -> web.Application:
    # client_max_size: image loads and archive uploads are streamed, but JSON bodies
    # (create with many labels or env) may be large.
    app = web.Application(middlewares=[api_middleware], client_max_size=64 * 1024 * 1024)
    app[ENGINE] = engine
    app.on_response_prepare.append(add_common_headers)
    routes.register(app)
    return app
