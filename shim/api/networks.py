"""API layer: the network endpoints (list, inspect, create, remove, connect, disconnect, prune)."""

from __future__ import annotations

import time

from aiohttp import web

from shim.api import services
from shim.api.params import qfilters
from shim.api.responses import empty_ok, json_response, no_content
from shim.api.validate import json_body
from shim.translate import networks as tr


async def list_networks(request: web.Request) -> web.Response:
    """GET /networks"""
    svc = services.networks(request)
    await svc.restore()
    keep = tr.list_filter(qfilters(request), lambda n: bool(svc.endpoints_on(n)))
    v = request["version"]
    return json_response([tr.network_versioned(tr.network_out(n), n, v) for n in svc.networks() if keep(n)])


async def inspect_network(request: web.Request) -> web.Response:
    """GET /networks/{id}"""
    svc = services.networks(request)
    await svc.restore()
    net = svc.get(request.match_info["id"])
    on = svc.endpoints_on(net)
    out = tr.network_out(net, tr.network_containers(on))
    return json_response(tr.network_versioned(out, net, request["version"], endpoints=len(on)))


async def create_network(request: web.Request) -> web.Response:
    """POST /networks/create -> 201 {"Id", "Warning"}"""
    body = await json_body(request, "network_create")
    net, warning = await services.networks(request).create(**tr.create_in(body))
    return json_response({"Id": net.id, "Warning": warning}, status=201)


async def remove_network(request: web.Request) -> web.Response:
    """DELETE /networks/{id} -> 204"""
    await services.networks(request).remove(request.match_info["id"])
    return no_content()


async def connect_network(request: web.Request) -> web.Response:
    """POST /networks/{id}/connect -> 200, empty"""
    body = await json_body(request, "network_connect")
    c = services.containers(request).get(body["Container"])
    epc = tr.connect_endpoint_in(body.get("EndpointConfig"), request["version"])
    await services.networks(request).connect(request.match_info["id"], c, epc, running=bool(c.state.running))
    return empty_ok()


async def disconnect_network(request: web.Request) -> web.Response:
    """POST /networks/{id}/disconnect -> 200, empty"""
    body = await json_body(request, "network_disconnect")
    c = services.containers(request).get(body["Container"])
    await services.networks(request).disconnect(request.match_info["id"], c, force=bool(body.get("Force")))
    return empty_ok()


async def prune_networks(request: web.Request) -> web.Response:
    """POST /networks/prune -> {"NetworksDeleted": [names]}"""
    keep = tr.prune_filter(qfilters(request), time.time_ns())
    deleted = await services.networks(request).prune(keep)
    return json_response({"NetworksDeleted": deleted or None})  # Go: a nil slice is null


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create_network),
    ("POST", "/networks/prune", prune_networks),
    ("GET", "/networks/{id}", inspect_network),
    ("DELETE", "/networks/{id}", remove_network),
    ("POST", "/networks/{id}/connect", connect_network),
    ("POST", "/networks/{id}/disconnect", disconnect_network),
]
