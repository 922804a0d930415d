"""API layer: exec sessions (create, start attached through a hijacked connection or detached, resize, inspect)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shim.api import services
from shim.api.middleware import COMMON_HEADERS
from shim.api.params import qresize
from shim.api.responses import empty_ok, json_response
from shim.api.streams import Hijacked, hijack, pump_stdin, run_hijacked, stdcopy_frame
from shim.api.validate import json_body
from shim.engine.execs import ExecService, ExecSession
from shim.engine.ports import ExecProcessHandle
from shim.errors import ShimError
from shim.translate import containers as trc
from shim.translate import volumes as tr


def _size(body: dict[str, Any]) -> tuple[int, int] | None:
    size = body.get("ConsoleSize")
    return (int(size[0]), int(size[1])) if size and len(size) == 2 else None


async def create(request: web.Request) -> web.Response:
    """POST /containers/{id}/exec"""
    body = await json_body(request, "exec_create")
    keys = trc.detach_keys_in(body.get("DetachKeys"))  # a bad spec is the create's 400, as dockerd
    e = await services.execs(request).create(request.match_info["id"], body, detach_keys=keys)
    return json_response({"Id": e.id}, status=201)


async def inspect(request: web.Request) -> web.Response:
    """GET /exec/{id}/json"""
    return json_response(tr.exec_inspect_out(services.execs(request).get(request.match_info["id"])))


async def resize(request: web.Request) -> web.Response:
    """POST /exec/{id}/resize?h=&w="""
    await services.execs(request).resize(
        request.match_info["id"], qresize(request, "h", "height"), qresize(request, "w", "width")
    )
    return empty_ok()


async def start(request: web.Request) -> web.StreamResponse:
    """POST /exec/{id}/start {Detach, Tty, ConsoleSize}: 200 empty when detached, else hijacked (101)."""
    body = await json_body(request, "exec_start", allow_empty=True) or {}
    svc = services.execs(request)
    e = svc.get(request.match_info["id"])
    if body.get("Detach"):
        await svc.start(e.id, console_size=_size(body), detach=True)
        return empty_ok()
    svc.check_startable(e.id)  # 404/409 as plain answers, before the upgrade
    # The framing follows the start body's Tty, not the create's (moby postContainerExecStart):
    # docker-py starts with Tty=false and demultiplexes, whatever the exec was created with.
    tty = bool(body.get("Tty"))
    ctype = trc.stream_content_type(request["version"], tty, attach=True) or ""
    conn = await hijack(request, ctype, extra_headers=COMMON_HEADERS)
    try:
        # the process starts after the 101 went out, as with dockerd: a client that buffered the
        # response head (docker-py) would lose output sent together with it
        try:
            await svc.start(e.id, console_size=_size(body))
        except ShimError as err:
            # dockerd prints the failure to the (framed, without a tty) stdout stream
            line = err.message.encode() + b"\r\n"
            await conn.write(line if tty else stdcopy_frame(1, line))
            return conn.close()
        await _pump(svc, e, conn, tty)
    except (ConnectionResetError, ConnectionError):
        pass
    return conn.close()


async def _pump(svc: ExecService, e: ExecSession, conn: Hijacked, tty: bool) -> None:
    proc = e.process
    if proc is None:
        return
    complete = False
    try:
        # detach keys apply to a tty exec only, as dockerd
        complete = await run_hijacked(
            conn,
            _output(svc, e, proc, conn, tty),
            pump_stdin(
                conn, proc.write, proc.close_stdin, want_in=e.attach_stdin, detach=e.detach_keys if e.tty else b""
            ),
        )
    finally:
        if complete:
            await svc.finished(e)
        else:
            svc.abandon(e)  # detached or gone: the process runs on, its output drained


async def _output(svc: ExecService, e: ExecSession, proc: ExecProcessHandle, conn: Hijacked, tty: bool) -> None:
    def frame(stream: int, data: bytes) -> bytes:
        return data if tty else stdcopy_frame(stream, data)

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


ROUTES = [
    ("POST", "/containers/{id}/exec", create),
    ("POST", "/exec/{id}/start", start),
    ("POST", "/exec/{id}/resize", resize),
    ("GET", "/exec/{id}/json", inspect),
]
