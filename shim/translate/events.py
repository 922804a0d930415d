"""Translate layer: GET /events messages and their stream encoding, per API version.

The engine keeps events in moby's current shape (Type/Action/Actor/scope/time/timeNano).
Below 1.52 dockerd backfills the deprecated `status`/`id`/`from` fields for container and
image events (moby backFillLegacy: the CLI before 25.0 panics without them); from 1.52 they
are gone. Image `create` events exist from 1.46. The stream's media type is negotiated from
the Accept header (x-ndjson, json-seq and, documented at 1.53, jsonl): the default is
`application/json` below 1.52 and `application/jsonl` from it (moby getEvents).
"""

from __future__ import annotations

from typing import Any

from shim.translate.versions import Version

JSON = "application/json"
JSON_LINES = "application/jsonl"
NDJSON = "application/x-ndjson"
JSON_SEQ = "application/json-seq"
_OFFERS = (JSON_LINES, NDJSON, JSON_SEQ)


def event_out(ev: dict[str, Any], version: Version) -> dict[str, Any] | None:
    """The event as the asked version shows it; None when that version has no such event."""
    if version.lt("1.46") and ev.get("Type") == "image" and ev.get("Action") == "create":
        return None
    if version.ge("1.52") or ev.get("Type") not in ("container", "image"):
        return ev
    actor = ev.get("Actor") or {}
    legacy: dict[str, Any] = {"status": ev.get("Action"), "id": actor.get("ID", "")}
    if ev["Type"] == "container":
        legacy["from"] = (actor.get("Attributes") or {}).get("image", "")
    return {**legacy, **ev}


def _accept(header: str) -> list[tuple[str, float]]:
    specs = []
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        specs.append((fields[0].lower(), q))
    return specs


def content_type(accept: str | None, version: Version) -> str:
    """contenttype.MatchAcceptStrict over the three offers, else the version's default."""
    best, best_q = "", -1.0
    specs = _accept(accept or "")
    for offer in _OFFERS:
        for value, q in specs:
            if q == 0 or value != offer:
                continue
            if q > best_q:
                best, best_q = offer, q
    if best:
        return best
    return JSON if version.lt("1.52") else JSON_LINES


def record_prefix(ctype: str) -> str:
    """RFC 7464: every json-seq record starts with an ASCII record separator."""
    return "\x1e" if ctype == JSON_SEQ else ""
