"""API layer: the container endpoints (create, inspect, list, lifecycle, wait, logs, attach, stats…)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable

from aiohttp import web

from shim.api import services
from shim.api.params import qbool, qfilters, qint, qresize
from shim.api.rendercache import RENDER_CACHE
from shim.api.responses import dumps, empty_ok, json_bytes, json_response, no_content
from shim.api.streams import (
    StdioConn,
    batches_until_client_gone,
    client_gone,
    hijack,
    json_when_done,
    open_raw_stream,
    open_stream,
    pump_stdin,
    run_hijacked,
    stdcopy_frame,
    until_client_gone,
)
from shim.api.validate import check, json_body, read_bounded
from shim.engine.containers import AttachSession, ContainerService
from shim.engine.model import ListQuery
from shim.engine.ports import LogChunk, LogQuery
from shim.errors import ShimError, no_such_container
from shim.translate import containers as tr
from shim.translate import filters as tf
from shim.translate import legacy

log = logging.getLogger("shim.api.containers")


def _id(request: web.Request) -> str:
    return request.match_info["id"]


async def create(request: web.Request) -> web.Response:
    """POST /containers/create?name=&platform="""
    body = await json_body(request, "container_create")
    spec = tr.create_in(body, request["version"], request.query.get("name", ""), request.query.get("platform", ""))
    c, warnings = await services.containers(request).create(spec)
    return json_response(tr.create_out(c.id, warnings), status=201)


async def inspect(request: web.Request) -> web.Response:
    """GET /containers/{id}/json?size="""
    svc = services.containers(request)
    if qbool(request, "size"):
        c, extra = await svc.inspect(_id(request), size=True)
        return json_response(tr.inspect_out(c, request["version"], extra))
    return json_bytes(request.app[RENDER_CACHE].inspect_body(svc, svc.get(_id(request)), request["version"]))


async def list_containers(request: web.Request) -> web.Response:
    """GET /containers/json?all=&limit=&size=&filters="""
    f = tf.ps_filter(qfilters(request))
    limit = qint(request, "limit", -1) or -1
    query = ListQuery(
        show_all=qbool(request, "all") or f.all_states or limit > 0,
        limit=limit,
        size=qbool(request, "size"),
        ancestors=f.values("ancestor"),
        before=f.values("before"),
        since=f.values("since"),
        mount_and_network_facts=bool(f.values("network") or f.values("volume")),
    )
    svc, keep = services.containers(request), tf.keep_function(f)
    if query.size:  # sizes are measured per request, as dockerd does
        found = await svc.facts.listing(query, keep)
        return json_response([tr.list_item_out(c, request["version"], extra) for c, extra in found])
    matching = svc.facts.matching(query, keep)
    return json_bytes(request.app[RENDER_CACHE].list_body(svc, matching, request["version"]))


async def start(request: web.Request) -> web.Response:
    """POST /containers/{id}/start (a pre-1.24 client may send a HostConfig: translate/legacy.py)"""
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    hc = None
    if legacy.body_counts(request.content_length, chunked):
        hc = legacy.start_host_config(
            request["version"],
            request.content_length,
            chunked,
            request.headers.get("Content-Type", ""),
            await read_bounded(request),
        )
    if hc is not None:
        await check({"HostConfig": hc}, "container_create")  # the shapes a create's HostConfig must have
    await services.containers(request).start(_id(request), host_config=hc)
    return no_content()


async def stop(request: web.Request) -> web.Response:
    """POST /containers/{id}/stop?t=&signal="""
    await services.containers(request).stop(
        _id(request), qint(request, "t"), tr.signal_in(request.query, request["version"])
    )
    return no_content()


async def restart(request: web.Request) -> web.Response:
    """POST /containers/{id}/restart?t=&signal="""
    await services.containers(request).restart(
        _id(request), qint(request, "t"), tr.signal_in(request.query, request["version"])
    )
    return no_content()


async def kill(request: web.Request) -> web.Response:
    """POST /containers/{id}/kill?signal="""
    await services.containers(request).kill(
        _id(request), request.query.get("signal"), stopped_is_error=tr.kill_stopped_is_error(request["version"])
    )
    return no_content()


async def pause(request: web.Request) -> web.Response:
    """POST /containers/{id}/pause"""
    await services.containers(request).pause(_id(request))
    return no_content()


async def unpause(request: web.Request) -> web.Response:
    """POST /containers/{id}/unpause"""
    await services.containers(request).unpause(_id(request))
    return no_content()


async def wait(request: web.Request) -> web.StreamResponse:
    """POST /containers/{id}/wait?condition= (headers at once, the body when the condition is met)"""
    v = request["version"]
    fut = services.containers(request).wait(_id(request), tr.wait_condition_in(request.query.get("condition"), v))
    if not tr.wait_headers_first(v):
        return json_response(tr.wait_out(*(await fut)))
    return await json_when_done(request, fut, lambda r: tr.wait_out(*r))


async def remove(request: web.Request) -> web.Response:
    """DELETE /containers/{id}?force=&v=&link= (with link=1 the name is a legacy link, /parent/alias)"""
    if qbool(request, "link"):
        await services.containers(request).remove_link(_id(request))
    else:
        await services.containers(request).remove(
            _id(request), force=qbool(request, "force"), volumes=qbool(request, "v")
        )
    return no_content()


async def rename(request: web.Request) -> web.Response:
    """POST /containers/{id}/rename?name="""
    await services.containers(request).rename(_id(request), request.query.get("name", ""))
    return no_content()


async def update(request: web.Request) -> web.Response:
    """POST /containers/{id}/update"""
    body = await json_body(request, "container_update")
    warnings = await services.containers(request).update(_id(request), tr.update_in(body))
    return json_response(tr.update_out(warnings))


async def prune(request: web.Request) -> web.Response:
    """POST /containers/prune?filters="""
    svc = services.containers(request)
    pf = tf.prune_filter(qfilters(request), time.time_ns())
    deleted, reclaimed = await svc.prune(lambda c: not tf.prune_matches(c, pf))
    return json_response(tr.prune_out(deleted, reclaimed))


async def top(request: web.Request) -> web.Response:
    """GET /containers/{id}/top?ps_args="""
    titles, procs = await services.containers(request).top(_id(request), request.query.get("ps_args", ""))
    return json_response(tr.top_out(titles, procs))


async def resize(request: web.Request) -> web.Response:
    """POST /containers/{id}/resize?h=&w= (200 with an empty body)"""
    await services.containers(request).resize(
        _id(request), qresize(request, "h", "height"), qresize(request, "w", "width")
    )
    return empty_ok()


async def stats(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/stats?stream=&one-shot= (one JSON line per second, or one object)"""
    stream, v = qbool(request, "stream", True), request["version"]
    items = services.containers(request).stats(_id(request), stream=stream, one_shot=qbool(request, "one-shot"))
    if not stream:
        async for item in items:
            return json_response(tr.stats_out(item, v))
        return json_response({})
    resp = await open_stream(request)
    try:
        async for item in until_client_gone(request, items):
            await resp.write((dumps(tr.stats_out(item, v)) + "\n").encode())
        if not client_gone(request):
            await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


