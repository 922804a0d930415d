"""API layer: the whole route table, each area's ROUTES registered with and without `/vX.Y`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("shim.api")

# Each module exposes ROUTES = [(method, path, handler)]; areas not built yet are skipped.
AREAS = [
    "system",
    "distribution",
    "images",
    "containers",
    "attach_ws",
    "exec",
    "networks",
    "volumes",
    "archive",
    "build",
    "unserved",
    "openapi",
]

VERSION_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def collect() -> list[tuple[str, str, Handler]]:
    table: list[tuple[str, str, Handler]] = []
    for area in AREAS:
        try:
            mod = importlib.import_module(f"shim.api.{area}")
        except ModuleNotFoundError as e:
            if e.name != f"shim.api.{area}":
                raise
            continue
        table.extend(mod.ROUTES)
    return table


def register(app: web.Application) -> None:
    table = collect()
    own_head = {path for method, path, _ in table if method == "HEAD"}
    for method, path, handler in table:
        for full in (path, VERSION_PREFIX + path):
            app.router.add_route(method, full, handler)
            # A GET also answers HEAD (aiohttp drops the body) unless the area has its own HEAD.
            if method == "GET" and path not in own_head:
                app.router.add_route("HEAD", full, handler)
