"""API layer: the JSON of `GET /containers/json` rows and `GET /containers/{id}/json`, rendered once.

A container's answer changes only when the engine's state does, so each one is kept encoded per
container and API version, with the container's revision (`Facts.revision`: its own saved
records and events, every one that is no container's, and what changes in memory only). A
request whose revision matches sends the kept bytes; any other renders and keeps anew. The list's
Status ("Up 5 minutes") depends on the clock, not on the state: a row is kept as the bytes before
and after its Status value, and the value is written again when its text changes. Issue 17: this
took the list of 50 containers from the rendering of 50 rows (network view, version tables, JSON
encoding) per request to one join; with revisions per container (engine/containers/revisions.py)
one container's change re-renders its own row only (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Hashable
from typing import Any

from aiohttp import web

from shim.api.responses import dumps
from shim.engine.containers import ContainerService
from shim.engine.model import Container
from shim.translate import containers as tr
from shim.translate.versions import Version

# Stands for a row's Status while it is encoded; random per process, so no label or path a client
# chose can hold it (a row that holds it twice anyway is rendered per request, never kept).
_MARK = "shim-status-" + secrets.token_hex(16)
_MARK_JSON = json.dumps(_MARK).encode()
# list bodies kept per API version: `docker ps`, `docker ps -a` and a filter or two side by side
_BODIES = 4


class _Row:
    """A list row kept: its JSON around the Status value, and the whole row with the Status it
    had at the last request, which stays right until `until` (ns) while the revision holds."""

    __slots__ = ("body", "head", "rev", "tail", "until")

    def __init__(self, rev: Hashable, head: bytes, tail: bytes | None) -> None:
        self.rev, self.head, self.tail = rev, head, tail
        self.until, self.body = 0, head


class RenderCache:
    def __init__(self) -> None:
        # API version -> container ID -> rendering (with the revision it was made at)
        self._rows: dict[Version, dict[str, _Row]] = {}
        self._inspect: dict[Version, dict[str, tuple[Hashable, bytes]]] = {}
        # API version -> the last few list bodies, each with the rows it joined (a new list whose
        # rows are the very same objects, in the same order, sends the same body: no 500-row join)
        self._bodies: dict[Version, list[tuple[list[bytes], bytes]]] = {}
        # renderings of removed containers are dropped when a cache doubles (amortised: no scan per request)
        self._limits = {"rows": 256, "inspect": 256}

    def list_body(self, svc: ContainerService, found: list[Container], version: Version) -> bytes:
        """The body of GET /containers/json (without sizes) for `found`, in its order. A kept row
        costs a revision and a clock comparison: its Status ("Up 5 minutes") is written again only
        when the text changes (a second, a minute or half an hour later: go-units' HumanDuration)."""
        now = time.time_ns()
        parts: list[bytes] = []
        rows = self._rows.setdefault(version, {})
        revision = svc.facts.revision
        for c in found:
            rev = revision(c)
            kept = rows.get(c.id)
            if kept is None or kept.rev != rev:
                row = tr.list_item_out(c, version, svc.facts.extra(c), now)
                split = _split_row(row)
                if split is None:  # the row's own strings hold the mark: rendered per request
                    parts.append(dumps(row).encode())
                    continue
                kept = rows[c.id] = _Row(rev, *split)
            if now >= kept.until:
                if kept.tail is None:
                    kept.until = tr.FOREVER
                else:
                    status, kept.until = tr.status_until(c, now)
                    kept.body = kept.head + _status_json(status) + kept.tail
            parts.append(kept.body)
        self._trim(svc, rows, "rows")
        return self._joined(version, parts)

    def _joined(self, version: Version, parts: list[bytes]) -> bytes:
        bodies = self._bodies.setdefault(version, [])
        for i, (joined, body) in enumerate(bodies):
            if joined == parts:  # compares lengths, then each row by identity first
                bodies.insert(0, bodies.pop(i))
                return body
        out = [b"["]
        for part in parts:
            out += (part, b",")
        out[-1] = b"]\n" if parts else b"[]\n"
        body = b"".join(out)
        bodies.insert(0, (parts, body))
        del bodies[_BODIES:]
        return body

    def inspect_body(self, svc: ContainerService, c: Container, version: Version) -> bytes:
        """The body of GET /containers/{id}/json (without sizes)."""
        rev = svc.facts.revision(c)
        bodies = self._inspect.setdefault(version, {})
        kept = bodies.get(c.id)
        if kept is None or kept[0] != rev:
            body = (dumps(tr.inspect_out(c, version, svc.facts.extra(c))) + "\n").encode()
            kept = bodies[c.id] = (rev, body)
            self._trim(svc, bodies, "inspect")
        return kept[1]

    def _trim(self, svc: ContainerService, kept: dict[str, Any], which: str) -> None:
        if len(kept) <= self._limits[which]:
            return
        for cid in [cid for cid in kept if not svc.facts.exists(cid)]:
            del kept[cid]
        self._limits[which] = max(256, 2 * len(kept))


@functools.lru_cache(maxsize=1024)
def _status_json(status: str) -> bytes:
    return dumps(status).encode()


def _split_row(row: dict[str, Any]) -> tuple[bytes, bytes | None] | None:
    """A row's JSON as (before its Status value, after it); (all of it, None) without a Status;
    None when the mark shows up elsewhere in the row."""
    if "Status" not in row:
        return dumps(row).encode(), None
    status = row["Status"]
    row["Status"] = _MARK
    head, sep, tail = dumps(row).encode().partition(_MARK_JSON)
    row["Status"] = status
    if not sep or _MARK_JSON in tail:
        return None
    return head, tail


RENDER_CACHE = web.AppKey("render_cache", RenderCache)