def _frames(chunks: list[LogChunk], tty: bool) -> bytes:
    """A batch of log chunks as the body carries them: raw with a TTY, else one stdcopy frame per
    chunk (a chunk holds consecutive lines of one stream: headers in bulk, not per line)."""
    if tty:
        return b"".join(c.data for c in chunks)
    return b"".join(stdcopy_frame(c.stream, c.data) for c in chunks)


async def logs(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/logs?stdout=&stderr=&follow=&since=&until=&timestamps=&tail=&details="""
    svc = services.containers(request)
    c = svc.get(_id(request))
    query = LogQuery(
        stdout=qbool(request, "stdout"),
        stderr=qbool(request, "stderr"),
        follow=qbool(request, "follow"),
        since=tr.log_since_in(request.query.get("since")),
        until=tr.log_since_in(request.query.get("until"), "until"),
        tail=tr.tail_in(request.query.get("tail")),
        timestamps=qbool(request, "timestamps"),
        details=b"" if qbool(request, "details") else None,
    )
    chunks = await svc.logs(c.id, query)
    tty = bool(c.config.get("Tty"))
    resp = await open_raw_stream(request, tr.stream_content_type(request["version"], tty))
    try:
        async for batch in batches_until_client_gone(request, chunks, ahead=8):
            await resp.write(_frames(batch, tty))
        if not client_gone(request):
            await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


async def attach(request: web.Request) -> web.StreamResponse:
    """POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys= (hijacked)"""
    svc = services.containers(request)
    c = await svc.check_attachable(_id(request))
    want_in, want_out, want_err = qbool(request, "stdin"), qbool(request, "stdout"), qbool(request, "stderr")
    stream, replay = qbool(request, "stream"), qbool(request, "logs")
    detach = tr.detach_keys_in(request.query.get("detachKeys"))
    tty = bool(c.config.get("Tty"))
    conn = await hijack(request, tr.stream_content_type(request["version"], tty, attach=True) or "")
    try:
        if replay and (want_out or want_err) and svc.logs_readable(c):
            async for chunk in await svc.logs(c.id, LogQuery(stdout=want_out, stderr=want_err)):
                await conn.write(_frames([chunk], tty))
        if stream:
            await _attach_stream(svc, c.id, conn, tty, want_in, want_out, want_err, detach)
    except (ConnectionResetError, ConnectionError):
        pass
    except ShimError as e:
        # Past the 101 an HTTP error can't be sent any more: end the stream, as dockerd does.
        log.warning("attach %s: %s", c.id, e)
    return conn.close()


async def _attach_stream(
    svc: ContainerService,
    cid: str,
    conn: StdioConn,
    tty: bool,
    want_in: bool,
    want_out: bool,
    want_err: bool,
    detach: bytes,
) -> None:
    session = await _until_closed(conn, svc.attach(cid))
    if session is None:
        return

    async def pump_out() -> None:
        async for stream, data in session.output():
            if (stream == 1 and want_out) or (stream == 2 and want_err):
                await conn.write(data if tty else stdcopy_frame(stream, data))

    try:
        await run_hijacked(
            conn, pump_out(), pump_stdin(conn, session.write, session.stdin_closed, want_in=want_in, detach=detach)
        )
    finally:
        await session.close()


async def _until_closed(conn: StdioConn, coro: Awaitable[AttachSession]) -> AttachSession | None:
    """Await `coro` (an attach waiting for the container's start) unless the client goes away first."""
    task = asyncio.ensure_future(coro)
    lost = asyncio.ensure_future(conn.wait_closed())
    await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
    lost.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        session = await task
        await session.close()
    return None


ROUTES = [
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("DELETE", "/containers/{id:.+/.+}", remove),  # a link name, /parent/alias (dockerd's {name:.*})
    ("POST", "/containers/{id}/rename", rename),
    ("POST", "/containers/{id}/update", update),
    ("GET", "/containers/{id}/top", top),
    ("POST", "/containers/{id}/resize", resize),
    ("GET", "/containers/{id}/stats", stats),
    ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/attach", attach),
]

__all__ = ["ROUTES", "no_such_container"]
