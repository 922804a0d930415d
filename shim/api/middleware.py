"""API layer: the middlewares every request goes through.

- the `/vX.Y` prefix: parsed, range-checked (dockerd's wording), put on request["version"];
- errors: ShimError subclasses rendered in one place with their status; JSON
  `{"message": ...}` from API 1.24, plain text below (as dockerd), empty body for 304;
- dockerd's common headers on every answer.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http import HttpVersion10

from shim import __version__
from shim.api.responses import dumps
from shim.errors import NotModified, ShimError
from shim.translate.versions import (
    DEFAULT_VERSION,
    MAX_VERSION,
    Version,
    advertised_max,
    check_supported,
    errors_as_text,
)

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

log = logging.getLogger("shim.api")

SERVER_HEADER = f"shim/{__version__} (linux)"
COMMON_HEADERS = {
    "Api-Version": str(MAX_VERSION),
    "Docker-Experimental": "false",
    "Ostype": "linux",
    "Server": SERVER_HEADER,
}


def _request_version(request: web.Request) -> Version | None:
    path = request.path
    if path.startswith("/v"):
        head = path[2:].split("/", 1)[0]
        if head[:1].isdigit():
            return Version.parse(head)
    return None


def error_response(request: web.Request, err: ShimError) -> web.Response:
    if isinstance(err, NotModified):
        return web.Response(status=304)
    version = request.get("version", DEFAULT_VERSION)
    if errors_as_text(version):
        return web.Response(
            status=err.status,
            body=(err.message + "\n").encode(),
            headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
        )
    return web.Response(
        status=err.status,
        body=(dumps({"message": err.message}) + "\n").encode(),
        content_type="application/json",
    )


def page_not_found() -> web.Response:
    resp = web.Response(status=404, body=b'{"message":"page not found"}\n', content_type="application/json")
    resp["bare"] = True
    return resp


# Go's net/http answer to a request line it can't read (dockerd's server): no HTTP/0.9 exchange.
_MALFORMED = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    b"400 Bad Request: malformed HTTP request"
)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.version < HttpVersion10:
        # aiohttp takes `GET /path` without a version as HTTP/0.9 and would answer it (issue 16)
        transport = request.transport
        if transport is not None:
            transport.write(_MALFORMED)
            transport.close()
        raise web.HTTPBadRequest()
    try:
        version = _request_version(request)
        if version is not None:
            request["version"] = version
            check_supported(version)
        else:
            request["version"] = DEFAULT_VERSION
        return await handler(request)
    except ShimError as err:
        if err.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, err.message)
        return error_response(request, err)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return page_not_found()
    except web.HTTPException:
        raise
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception:  # a real internal fault: 500, logged with its traceback, never shown as one
        # The client gets a reference to the log line, not Python's exception name or text (which
        # may hold host paths): issue 16.
        ref = secrets.token_hex(6)
        log.exception("internal error %s on %s %s", ref, request.method, request.path)
        return error_response(request, ShimError(f"internal server error (reference {ref} in the daemon's log)"))


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.get("bare") or response.status == 101:
        return
    for key, value in COMMON_HEADERS.items():
        if key == "Server" or key not in response.headers:
            response.headers[key] = value
    if "User-Agent" in request.headers and response.headers.get("Api-Version") == COMMON_HEADERS["Api-Version"]:
        response.headers["Api-Version"] = str(advertised_max(request.headers["User-Agent"]))
