"""API layer: the volume endpoints (create, list, inspect, remove, prune)."""

from __future__ import annotations

from aiohttp import web

from shim.api.params import qbool, qfilters
from shim.api.responses import json_response, no_content
from shim.api.server import ENGINE
from shim.api.validate import json_body
from shim.errors import NotImplementedYet
from shim.translate import volumes as tr


def _svc(request: web.Request):
    engine = request.app[ENGINE]
    svc = getattr(engine, "volumes", None) or engine.more.get("volumes")
    if svc is None:
        raise NotImplementedYet("volumes are not available")
    return svc


def _out(svc, v) -> dict:
    return tr.volume_out(v, svc.mountpoint(v.name))


async def create(request: web.Request) -> web.Response:
    """POST /volumes/create {Name, Driver, DriverOpts, Labels}"""
    body = await json_body(request, "volume_create", allow_empty=True) or {}
    svc = _svc(request)
    v = await svc.create(
        body.get("Name") or "", body.get("Driver") or "local", body.get("Labels"), body.get("DriverOpts")
    )
    return json_response(_out(svc, v), status=201)


async def list_volumes(request: web.Request) -> web.Response:
    """GET /volumes?filters="""
    svc = _svc(request)
    return json_response(tr.volume_list_out([_out(svc, v) for v in svc.list(qfilters(request))]))


async def inspect(request: web.Request) -> web.Response:
    """GET /volumes/{name}"""
    svc = _svc(request)
    return json_response(_out(svc, svc.get(request.match_info["name"])))


async def remove(request: web.Request) -> web.Response:
    """DELETE /volumes/{name}?force="""
    await _svc(request).remove(request.match_info["name"], force=qbool(request, "force"))
    return no_content()


async def prune(request: web.Request) -> web.Response:
    """POST /volumes/prune?filters= (anonymous volumes only from API 1.42 unless all=true)"""
    filters = qfilters(request)
    deleted, reclaimed = await _svc(request).prune(
        filters, anonymous_only=tr.prune_anonymous_only(filters, request["version"])
    )
    return json_response(tr.volume_prune_out(deleted, reclaimed))


async def system_df(request: web.Request) -> web.Response:
    """GET /system/df?type= (docker system df [-v]): images, containers, volumes with their usage.
    Here because volumes' UsageData is its only figure that no other endpoint gives."""
    from shim.translate import containers as trc
    from shim.translate import images as tri

    engine = request.app[ENGINE]
    v = request["version"]
    types = set(request.query.getall("type", [])) or {"image", "container", "volume", "build-cache"}
    out: dict = {
        "LayersSize": 0,
        "Images": None,
        "Containers": None,
        "Volumes": None,
        "BuildCache": None,
        "BuilderSize": 0,
    }
    images, containers = engine.images, engine.containers
    if images is not None and "image" in types:
        items, diff_ids = [], set()
        for img, tags in images.list(all_=False, filters={}):
            item = tri.list_item(img, tags, v)
            users = containers.image_usage(img.id) if containers is not None else []
            item["Containers"], item["SharedSize"] = len(users), 0
            items.append(item)
            diff_ids.update(img.diff_ids)
        out["Images"] = items
        out["LayersSize"] = sum(images.layers.layer_size(d) for d in diff_ids if images.layers.has_layer(d))
    if containers is not None and "container" in types:
        items = []
        for c in containers.all():
            extra = containers.extra(c)
            extra["size_rw"] = await containers.size_rw(c)
            base = images.get(c.image_id).size if images is not None and _has_image(images, c.image_id) else 0
            extra["size_root_fs"] = extra["size_rw"] + base
            items.append(trc.list_item_out(c, v, extra))
        out["Containers"] = items
    vols = getattr(engine, "volumes", None) or engine.more.get("volumes")
    if vols is not None and "volume" in types:
        out["Volumes"] = [tr.volume_out(x, vols.mountpoint(x.name), await vols.usage(x.name)) for x in vols.list()]
    if "build-cache" in types:
        from shim.translate import build as trb

        builds = engine.more.get("build")
        records = builds.cache_records() if builds is not None else []
        out["BuildCache"] = [trb.cache_record_out(r) for r in records]
        out["BuilderSize"] = sum(r.size for r in records)
    return json_response(out)


def _has_image(images, image_id: str) -> bool:
    try:
        images.get(image_id)
        return True
    except Exception:
        return False


ROUTES = [
    ("GET", "/system/df", system_df),
    ("POST", "/volumes/create", create),
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
