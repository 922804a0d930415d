"""API layer: every request told to an observer (method, route, status, duration) for the metrics.

Added by make_app only when the daemon serves metrics; the observer (shim/metrics.py) is a
Protocol here so the API layer never imports prometheus_client. The route is the table's
path (`/containers/{id}/json`), not the request's, so the label set stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from shim.api.routes import VERSION_PREFIX

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PREFIX = VERSION_PREFIX.split(":", 1)[0] + "}"  # "/v{version}", as aiohttp's canonical form shows it


class HttpObserver(Protocol):
    def request_done(self, method: str, route: str, status: int, seconds: float) -> None: ...


def route_of(request: web.Request) -> str:
    """The matched route without the /vX.Y prefix; "other" for paths no route matches."""
    resource = request.match_info.route.resource
    if resource is None:
        return "other"
    path = resource.canonical
    return path[len(_PREFIX) :] if path.startswith(_PREFIX) else path


def http_metrics(observer: HttpObserver) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as e:
            status = e.status
            raise
        finally:
            observer.request_done(request.method, route_of(request), status, time.monotonic() - start)

    return middleware
