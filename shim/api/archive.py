"""API layer: files in and out of containers (archive HEAD/GET/PUT), export, changes, and commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from shim.api import services
from shim.api.params import qbool
from shim.api.responses import empty_ok, json_response
from shim.api.streams import client_gone
from shim.errors import InvalidParameter
from shim.translate import volumes as tr

STAT_HEADER = "X-Docker-Container-Path-Stat"


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("path cannot be empty")
    return path


def _stat_header(st: Any) -> dict[str, str]:
    return {STAT_HEADER: tr.path_stat_header(st.name, st.size, st.mode, st.mtime_ns, st.link_target)}


async def _stream(
    request: web.Request, chunks: AsyncIterator[bytes], content_type: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    resp = web.StreamResponse(headers=headers)
    resp.content_type = content_type
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        async for chunk in chunks:
            await resp.write(chunk)
            if client_gone(request):
                return resp
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    return resp


async def head_archive(request: web.Request) -> web.Response:
    """HEAD /containers/{id}/archive?path= (the stat in X-Docker-Container-Path-Stat)"""
    st = await services.archive(request).stat(request.match_info["id"], _path(request))
    return web.Response(status=200, headers=_stat_header(st))


async def get_archive(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/archive?path= (a tar of the resource, its stat in the header)"""
    st, chunks = await services.archive(request).get(request.match_info["id"], _path(request))
    return await _stream(request, chunks, "application/x-tar", _stat_header(st))


async def put_archive(request: web.Request) -> web.Response:
    """PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID= (a tar extracted into a directory)"""
    await services.archive(request).put(
        request.match_info["id"],
        _path(request),
        request.content.iter_chunked(64 * 1024),
        no_overwrite_dir_nondir=qbool(request, "noOverwriteDirNonDir"),
        copy_uid_gid=qbool(request, "copyUIDGID"),
    )
    return empty_ok()


async def export(request: web.Request) -> web.StreamResponse:
    """GET /containers/{id}/export (the root filesystem as a tar)"""
    return await _stream(
        request, services.archive(request).export(request.match_info["id"]), "application/octet-stream"
    )


async def changes(request: web.Request) -> web.Response:
    """GET /containers/{id}/changes (Kind 0 modified, 1 added, 2 deleted)"""
    out = await services.archive(request).changes(request.match_info["id"])
    return json_response(out or None)


async def commit(request: web.Request) -> web.Response:
    """POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause="""
    q = request.query
    changes_ = [line for c in q.getall("changes", []) for line in c.splitlines() if line.strip()]
    image_id = await services.archive(request).commit(
        q.get("container", ""),
        repo=q.get("repo", ""),
        tag=q.get("tag", ""),
        author=q.get("author", ""),
        comment=q.get("comment", ""),
        changes=changes_,
        pause=qbool(request, "pause", True),
    )
    return json_response({"Id": image_id}, status=201)


ROUTES = [
    ("HEAD", "/containers/{id}/archive", head_archive),
    ("GET", "/containers/{id}/archive", get_archive),
    ("PUT", "/containers/{id}/archive", put_archive),
    ("GET", "/containers/{id}/export", export),
    ("GET", "/containers/{id}/changes", changes),
    ("POST", "/commit", commit),
]
