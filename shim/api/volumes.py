"""API layer: the volume endpoints (create, list, inspect, remove, prune)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shim.api import services
from shim.api.params import qbool, qfilters
from shim.api.responses import json_response, no_content
from shim.api.validate import json_body
from shim.engine.diskusage import disk_usage
from shim.engine.volumes import Volume, VolumeService
from shim.translate import volumes as tr
from shim.translate.diskusage import disk_usage_out
from shim.translate.system import df_types


def _out(svc: VolumeService, v: Volume) -> dict[str, Any]:
    return tr.volume_out(v, svc.mountpoint(v.name))


async def create(request: web.Request) -> web.Response:
    """POST /volumes/create {Name, Driver, DriverOpts, Labels}"""
    body = await json_body(request, "volume_create", allow_empty=True) or {}
    svc = services.volumes(request)
    v = await svc.create(
        body.get("Name") or "", body.get("Driver") or "local", body.get("Labels"), body.get("DriverOpts")
    )
    return json_response(_out(svc, v), status=201)


async def list_volumes(request: web.Request) -> web.Response:
    """GET /volumes?filters="""
    svc = services.volumes(request)
    return json_response(tr.volume_list_out([_out(svc, v) for v in svc.list(qfilters(request))]))


async def inspect(request: web.Request) -> web.Response:
    """GET /volumes/{name}"""
    svc = services.volumes(request)
    return json_response(_out(svc, svc.get(request.match_info["name"])))


async def remove(request: web.Request) -> web.Response:
    """DELETE /volumes/{name}?force="""
    await services.volumes(request).remove(request.match_info["name"], force=qbool(request, "force"))
    return no_content()


async def prune(request: web.Request) -> web.Response:
    """POST /volumes/prune?filters= (anonymous volumes only from API 1.42 unless all=true)"""
    filters = qfilters(request)
    deleted, reclaimed = await services.volumes(request).prune(
        filters, anonymous_only=tr.prune_anonymous_only(filters, request["version"])
    )
    return json_response(tr.volume_prune_out(deleted, reclaimed))


async def system_df(request: web.Request) -> web.Response:
    """GET /system/df?type= (docker system df [-v]): images, containers, volumes with their usage.
    Here because volumes' UsageData is its only figure that no other endpoint gives."""
    engine, v = services.engine(request), request["version"]
    kinds = df_types(request.query.getall("type", []), v)
    du = await disk_usage(
        images=engine.images, containers=engine.containers, volumes=engine.volumes, builds=engine.build, kinds=kinds
    )
    return json_response(disk_usage_out(du, v, verbose=qbool(request, "verbose")))


ROUTES = [
    ("GET", "/system/df", system_df),
    ("POST", "/volumes/create", create),
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
