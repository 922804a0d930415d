"""Engine layer: intent records, so that an operation cut by a crash is finished or undone at start.

A multi-step operation (a container's create, start or removal) writes an intent before its
first step that changes the host and clears it after its last one (docs/RELIABILITY.md lists
every operation's steps). An intent still there at daemon start names an operation that a
SIGKILL (or a power loss) interrupted: the service that owns it reads its facts and either
finishes the operation or undoes what was done, whatever step it reached; every step is
idempotent for that reason.

Intents are store objects (`<data-root>/db/intents/<op>.<id>.json`, written by temp+rename like
every record), one per operation in flight: a handful at a time, read once at start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from shim.engine.store import Store

log = logging.getLogger("shim.intents")

KIND = "intents"


@dataclasses.dataclass(slots=True, frozen=True)
class Intent:
    op: str  # "create" | "start" | "remove" (containers)
    oid: str
    facts: dict[str, Any]


class Journal:
    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _key(op: str, oid: str) -> str:
        return f"{op}.{oid}"

    async def begin(self, op: str, oid: str, **facts: Any) -> None:
        """Record the intent (durable once this returns: the operation's first step may follow)."""
        await self._store.aput(KIND, self._key(op, oid), {"op": op, "id": oid, "facts": facts})

    async def end(self, op: str, oid: str) -> None:
        """The operation is complete (or undone): nothing left to recover."""
        await self._store.adelete(KIND, self._key(op, oid))

    async def end_after(self, op: str, oid: str, kind: str, obj: Any) -> None:
        """The operation's last write, `obj` saved as `kind`/`oid`, then its intent cleared, in one
        trip off the loop (Store.aput_then_delete): the intent stays if the write fails (it raises);
        a failure to clear it is only logged (the next start clears it, as after `end`'s)."""
        await self._store.aput_then_delete(kind, oid, obj, KIND, self._key(op, oid))

    async def pending(self) -> list[Intent]:
        """Daemon start: the operations a crash interrupted. A torn record is dropped with a log line."""
        out = []
        for key, rec in (await asyncio.to_thread(self._store.load_all, KIND)).items():
            try:
                out.append(Intent(op=str(rec["op"]), oid=str(rec["id"]), facts=dict(rec.get("facts") or {})))
            except (TypeError, KeyError, ValueError, AttributeError):
                log.error("intent %s: unreadable record, dropped", key)
                await self._store.adelete(KIND, key)
        return out
