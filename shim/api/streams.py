"""API layer: streamed response bodies (JSON lines, progress messages, stdcopy frames, hijack)."""

from __future__ import annotations

import asyncio as _asyncio
import contextlib
import struct as _struct
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from shim.api.responses import dumps
from shim.errors import ShimError


async def open_stream(
    request: web.Request, content_type: str | None = "application/json", status: int = 200
) -> web.StreamResponse:
    """Send the headers now (chunked body to follow), as dockerd does for wait/events/logs."""
    resp = web.StreamResponse(status=status)
    if content_type:
        resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def json_lines(
    request: web.Request,
    items: AsyncIterator[Any],
    *,
    progress: bool = False,
    errors_in_stream: bool = False,
    content_type: str = "application/json",
    record_prefix: str = "",
) -> web.StreamResponse:
    """One JSON object per chunk; progress streams (load, import, pull, build) end with \\r\\n.
    With errors_in_stream, a failure after the 200 went out is the stream's last message, as
    dockerd's streamformatter.FormatError writes it ({"errorDetail":{"message"},"error"})."""
    resp = await open_stream(request, content_type)
    end = "\r\n" if progress else "\n"
    try:
        try:
            async for item in items:
                await resp.write((record_prefix + dumps(item) + end).encode())
        except ShimError as err:
            if not errors_in_stream:
                raise
            await resp.write((dumps({"errorDetail": {"message": err.message}, "error": err.message}) + end).encode())
    except (ConnectionResetError, ConnectionError):
        return resp
    await resp.write_eof()
    return resp


async def progress_stream(
    request: web.Request, items: AsyncIterator[Any], render: Any, render_error: Any
) -> web.StreamResponse:
    """A pull/push stream: nothing is sent until the first fact, so a failure before it is a plain
    HTTP error (dockerd's `if !output.Flushed() { return err }`); after it, the failure is the
    stream's last message. A client that goes away closes `items`, which stops the work."""
    import logging

    from shim.errors import ShimError

    it = aiter(items)
    try:
        first = await anext(it)
    except StopAsyncIteration:
        first = None
    except BaseException:
        await _aclose(it)
        raise
    resp = await open_stream(request)
    end = b"\r\n"
    try:
        if first is not None:
            await resp.write(dumps(render(first)).encode() + end)
            async for item in it:
                await resp.write(dumps(render(item)).encode() + end)
    except (ConnectionResetError, ConnectionError):
        return resp
    except ShimError as e:
        await resp.write(dumps(render_error(e.message)).encode() + end)
    except Exception as e:  # a bug must still end the stream with an error the client shows
        logging.getLogger("shim.api").exception("stream failed")
        await resp.write(dumps(render_error(str(e) or type(e).__name__)).encode() + end)
    finally:
        await _aclose(it)
    await resp.write_eof()
    return resp


async def _aclose(it: Any) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        await close()


# --- container streams: stdcopy frames, headers-first waits, hijacked connections ---------------
# (appended by the containers area; JSON-lines helpers stay above)


def stdcopy_frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame: [stream, 0, 0, 0, len (uint32 big-endian)] then the payload (api-traffic 5.1)."""
    return _struct.pack(">BxxxI", stream, len(data)) + data


class _BareStreamResponse(web.StreamResponse):
    """A chunked stream with no Content-Type at all, as dockerd 20.10 answers logs (api-traffic 5.2)."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self._headers.popall("Content-Type", None)


async def open_raw_stream(request: web.Request, content_type: str | None) -> web.StreamResponse:
    """Headers now, then a chunked body where each write is its own chunk."""
    resp = web.StreamResponse() if content_type else _BareStreamResponse()
    if content_type:
        resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


def client_gone(request: web.Request) -> bool:
    t = request.transport
    return t is None or t.is_closing()


async def json_when_done(
    request: web.Request, fut: _asyncio.Future[Any], render: Callable[[Any], Any]
) -> web.StreamResponse:
    """POST /containers/{id}/wait: the 200 headers go out at once, the single JSON chunk when `fut`
    resolves (the CLI posts wait before start). Gives up quietly if the client goes away."""
    resp = await open_stream(request)
    while True:
        done, _ = await _asyncio.wait({fut}, timeout=1.0)
        if done:
            break
        if client_gone(request):
            fut.cancel()  # the engine drops cancelled waiters
            return resp
    try:
        await resp.write((dumps(render(fut.result())) + "\n").encode())
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    return resp


