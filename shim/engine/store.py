"""Engine layer: the on-disk store, one JSON file per object.

`<data-root>/db/<kind>/<id>.json`, written to a temp file and renamed over the old
one, so a crash (even SIGKILL mid-write) leaves either the old or the new object,
never a torn one. Leftover temp files from a crash are ignored and swept at load.
Writes are small (a few KB) and synchronous; async callers use the `a*` variants.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shim.errors import host_fault

log = logging.getLogger("shim.store")


def encode(obj: Any) -> bytes:
    """An object's file: compact JSON (json.dumps, the C encoder; a few KB take ~0.05 ms)."""
    return json.dumps(obj, separators=(",", ":")).encode()


class Store:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root) / "db"
        self.root.mkdir(parents=True, exist_ok=True)
        # kind -> IDs whose file the last load_all could not read (a torn or foreign file): a
        # service may want to leave what such an object holds alone rather than treat it as unknown
        self.unreadable: dict[str, set[str]] = {}
        # Every put and delete is told to the listeners with its kind and ID (the a* variants at
        # once, on the loop, and again from the thread that writes): the renderings the API keeps
        # (api/rendercache.py) follow them (engine/containers/revisions.py).
        self._listeners: list[Callable[[str, str], None]] = []
        self._db = str(self.root)  # the write path joins strings: pathlib's joins cost more than the write's syscalls

    def on_write(self, fn: Callable[[str, str], None]) -> None:
        """Call `fn(kind, oid)` at every put and delete, on the thread that makes it."""
        self._listeners.append(fn)

    def _wrote(self, kind: str, oid: str) -> None:
        for fn in self._listeners:
            fn(kind, oid)

    def _dir(self, kind: str) -> Path:
        d = self.root / kind
        d.mkdir(exist_ok=True)
        return d

    def put(self, kind: str, oid: str, obj: Any) -> None:
        """Atomic: the old object or the new one survives a crash. A failed write (a full disk)
        leaves the old object and no temp file, and raises SystemFailure with the OS's words."""
        self._put_encoded(kind, oid, encode(obj))

    def _write(self, kind: str, oid: str, data: bytes) -> None:
        d = f"{self._db}/{kind}"
        tmp = f"{d}/.{oid}.json.tmp"
        try:
            try:
                f = open(tmp, "wb")
            except FileNotFoundError:  # the kind's first object, or its directory removed under us
                os.makedirs(d, exist_ok=True)
                f = open(tmp, "wb")
            with f:
                f.write(data)
            os.replace(tmp, f"{d}/{oid}.json")
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            # Go's words for the file dockerd would have written (`write …/config.v2.json: no space left on device`)
            e.filename = None
            raise host_fault(e, f"write {self.root / kind / (oid + '.json')}") from e

    def get(self, kind: str, oid: str) -> Any | None:
        try:
            return json.loads((self.root / kind / f"{oid}.json").read_bytes())
        except FileNotFoundError:
            return None

    def delete(self, kind: str, oid: str) -> None:
        self._wrote(kind, oid)
        try:
            os.unlink(f"{self._db}/{kind}/{oid}.json")
        except FileNotFoundError:
            pass

    def load_all(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        bad: set[str] = set()
        d = self._dir(kind)
        for p in d.iterdir():
            if p.name.startswith("."):
                if p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)
                continue
            if not p.name.endswith(".json"):
                continue
            try:
                out[p.name[:-5]] = json.loads(p.read_bytes())
            except (ValueError, OSError) as e:  # never fatal to the daemon's start
                log.error("store: unreadable object %s, skipped: %s", p, e)
                bad.add(p.name[:-5])
        self.unreadable[kind] = bad
        return out

    async def aput(self, kind: str, oid: str, obj: Any) -> None:
        """`obj` is encoded here, before the first await: what is written is the object as it is at
        the call, and a caller may pass a view that shares its live state (Container.to_dict)."""
        self._wrote(kind, oid)  # at once, not when the thread runs: the change is already in memory
        await asyncio.to_thread(self._put_encoded, kind, oid, encode(obj))

    def _put_encoded(self, kind: str, oid: str, data: bytes) -> None:
        self._wrote(kind, oid)
        self._write(kind, oid, data)

    async def adelete(self, kind: str, oid: str) -> None:
        self._wrote(kind, oid)
        await asyncio.to_thread(self.delete, kind, oid)

    async def aput_then_delete(self, kind: str, oid: str, obj: Any, gone_kind: str, gone_oid: str) -> None:
        """`aput(kind, oid, obj)`, then `delete(gone_kind, gone_oid)`, in that order in one thread
        hop instead of two (an operation's record, then its intent: issue 17, a start's last step).
        The delete is made only once the put has succeeded; a put's failure raises as `aput`'s, a
        delete's is logged and not raised (the caller's operation is complete by then)."""
        self._wrote(kind, oid)
        self._wrote(gone_kind, gone_oid)
        await asyncio.to_thread(self._put_then_delete, kind, oid, encode(obj), gone_kind, gone_oid)

    def _put_then_delete(self, kind: str, oid: str, data: bytes, gone_kind: str, gone_oid: str) -> None:
        self._put_encoded(kind, oid, data)
        try:
            self.delete(gone_kind, gone_oid)
        except OSError as e:
            log.error("store: deleting %s/%s: %s", gone_kind, gone_oid, e)
