"""API layer: GET /containers/{id}/attach/ws, the websocket attach (aiodocker's
`container.websocket()`). As dockerd: never multiplexed (the websocket keeps the streams apart
for the client), binary frames from 1.28, the stream choice from 1.42; otherwise the same
session as the hijacked attach."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.http import WSMsgType

from shim.api import services
from shim.api.containers import _attach_stream
from shim.api.params import qbool
from shim.engine.ports import LogQuery
from shim.errors import ShimError
from shim.translate import containers as tr

log = logging.getLogger("shim.api")


class WebsocketConn:
    """The websocket as the attach pumps see a hijacked connection: read() client bytes (None at
    close), write() output, wait_closed(). One task reads the socket: aiohttp allows one reader."""

    def __init__(self, ws: web.WebSocketResponse, binary: bool) -> None:
        self._ws = ws
        self._binary = binary
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._lost = asyncio.Event()
        self._eof = False
        self._reader = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type == WSMsgType.BINARY:
                    self._incoming.put_nowait(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self._incoming.put_nowait(msg.data.encode())
        finally:
            self._incoming.put_nowait(None)
            self._lost.set()

    async def read(self) -> bytes | None:
        if self._eof:
            return None
        data = await self._incoming.get()
        self._eof = data is None
        return data

    async def write(self, data: bytes) -> None:
        if self._ws.closed or self._lost.is_set():
            raise ConnectionResetError("client went away")
        if self._binary:
            await self._ws.send_bytes(data)
        else:
            await self._ws.send_str(data.decode("utf-8", "replace"))

    async def wait_closed(self) -> None:
        await self._lost.wait()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


async def attach_ws(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/attach/ws?stream=&logs=&stdin=&stdout=&stderr=&detachKeys="""
    svc = services.containers(request)
    c = await svc.check_attachable(request.match_info["id"])
    version = request["version"]
    want_in, want_out, want_err = tr.ws_attach_streams(
        version, qbool(request, "stdin"), qbool(request, "stdout"), qbool(request, "stderr")
    )
    detach = tr.detach_keys_in(request.query.get("detachKeys"))
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    conn = WebsocketConn(ws, tr.ws_binary_frames(version))
    try:
        if qbool(request, "logs") and (want_out or want_err) and svc.logs_readable(c):
            async for chunk in await svc.logs(c.id, LogQuery(stdout=want_out, stderr=want_err)):
                await conn.write(chunk.data)
        if qbool(request, "stream"):
            # tty=True: raw output, never stdcopy frames
            await _attach_stream(svc, c.id, conn, True, want_in, want_out, want_err, detach)
    except (ConnectionResetError, ConnectionError):
        pass
    except ShimError as e:
        log.warning("attach/ws %s: %s", c.id, e)
    finally:
        await conn.close()
    return ws


ROUTES = [
    ("GET", "/containers/{id}/attach/ws", attach_ws),
]
