"""API layer: exec sessions (create, start attached through a hijacked connection or detached, resize, inspect)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from shim.api.middleware import COMMON_HEADERS
from shim.api.params import qint
from shim.api.responses import empty_ok, json_response
from shim.api.server import ENGINE
from shim.api.streams import hijack, stdcopy_frame
from shim.api.validate import json_body
from shim.errors import NotImplementedYet, ShimError
from shim.translate import containers as trc
from shim.translate import volumes as tr


def _svc(request: web.Request):
    engine = request.app[ENGINE]
    svc = getattr(engine, "execs", None) or engine.more.get("execs")
    if svc is None:
        raise NotImplementedYet("exec is not available")
    return svc


def _size(body: dict) -> tuple[int, int] | None:
    size = body.get("ConsoleSize")
    return (int(size[0]), int(size[1])) if size and len(size) == 2 else None


async def create(request: web.Request) -> web.Response:
    """POST /containers/{id}/exec"""
    body = await json_body(request, "exec_create")
    trc.detach_keys_in(body.get("DetachKeys"))  # a bad spec is the create's 400, as dockerd
    e = await _svc(request).create(request.match_info["id"], body)
    return json_response({"Id": e.id}, status=201)


async def inspect(request: web.Request) -> web.Response:
    """GET /exec/{id}/json"""
    return json_response(tr.exec_inspect_out(_svc(request).get(request.match_info["id"])))


async def resize(request: web.Request) -> web.Response:
    """POST /exec/{id}/resize?h=&w="""
    await _svc(request).resize(request.match_info["id"], qint(request, "h", 0) or 0, qint(request, "w", 0) or 0)
    return empty_ok()


async def start(request: web.Request) -> web.StreamResponse:
    """POST /exec/{id}/start {Detach, Tty, ConsoleSize}: 200 empty when detached, else hijacked (101)."""
    body = await json_body(request, "exec_start", allow_empty=True) or {}
    svc = _svc(request)
    e = svc.get(request.match_info["id"])
    if body.get("Detach"):
        await svc.start(e.id, console_size=_size(body), detach=True)
        return empty_ok()
    svc.check_startable(e.id)  # 404/409 as plain answers, before the upgrade
    ctype = trc.stream_content_type(request["version"], e.tty, attach=True) or ""
    conn = await hijack(request, ctype, extra_headers=COMMON_HEADERS)
    try:
        # the process starts after the 101 went out, as with dockerd: a client that buffered the
        # response head (docker-py) would lose output sent together with it
        try:
            await svc.start(e.id, console_size=_size(body))
        except ShimError as err:
            await conn.write(err.message.encode() + b"\r\n")
            return conn.close()
        await _pump(svc, e, conn)
    except (ConnectionResetError, ConnectionError):
        pass
    return conn.close()


async def _pump(svc, e, conn) -> None:
    proc = e.process
    detach = trc.detach_keys_in(e.detach_keys_raw or None)
    detached = asyncio.Event()

    def frame(stream: int, data: bytes) -> bytes:
        return data if e.tty else stdcopy_frame(stream, data)

    async def pump_out() -> None:
        while True:
            item = await proc.read()
            if item is None:
                break
            stream, data = item
            if (stream == 1 and e.attach_stdout) or (stream == 2 and e.attach_stderr):
                await conn.write(frame(stream, data))
        await svc.wait(e)
        if e.error:
            # dockerd writes a start failure into the stream (the CLI prints it, then exits 126)
            await conn.write(frame(1, (e.error + "\r\n").encode()))

    async def pump_in() -> None:
        matched = 0
        while True:
            data = await conn.read()
            if data is None:
                if e.attach_stdin:
                    await proc.close_stdin()
                return
            if not e.attach_stdin:
                continue
            if detach and e.tty:
                for i, b in enumerate(data):
                    matched = matched + 1 if b == detach[matched] else (1 if b == detach[0] else 0)
                    if matched == len(detach):
                        await proc.write(data[:max(0, i + 1 - len(detach))])
                        detached.set()
                        return
            await proc.write(data)

    out_task = asyncio.ensure_future(pump_out())
    in_task = asyncio.ensure_future(pump_in())
    lost = asyncio.ensure_future(conn.wait_closed())
    det = asyncio.ensure_future(detached.wait())
    complete = False
    try:
        await asyncio.wait({out_task, lost, det}, return_when=asyncio.FIRST_COMPLETED)
        if out_task.done():
            out_task.result()
            complete = True
    finally:
        for t in (out_task, in_task, lost, det):
            t.cancel()
        for t in (out_task, in_task, lost, det):
            with contextlib.suppress(BaseException):
                await t
        if complete:
            await svc.finished(e)
        else:
            svc.abandon(e)  # detached or gone: the process runs on, its output drained


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
