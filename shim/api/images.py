"""API layer: the image endpoints (list, inspect, history, tag, delete, prune, load, save, import, pull)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from shim.api.params import qbool, qfilters
from shim.api.responses import empty_ok, json_response
from shim.api.server import ENGINE
from shim.api.streams import json_lines
from shim.engine.images import ImageService
from shim.errors import InvalidParameter, NotImplementedYet
from shim.translate import images as tr


def _svc(request: web.Request) -> ImageService:
    svc: ImageService | None = request.app[ENGINE].images
    if svc is None:
        raise NotImplementedYet("images are not available")
    return svc


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(64 * 1024):
        yield chunk


async def _items(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def list_images(request: web.Request) -> web.Response:
    """GET /images/json"""
    filters = qfilters(request)
    if "filter" in request.query:  # pre-1.25 clients: a reference glob in `filter`
        filters.add("reference", request.query["filter"])
    found = _svc(request).list(all_=qbool(request, "all"), filters=filters)
    v = request["version"]
    return json_response([tr.list_item(img, tags, v) for img, tags in found])


async def inspect_image(request: web.Request) -> web.Response:
    """GET /images/{name}/json"""
    facts = _svc(request).inspect(request.match_info["name"])
    return json_response(tr.inspect(facts.image, facts.layer_dirs, request["version"]))


async def image_history(request: web.Request) -> web.Response:
    """GET /images/{name}/history"""
    entries = _svc(request).history(request.match_info["name"])
    return json_response([tr.history_item(e) for e in entries])


async def tag_image(request: web.Request) -> web.Response:
    """POST /images/{name}/tag?repo=&tag= -> 201, empty body"""
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    await _svc(request).tag(request.match_info["name"], repo, request.query.get("tag", ""))
    return empty_ok(201)


async def delete_image(request: web.Request) -> web.Response:
    """DELETE /images/{name}?force=&noprune="""
    records = await _svc(request).remove(
        request.match_info["name"], force=qbool(request, "force"), prune=not qbool(request, "noprune")
    )
    return json_response(records)


async def prune_images(request: web.Request) -> web.Response:
    """POST /images/prune"""
    records, reclaimed = await _svc(request).prune(qfilters(request))
    return json_response(tr.prune_result(records, reclaimed))


async def load_images(request: web.Request) -> web.StreamResponse:
    """POST /images/load: the whole archive is checked before the 200, so a bad one is a plain 400."""
    lines = await _svc(request).load(_body(request))
    return await json_lines(request, _items([{"stream": line} for line in lines]), progress=True)


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    chunks = await _svc(request).save(names)
    resp = web.StreamResponse()
    resp.content_type = "application/x-tar"
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    async for chunk in chunks:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def save_image(request: web.Request) -> web.StreamResponse:
    """GET /images/{name}/get"""
    return await _save(request, [request.match_info["name"]])


async def save_images(request: web.Request) -> web.StreamResponse:
    """GET /images/get?names=a&names=b"""
    return await _save(request, request.query.getall("names", []))


async def create_image(request: web.Request) -> web.StreamResponse:
    """POST /images/create: fromSrc=- imports the body; fromImage pulls (local only: no registry)."""
    svc = _svc(request)
    q = request.query
    if "fromSrc" in q:
        if q["fromSrc"] != "-":
            raise InvalidParameter("importing from a URL is not supported: no network access to registries")
        image_id = await svc.import_image(
            _body(request),
            repo=q.get("repo", ""),
            tag=q.get("tag", ""),
            changes=q.getall("changes", []),
            message=q.get("message", ""),
            platform=q.get("platform", ""),
        )
        return await json_lines(request, _items([{"status": image_id}]), progress=True)
    if "fromImage" in q:
        messages = svc.pull(q["fromImage"], q.get("tag", ""))
        return await json_lines(request, _items(messages), progress=True)
    raise InvalidParameter("either fromSrc or fromImage must be given")


async def push_image(request: web.Request) -> web.StreamResponse:
    """POST /images/{name}/push?tag="""
    messages = _svc(request).push(request.match_info["name"], request.query.get("tag", ""))
    return await json_lines(request, _items(messages), progress=True)


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/load", load_images),
    ("GET", "/images/get", save_images),
    ("POST", "/images/create", create_image),
    ("POST", "/images/prune", prune_images),
    ("GET", "/images/{name:.+}/json", inspect_image),
    ("GET", "/images/{name:.+}/history", image_history),
    ("GET", "/images/{name:.+}/get", save_image),
    ("POST", "/images/{name:.+}/tag", tag_image),
    ("POST", "/images/{name:.+}/push", push_image),
    ("DELETE", "/images/{name:.+}", delete_image),
]
