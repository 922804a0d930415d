"""A recording proxy between Docker API clients and an engine's Unix socket.

    python -m compat.apicheck.proxy --listen /tmp/x/api.sock --upstream /tmp/x/docker.sock --record FILE

Every byte is relayed unchanged in both directions; on the side, each HTTP/1.1 exchange is parsed
with h11 (a request parser fed what the client sends, a response parser fed what the engine
answers) and one JSON line per response is appended to FILE: method, path, status, headers that
matter, and the body when it is JSON (or text, for errors). A 101 upgrade, or anything h11 can't
parse, stops the parsing of that connection: the relay goes on untouched, so the proxy can never
change what a client sees. Each record is written before the response's last bytes are forwarded,
so a client that has read a whole response finds its record on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
from typing import Any

import h11

MAX_BODY = 8 * 1024 * 1024
RECORDED_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-seq", "text/plain")


class Recorder:
    def __init__(self, path: str) -> None:
        self._f = open(path, "a", buffering=1)

    def write(self, rec: dict[str, Any]) -> None:
        self._f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._f.flush()


class Exchange:
    """One connection's parsing state; `alive` false once parsing gave up (relay only)."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.server = _ReadOnlyServer()  # parses the client's requests
        self.client = h11.Connection(h11.CLIENT)  # parses the engine's responses
        self.alive = True
        self.requests: list[h11.Request] = []
        self.current: dict[str, Any] | None = None
        self.body = bytearray()

    # ---- client -> engine
    def from_client(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            self.server.receive_data(data)
            while True:
                ev = self.server.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if isinstance(ev, h11.Request):
                    self.requests.append(ev)
                    self.client.send(ev)
                elif isinstance(ev, (h11.Data, h11.EndOfMessage)):
                    self.client.send(ev)
                elif isinstance(ev, h11.ConnectionClosed):
                    break
        except (h11.ProtocolError, h11.LocalProtocolError, ValueError):
            self.alive = False

    # ---- engine -> client
    def from_engine(self, data: bytes) -> None:
        if not self.alive:
            return
        try:
            self.client.receive_data(data)
            while True:
                ev = self.client.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    if (
                        self.client.our_state is h11.SWITCHED_PROTOCOL
                        or self.client.their_state is h11.SWITCHED_PROTOCOL
                    ):
                        self.alive = False
                    break
                if isinstance(ev, h11.InformationalResponse):
                    self._start(ev)
                    self._finish(partial=False)
                    if ev.status_code == 101:
                        self.alive = False
                        break
                elif isinstance(ev, h11.Response):
                    self._start(ev)
                elif isinstance(ev, h11.Data):
                    if self.current is not None and self.current.get("recorded_body") and len(self.body) < MAX_BODY:
                        self.body += ev.data
                        if len(self.body) >= MAX_BODY:
                            self.current["truncated"] = True
                elif isinstance(ev, h11.EndOfMessage):
                    self._finish(partial=False)
                    self._next_cycle()
                elif isinstance(ev, h11.ConnectionClosed):
                    break
        except (h11.ProtocolError, h11.LocalProtocolError, ValueError):
            self.alive = False

    def _start(self, ev: h11.Response | h11.InformationalResponse) -> None:
        req = self.requests[0] if self.requests else None
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in ev.headers}
        ctype = headers.get("content-type", "")
        self.current = {
            "method": req.method.decode() if req else "",
            "target": req.target.decode("latin-1") if req else "",
            "accept": next((v.decode() for k, v in req.headers if k.lower() == b"accept"), "") if req else "",
            "user_agent": next((v.decode() for k, v in req.headers if k.lower() == b"user-agent"), "") if req else "",
            "status": ev.status_code,
            "content_type": ctype,
            "api_version": headers.get("api-version", ""),
            "recorded_body": ctype.split(";")[0].strip().lower() in RECORDED_TYPES,
        }
        self.body = bytearray()

    def _finish(self, *, partial: bool) -> None:
        if self.current is None:
            return
        rec = self.current
        if rec.pop("recorded_body"):
            try:
                rec["body"] = self.body.decode("utf-8")
            except UnicodeDecodeError:
                rec["body_b64"] = base64.b64encode(bytes(self.body)).decode()
        rec["partial"] = partial
        self.rec.write(rec)
        self.current = None
        self.body = bytearray()

    def _next_cycle(self) -> None:
        if self.requests:
            self.requests.pop(0)
        try:
            if self.client.our_state is h11.DONE and self.client.their_state is h11.DONE:
                self.client.start_next_cycle()
        except h11.LocalProtocolError:
            self.alive = False

    def closed(self) -> None:
        if self.current is not None:
            self._finish(partial=True)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, feed) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                feed(b"")  # EOF ends a body delimited by the connection's close
                break
            feed(data)
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


async def _serve_one(upstream: str, recorder: Recorder, c_reader, c_writer) -> None:
    try:
        u_reader, u_writer = await asyncio.open_unix_connection(upstream, limit=1 << 20)
    except OSError:
        c_writer.close()
        return
    ex = Exchange(recorder)
    up = asyncio.ensure_future(_pump(c_reader, u_writer, ex.from_client))
    down = asyncio.ensure_future(_pump(u_reader, c_writer, ex.from_engine))
    await asyncio.wait({down}, return_when=asyncio.ALL_COMPLETED)
    ex.closed()
    up.cancel()
    for w in (u_writer, c_writer):
        try:
            w.close()
        except OSError:
            pass


class _ReadOnlyServer:
    """h11's server role expects to send responses before reading the next request; a proxy never
    sends, so each request is parsed with a fresh server-role Connection fed what follows."""

    def __init__(self) -> None:
        self._conn = h11.Connection(h11.SERVER)
        self._buf = b""

    def receive_data(self, data: bytes) -> None:
        self._conn.receive_data(data)

    def next_event(self):
        ev = self._conn.next_event()
        if isinstance(ev, h11.EndOfMessage):
            rest, _ = self._conn.trailing_data
            self._conn = h11.Connection(h11.SERVER)
            if rest:
                self._conn.receive_data(bytes(rest))
        return ev


async def main_async(listen: str, upstream: str, record: str) -> None:
    recorder = Recorder(record)
    if os.path.exists(listen):
        os.unlink(listen)
    # asyncio keeps only weak references to tasks: a connection whose client half-closed (the CLI
    # after an attach's 101) is referenced by nothing else, and its task would be collected
    # mid-stream. Every connection's task is held here until it ends.
    live: set[asyncio.Task[None]] = set()

    def connected(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(_serve_one(upstream, recorder, r, w))
        live.add(task)
        task.add_done_callback(live.discard)

    server = await asyncio.start_unix_server(connected, path=listen, limit=1 << 20)
    os.chmod(listen, 0o660)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    try:
        os.unlink(listen)
    except OSError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--record", required=True)
    args = ap.parse_args()
    asyncio.run(main_async(args.listen, args.upstream, args.record))


if __name__ == "__main__":
    main()
