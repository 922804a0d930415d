"""API layer: the endpoints of dockerd features shimd has no part of, answered as a dockerd without them.

- Swarm (swarm, nodes, services, tasks, secrets, configs): dockerd that is not a swarm node answers
  every cluster route with 503 `This node is not part of a swarm` (daemon/cluster/errors.go
  errNoSwarm); SDKs call `POST /swarm/leave?force=true` in teardown and accept only that answer.
  Secrets need API 1.25 and configs 1.30 (router.WithMinimumAPIVersion), as dockerd's routes.
- Plugins: a daemon with no plugin installed. The list is empty (api/system.py), a named plugin is
  404 `plugin "x" not found`; installing one (pull, create, upgrade, privileges) needs a registry
  or the managed-plugin runtime, which shimd does not have: 501 saying so.
`/session` and `/grpc` (BuildKit) are the builder's (issue 13).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from shim.errors import NotFound, NotImplementedYet, Unavailable
from shim.translate.versions import require

NO_SWARM = "This node is not part of a swarm"
NO_PLUGINS = "shimd has no managed-plugin runtime: plugins cannot be installed"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _no_swarm(minimum: str | None = None, route: str = "") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        """Any swarm-mode endpoint: 503, as a dockerd that is not a swarm node."""
        if minimum is not None:
            require(request["version"], minimum, request.method, route)
        raise Unavailable(NO_SWARM)

    return handler


async def plugin_not_found(request: web.Request) -> web.StreamResponse:
    """DELETE/POST on /plugins/{name}: no plugin is installed, so none is found."""
    raise NotFound(f'plugin "{request.match_info["name"]}" not found')


async def plugin_install(request: web.Request) -> web.StreamResponse:
    """POST /plugins/pull|create, /plugins/{name}/upgrade, GET /plugins/privileges."""
    raise NotImplementedYet(NO_PLUGINS)


_SWARM: list[tuple[str, str, str | None]] = [
    ("POST", "/swarm/init", None),
    ("POST", "/swarm/join", None),
    ("POST", "/swarm/leave", None),
    ("GET", "/swarm", None),
    ("GET", "/swarm/unlockkey", None),
    ("POST", "/swarm/update", None),
    ("POST", "/swarm/unlock", None),
    ("GET", "/services", None),
    ("POST", "/services/create", None),
    ("GET", "/services/{id}", None),
    ("POST", "/services/{id}/update", None),
    ("DELETE", "/services/{id}", None),
    ("GET", "/services/{id}/logs", None),
    ("GET", "/nodes", None),
    ("GET", "/nodes/{id}", None),
    ("DELETE", "/nodes/{id}", None),
    ("POST", "/nodes/{id}/update", None),
    ("GET", "/tasks", None),
    ("GET", "/tasks/{id}", None),
    ("GET", "/tasks/{id}/logs", None),
    ("GET", "/secrets", "1.25"),
    ("POST", "/secrets/create", "1.25"),
    ("GET", "/secrets/{id}", "1.25"),
    ("DELETE", "/secrets/{id}", "1.25"),
    ("POST", "/secrets/{id}/update", "1.25"),
    ("GET", "/configs", "1.30"),
    ("POST", "/configs/create", "1.30"),
    ("GET", "/configs/{id}", "1.30"),
    ("DELETE", "/configs/{id}", "1.30"),
    ("POST", "/configs/{id}/update", "1.30"),
]

ROUTES: list[tuple[str, str, Handler]] = [
    *((method, path, _no_swarm(minimum, path)) for method, path, minimum in _SWARM),
    ("GET", "/plugins/privileges", plugin_install),
    ("POST", "/plugins/pull", plugin_install),
    ("POST", "/plugins/create", plugin_install),
    ("POST", "/plugins/{name:.+}/upgrade", plugin_install),
    ("POST", "/plugins/{name:.+}/enable", plugin_not_found),
    ("POST", "/plugins/{name:.+}/disable", plugin_not_found),
    ("POST", "/plugins/{name:.+}/push", plugin_not_found),
    ("POST", "/plugins/{name:.+}/set", plugin_not_found),
    ("DELETE", "/plugins/{name:.+}", plugin_not_found),
]
