"""The API over TLS: dockerd's tlsconfig.Server, served so that a bad client is named and harmless.

Why not `loop.create_server(ssl=...)`: asyncio's TLS transport (a) drops a failed handshake
without a word unless the loop is in debug mode, and dockerd logs each one
(`http: TLS handshake error from ADDR: …`); (b) cannot half-close: when the client ends its
side (the CLI's CloseWrite after stdin EOF in `docker run -i`/`exec -i`), asyncio sends
close_notify and closes, and the container's remaining output is lost ("returning true from
eof_received() has no effect when using ssl"). Go's tls.Conn keeps writing.

So each TCP connection gets its own handshake (ssl.MemoryBIO, a timeout, never blocking the
other clients), then a relay to aiohttp through a socketpair: ciphertext ↔ plaintext, with a
client's close_notify or FIN passed on as a half-close, as a plain socket would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

log = logging.getLogger("shim.api")

HANDSHAKE_TIMEOUT = 60.0  # asyncio's default; a stalled client only holds its own task
CHUNK = 256 * 1024

# Go's net/http answer to plain HTTP on a TLS port (what `docker` prints against dockerd).
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

# OpenSSL verify codes meaning "not signed by a CA we trust" (Go: x509.UnknownAuthorityError).
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}


class TLSConfigError(Exception):
    pass


def server_context(cacert: str, cert: str, key: str, *, verify: bool) -> ssl.SSLContext:
    """TLS ≥ 1.2 with our key pair; with `verify`, a client certificate signed by `cacert` only
    (tls.RequireAndVerifyClientCert over an exclusive root pool, as dockerd)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise TLSConfigError(
            f'invalid TLS configuration: could not load X509 key pair (cert: "{cert}", key: "{key}"): {_why(e)}'
        ) from None
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_verify_locations(cafile=cacert)
        except (OSError, ssl.SSLError) as e:
            why = _why(e)
            raise TLSConfigError(
                f'invalid TLS configuration: could not read CA certificate "{cacert}": {why}'
            ) from None
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _why(e: BaseException) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def describe_handshake_error(exc: BaseException) -> str:
    """What went wrong, in words an operator can act on (logged with the client's address)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, msg = exc.verify_code, exc.verify_message
        if code in _UNKNOWN_AUTHORITY:
            return f"client certificate refused: certificate signed by unknown authority ({msg})"
        return f"client certificate refused: {msg}"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return "client sent no certificate (--tlsverify requires one signed by the daemon's --tlscacert)"
        if reason == "HTTP_REQUEST":
            return "client sent an HTTP request to an HTTPS server"
        return f"tls: {reason or exc}"
    if isinstance(exc, TimeoutError):
        return f"handshake not completed within {HANDSHAKE_TIMEOUT:.0f}s"
    return "EOF" if isinstance(exc, EOFError | ConnectionError) else (str(exc) or type(exc).__name__)


class TLSServer:
    """Accepts on one listening TCP socket; hands each verified connection to `app_factory`."""

    def __init__(
        self,
        sock: socket.socket,
        ctx: ssl.SSLContext,
        app_factory: Callable[[], asyncio.Protocol],
        *,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self._sock = sock
        self._ctx = ctx
        self._factory = app_factory
        self._timeout = handshake_timeout
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accepted, sock=self._sock, backlog=1024, limit=CHUNK)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_accepting()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # close() at shutdown: end quietly (asyncio's stream callback would log a cancelled task as an error)
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            async with asyncio.timeout(self._timeout):
                await _handshake(tls, incoming, outgoing, reader, writer)
        except (ssl.SSLError, EOFError, OSError) as e:  # OSError: TimeoutError, ConnectionError, …
            log.warning("http: TLS handshake error from %s: %s", peer, describe_handshake_error(e))
            with contextlib.suppress(OSError, RuntimeError):
                if isinstance(e, ssl.SSLError) and getattr(e, "reason", None) == "HTTP_REQUEST":
                    writer.write(PLAIN_HTTP_ANSWER)
                else:
                    writer.write(outgoing.read())  # the alert, so the client learns why
                await writer.drain()
            return
        await _relay(tls, incoming, outgoing, reader, writer, self._factory)


def _peer(writer: asyncio.StreamWriter) -> str:
    addr = writer.get_extra_info("peername")
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


async def _handshake(
    tls: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    outgoing: ssl.MemoryBIO,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                writer.write(pending)
                await writer.drain()
            data = await reader.read(CHUNK)
            if not data:
                raise EOFError from None
            incoming.write(data)
    pending = outgoing.read()
    if pending:
        writer.write(pending)
        await writer.drain()


async def _relay(
    tls: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    outgoing: ssl.MemoryBIO,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    factory: Callable[[], asyncio.Protocol],
) -> None:
    loop = asyncio.get_running_loop()
    app_sock, relay_sock = socket.socketpair()
    try:
        await loop.connect_accepted_socket(factory, app_sock)
    except BaseException:
        app_sock.close()
        relay_sock.close()
        raise
    app_reader, app_writer = await asyncio.open_connection(sock=relay_sock, limit=CHUNK)
    up = asyncio.create_task(_client_to_app(tls, incoming, outgoing, reader, writer, app_writer))
    try:
        await _app_to_client(tls, outgoing, app_reader, writer)
    except (OSError, ssl.SSLError) as e:
        log.debug("TLS relay to %s ended: %s", _peer(writer), e)
    finally:
        up.cancel()
        await asyncio.gather(up, return_exceptions=True)
        app_writer.close()


async def _client_to_app(
    tls: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    outgoing: ssl.MemoryBIO,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    app_writer: asyncio.StreamWriter,
) -> None:
    """Decrypt what the client sends; its close_notify or FIN becomes a half-close towards aiohttp."""
    try:
        while True:
            ended = _decrypt_into(tls, app_writer)
            pending = outgoing.read()  # TLS 1.3 may answer a read (key update)
            if pending:
                writer.write(pending)
            if ended:
                break
            await app_writer.drain()
            data = await reader.read(CHUNK)
            if not data:
                break
            incoming.write(data)
        await app_writer.drain()
        if app_writer.can_write_eof():
            app_writer.write_eof()
    except (OSError, ssl.SSLError) as e:
        log.debug("TLS relay from %s ended: %s", _peer(writer), e)
        app_writer.close()


def _decrypt_into(tls: ssl.SSLObject, app_writer: asyncio.StreamWriter) -> bool:
    """Move every decrypted byte available to the app; True once the client sent close_notify."""
    try:
        while True:
            chunk = tls.read(CHUNK)
            if not chunk:
                return True
            app_writer.write(chunk)
    except ssl.SSLWantReadError:
        return False
    except ssl.SSLZeroReturnError:
        return True


async def _app_to_client(
    tls: ssl.SSLObject, outgoing: ssl.MemoryBIO, app_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Encrypt aiohttp's answer; when aiohttp closes, end the TLS session (close_notify) and the connection."""
    while True:
        data = await app_reader.read(CHUNK)
        if not data:
            break
        tls.write(data)
        writer.write(outgoing.read())
        await writer.drain()
    with contextlib.suppress(ssl.SSLError):
        tls.unwrap()
    pending = outgoing.read()
    if pending:
        writer.write(pending)
        with contextlib.suppress(OSError):
            await writer.drain()
