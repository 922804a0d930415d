"""Translate layer (pure): the registry area's Docker shapes.

- progress facts -> the JSON messages the CLI draws (moby's streamformatter and jsonmessage):
  `{"status","progressDetail","progress","id"}`, the bar pre-drawn as the daemon does (no
  terminal: 200 columns, so the `[===>  ]` box is there) with go-units' HumanSize figures;
- the `X-Registry-Auth` header and the POST /auth body -> RegistryAuth (Go's JSON decoding
  is case-insensitive on field names; a header that does not decode is "no credentials", as
  dockerd treats it for pull and push);
- search results and the remote descriptor of GET /distribution/{name}/json.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shim import jsonin
from shim.engine.distribution.model import RemoteImage, SearchResult
from shim.engine.distribution.progress import Progress
from shim.engine.imageports import RegistryAuth
from shim.errors import InvalidParameter
from shim.translate.versions import Version

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits (`19.97kB`, `1.984MB`, `98B`)."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """jsonmessage.JSONProgress.String() at the daemon's width (200 columns, no start time)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:  # the reported current is larger (a tar against its compressed size)
        numbers = f"{human_size(current):>8}"
    return bar + numbers


def progress_json(p: Progress) -> dict[str, Any]:
    """One JSON message: a status line, a per-layer update (with counts), or the push's aux."""
    if p.aux is not None:
        return {"progressDetail": {}, "aux": {"Tag": p.aux.tag, "Digest": p.aux.digest, "Size": p.aux.size}}
    if p.message:
        out: dict[str, Any] = {"status": p.message}
    else:
        detail: dict[str, int] = {}
        if p.counts:
            if p.current:
                detail["current"] = p.current
            if p.total:
                detail["total"] = p.total
        out = {"status": p.action, "progressDetail": detail}
        if p.counts and (bar := progress_bar(p.current, p.total)):
            out["progress"] = bar
    if p.id:
        out["id"] = p.id
    return out


def error_json(message: str) -> dict[str, Any]:
    """streamformatter.FormatError: the failure once the stream has started."""
    return {"errorDetail": {"message": message}, "error": message}


def _field(doc: dict[str, Any], name: str) -> str:
    for k, v in doc.items():
        if k.lower() == name and isinstance(v, str):
            return v
    return ""


def auth_from_json(doc: Any) -> RegistryAuth:
    if not isinstance(doc, dict):
        return RegistryAuth()
    auth = RegistryAuth(
        username=_field(doc, "username"),
        password=_field(doc, "password"),
        identity_token=_field(doc, "identitytoken"),
        registry_token=_field(doc, "registrytoken"),
        server_address=_field(doc, "serveraddress"),
    )
    encoded = _field(doc, "auth")
    if encoded and not auth.username:  # the config file's `auth`: base64 of user:password
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            auth.username, auth.password = user, password
        except (binascii.Error, UnicodeDecodeError):
            pass
    return auth


def auth_from_header(value: str) -> RegistryAuth:
    """X-Registry-Auth: base64url JSON (the CLI's `e30=` is `{}`); undecodable means none."""
    if not value:
        return RegistryAuth()
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return auth_from_json(jsonin.loads(raw))
    except (binascii.Error, ValueError, InvalidParameter):
        return RegistryAuth()


def auth_from_body(body: bytes) -> RegistryAuth:
    """POST /auth's body (a JSON AuthConfig)."""
    doc = jsonin.loads(body or b"null")
    if not isinstance(doc, dict):
        raise InvalidParameter("invalid auth configuration")
    return auth_from_json(doc)


def login_json(status: str, token: str) -> dict[str, Any]:
    return {"Status": status, "IdentityToken": token}


def search_json(results: list[SearchResult]) -> list[dict[str, Any]]:
    return [
        {
            "star_count": r.star_count,
            "is_official": r.is_official,
            "name": r.name,
            "is_automated": r.is_automated,
            "description": r.description,
        }
        for r in results
    ]


def remote_image_json(r: RemoteImage) -> dict[str, Any]:
    desc: dict[str, Any] = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
    if r.urls:
        desc["urls"] = list(r.urls)
    return {"Descriptor": desc, "Platforms": r.platforms}


def pull_platform(value: str, v: Version) -> str:
    """`platform=` of POST /images/create counts from API 1.32 (dockerd ignores it below)."""
    return value if v.ge("1.32") else ""
