"""API layer: the registry endpoints: pull (POST /images/create?fromImage=), push, login
(POST /auth), search (GET /images/search) and remote inspect (GET /distribution/{name}/json)."""

from __future__ import annotations

from aiohttp import web

from shim.api import services
from shim.api.params import qfilters, qint
from shim.api.responses import json_response
from shim.api.streams import progress_stream
from shim.api.validate import read_bounded
from shim.translate import distribution as tr


def _auth_header(request: web.Request) -> str:
    return request.headers.get("X-Registry-Auth", "")


async def pull(request: web.Request) -> web.StreamResponse:
    """POST /images/create?fromImage=&tag=&platform= (the pull half of the endpoint)"""
    q = request.query
    facts = services.distribution(request).pull(
        q["fromImage"],
        q.get("tag", ""),
        tr.pull_platform(q.get("platform", ""), request["version"]),
        tr.auth_from_header(_auth_header(request)),
    )
    return await progress_stream(request, facts, tr.progress_json, tr.error_json)


async def push(request: web.Request) -> web.StreamResponse:
    """POST /images/{name}/push?tag="""
    facts = services.distribution(request).push(
        request.match_info["name"], request.query.get("tag", ""), tr.auth_from_header(_auth_header(request))
    )
    return await progress_stream(request, facts, tr.progress_json, tr.error_json)


async def login(request: web.Request) -> web.Response:
    """POST /auth"""
    status, token = await services.distribution(request).login(tr.auth_from_body(await read_bounded(request)))
    return json_response(tr.login_json(status, token))


async def search(request: web.Request) -> web.Response:
    """GET /images/search?term=&limit=&filters="""
    limit = qint(request, "limit")
    results = await services.distribution(request).search(
        request.query.get("term", ""), limit, qfilters(request), tr.auth_from_header(_auth_header(request))
    )
    return json_response(tr.search_json(results))


async def inspect(request: web.Request) -> web.Response:
    """GET /distribution/{name}/json"""
    remote = await services.distribution(request).inspect_remote(
        request.match_info["name"], tr.auth_from_header(_auth_header(request))
    )
    return json_response(tr.remote_image_json(remote))


ROUTES = [
    ("POST", "/auth", login),
    ("GET", "/images/search", search),
    ("POST", "/images/{name:.+}/push", push),
    ("GET", "/distribution/{name:.+}/json", inspect),
]