class _HijackProtocol(_asyncio.Protocol):
    """Takes over the connection's transport after the 101: raw bytes both ways, half-close kept open."""

    def __init__(self, transport: _asyncio.Transport) -> None:
        self.transport = transport
        self.incoming: _asyncio.Queue[bytes | None] = _asyncio.Queue()
        self.lost = _asyncio.Event()
        self._can_write = _asyncio.Event()
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(bytes(data))

    def eof_received(self) -> bool:
        # The CLI half-closes (CloseWrite) right after the 101 when it has no stdin: keep sending output.
        self.incoming.put_nowait(None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.incoming.put_nowait(None)
        self.lost.set()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()


class Hijacked:
    """A hijacked client connection (attach): read() raw stdin, write() output, close() at the end."""

    def __init__(self, request: web.Request, proto: _HijackProtocol) -> None:
        self._request = request
        self._proto = proto
        self.eof = False

    @property
    def closed(self) -> bool:
        return self._proto.lost.is_set() or self._proto.transport.is_closing()

    async def read(self) -> bytes | None:
        """Next bytes from the client; None once it half-closed or went away."""
        if self.eof:
            return None
        data = await self._proto.incoming.get()
        if data is None:
            self.eof = True
        return data

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("client went away")
        self._proto.transport.write(data)
        await self._proto._can_write.wait()

    async def wait_closed(self) -> None:
        await self._proto.lost.wait()

    def close(self) -> web.StreamResponse:
        """End the connection; the handler returns what this gives (nothing more is written)."""
        t = self._proto.transport
        if not t.is_closing():
            t.close()
        proto = self._request.protocol
        if proto is not None:
            proto.force_close()
        return web.Response(status=101)


async def hijack(
    request: web.Request,
    content_type: str = "application/vnd.docker.raw-stream",
    extra_headers: dict[str, str] | None = None,
) -> Hijacked:
    """dockerd's hijack: `101 UPGRADED` with exactly the upgrade headers when the client asked for
    `Upgrade: tcp`, else `200 OK` and a raw stream until close (api-traffic section 4)."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    upgrade = "upgrade" in request.headers.get("Connection", "").lower() and request.headers.get("Upgrade")
    if upgrade:
        head = f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
    else:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
    for k, v in (extra_headers or {}).items():
        head += f"{k}: {v}\r\n"
    old = request.protocol
    tail = b""
    if old is not None:
        tail = bytes(getattr(old, "_message_tail", b"") or b"")
        try:
            old._message_tail = b""
        except AttributeError:
            pass
    proto = _HijackProtocol(transport)
    transport.set_protocol(proto)
    transport.write((head + "\r\n").encode())
    if tail:
        proto.data_received(tail)
    try:
        transport.resume_reading()  # aiohttp may have paused reading while the upgrade was pending
    except (AttributeError, RuntimeError):
        pass
    return Hijacked(request, proto)


async def until_client_gone(request: web.Request, items: AsyncIterator[Any], poll: float = 1.0) -> AsyncIterator[Any]:
    """Items of a follow stream (logs -f, stats) until the stream ends or the client goes away, even
    while the stream is silent; the source is closed either way (its cleanup runs now)."""
    async for batch in batches_until_client_gone(request, items, poll):
        for item in batch:
            yield item


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


async def batches_until_client_gone(
    request: web.Request, items: AsyncIterator[Any], poll: float = 1.0, ahead: int = 1024
) -> AsyncGenerator[list[Any], None]:
    """until_client_gone, yielding every item already available as one list (never an empty one).

    One task pulls the source into a bounded queue: a task (and asyncio.wait) per item cost 15 us,
    a third of `docker logs` time for 50 MiB of short lines; the consumer can also write a whole
    batch at once."""
    it = items.__aiter__()
    q: _asyncio.Queue[Any] = _asyncio.Queue(maxsize=ahead)

    async def pump() -> None:
        try:
            async for item in it:
                await q.put(item)
            await q.put(_END)
        except Exception as e:  # handed to the consumer, raised there as before
            await q.put(_Raised(e))

    pumping = _asyncio.ensure_future(pump())
    try:
        while True:
            if q.empty():
                nxt = _asyncio.ensure_future(q.get())
                while True:
                    done, _ = await _asyncio.wait({nxt}, timeout=poll)
                    if done:
                        break
                    if client_gone(request):
                        nxt.cancel()
                        return
                batch = [nxt.result()]
            else:
                batch = []
            while not q.empty():
                batch.append(q.get_nowait())
            for i, item in enumerate(batch):
                if item is _END or isinstance(item, _Raised):
                    if i:
                        yield batch[:i]
                    if isinstance(item, _Raised):
                        raise item.exc
                    return
            yield batch
    finally:
        pumping.cancel()
        with contextlib.suppress(BaseException):
            await pumping
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(BaseException):
                await aclose()


class StdioConn(Protocol):
    """A client connection as the attach and exec pumps use it: Hijacked, or attach_ws's WebsocketConn."""

    async def read(self) -> bytes | None:
        """Next bytes from the client; None once it half-closed or went away."""

    async def write(self, data: bytes) -> None: ...

    async def wait_closed(self) -> None: ...


async def pump_stdin(
    conn: StdioConn,
    write: Callable[[bytes], Awaitable[None]],
    close_stdin: Callable[[], Awaitable[None]],
    *,
    want_in: bool,
    detach: bytes,
) -> bool:
    """Client bytes to the process's stdin until the client half-closes (stdin is closed then)
    or types the detach keys (ctrl-p,ctrl-q by default), which end the attach, not the process.
    Returns True when the detach keys ended it."""
    matched = 0
    while True:
        data = await conn.read()
        if data is None:
            if want_in:
                await close_stdin()
            return False
        if not want_in:
            continue
        if detach:
            for i, b in enumerate(data):
                matched = matched + 1 if b == detach[matched] else (1 if b == detach[0] else 0)
                if matched == len(detach):
                    await write(data[: max(0, i + 1 - len(detach))])
                    return True
        await write(data)


async def run_hijacked(conn: StdioConn, pump_out: Awaitable[None], pump_in: Awaitable[bool]) -> bool:
    """Run an output pump and a stdin pump over a hijacked connection until the output ends, the
    client goes away or detaches. A half-close of stdin alone keeps the output flowing (the CLI
    half-closes at once without -i). Returns True when the output ended by itself; an error of
    the output pump is raised."""
    out_task = _asyncio.ensure_future(pump_out)
    in_task = _asyncio.ensure_future(pump_in)
    lost = _asyncio.ensure_future(conn.wait_closed())
    pending = {out_task, in_task, lost}
    try:
        while True:
            done, pending = await _asyncio.wait(pending, return_when=_asyncio.FIRST_COMPLETED)
            if out_task in done:
                out_task.result()
                return True
            if lost in done:
                return False
            if in_task in done and in_task.exception() is None and in_task.result():
                return False  # detached
    finally:
        for t in (out_task, in_task, lost):
            t.cancel()
        for t in (out_task, in_task, lost):
            with contextlib.suppress(BaseException):
                await t
