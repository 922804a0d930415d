"""API layer: the image endpoints (list, inspect, history, tag, delete, prune, load, save, import);
pull and push are the registry area's (api/distribution.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from shim.api import distribution, services
from shim.api.params import qbool, qfilters
from shim.api.responses import empty_ok, json_response
from shim.api.streams import json_lines
from shim.errors import InvalidParameter
from shim.translate import images as tr


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
    v = request["version"]
    tr.list_options(qbool(request, "manifests"), qbool(request, "identity"), v)
    found = services.images(request).list(all_=qbool(request, "all"), filters=filters)
    users = services.engine(request).containers

    def count(image_id: str) -> int:
        return len(users.image_usage(image_id)) if users is not None else 0

    return json_response([tr.list_item(img, tags, v, count) for img, tags in found])


async def inspect_image(request: web.Request) -> web.Response:
    """GET /images/{name}/json"""
    svc, q, v = services.images(request), request.query, request["version"]
    wanted = tr.inspect_options(q.get("manifests"), q.get("platform"), v)
    facts = svc.inspect(request.match_info["name"])
    tr.check_platforms(request.match_info["name"], facts.image.config, wanted)
    return json_response(tr.inspect(facts.image, facts.layer_dirs, v))


async def image_history(request: web.Request) -> web.Response:
    """GET /images/{name}/history?platform= (1.48+)"""
    name, svc = request.match_info["name"], services.images(request)
    wanted = tr.platforms_in(request.query.getall("platform", []), request["version"], since="1.48")
    tr.check_platforms(name, svc.get(name).config, wanted)
    entries = svc.history(name)
    return json_response([tr.history_item(e) for e in entries])


async def tag_image(request: web.Request) -> web.Response:
    """POST /images/{name}/tag?repo=&tag= -> 201, empty body"""
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    await services.images(request).tag(request.match_info["name"], repo, request.query.get("tag", ""))
    return empty_ok(201)


async def delete_image(request: web.Request) -> web.Response:
    """DELETE /images/{name}?force=&noprune=&platforms= (1.50+: a single-platform image matches or is 404)"""
    name, svc = request.match_info["name"], services.images(request)
    wanted = tr.platforms_in(request.query.getall("platforms", []), request["version"], since="1.50")
    tr.check_platforms(name, svc.get(name).config, wanted)
    records = await svc.remove(
        request.match_info["name"], force=qbool(request, "force"), prune=not qbool(request, "noprune")
    )
    return json_response(records)


async def prune_images(request: web.Request) -> web.Response:
    """POST /images/prune"""
    records, reclaimed = await services.images(request).prune(qfilters(request))
    return json_response(tr.prune_result(records, reclaimed))


async def load_images(request: web.Request) -> web.StreamResponse:
    """POST /images/load?platform=: 200 at once; an archive that fails to load is the stream's last
    message, as dockerd's (docker-py raises ImageLoadError only then)."""
    svc = services.images(request)
    tr.platforms_in(request.query.getall("platform", []), request["version"], since="1.48", several_since="1.52")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        for line in await svc.load(_body(request)):
            yield {"stream": line}

    return await json_lines(request, lines(), progress=True, errors_in_stream=True)


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    svc = services.images(request)
    wanted = tr.platforms_in(
        request.query.getall("platform", []), request["version"], since="1.48", several_since="1.52"
    )
    for name in names if wanted else []:
        tr.check_platforms(name, svc.get(name).config, wanted)
    chunks = await svc.save(names)
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
    """POST /images/create: fromSrc=- imports the body; fromImage pulls from a registry."""
    q = request.query
    if q.get("fromImage"):
        return await distribution.pull(request)
    if "fromSrc" in q:
        if q["fromSrc"] != "-":
            raise InvalidParameter("importing from a URL is not supported: no network access to registries")
        image_id = await services.images(request).import_image(
            _body(request),
            repo=q.get("repo", ""),
            tag=q.get("tag", ""),
            changes=q.getall("changes", []),
            message=q.get("message", ""),
            platform=q.get("platform", ""),
        )
        return await json_lines(request, _items([{"status": image_id}]), progress=True)
    raise InvalidParameter("either fromSrc or fromImage must be given")


async def image_attestations(request: web.Request) -> web.Response:
    """GET /images/{name}/attestations (1.55): shimd's store keeps no in-toto statements, so an image
    answers an empty list (dockerd's answer for an image without attestations)."""
    name, svc = request.match_info["name"], services.images(request)
    tr.check_platforms(name, svc.get(name).config, tr.attestation_platforms(request.query.getall("platform", [])))
    return json_response([])


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/load", load_images),
    ("GET", "/images/get", save_images),
    ("POST", "/images/create", create_image),
    ("POST", "/images/prune", prune_images),
    ("GET", "/images/{name:.+}/json", inspect_image),
    ("GET", "/images/{name:.+}/history", image_history),
    ("GET", "/images/{name:.+}/attestations", image_attestations),
    ("GET", "/images/{name:.+}/get", save_image),
    ("POST", "/images/{name:.+}/tag", tag_image),
    ("DELETE", "/images/{name:.+}", delete_image),
]
