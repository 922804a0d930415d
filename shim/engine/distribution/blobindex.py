"""Engine layer: which registry blobs a local layer came from or went to (moby's V2 metadata).

A pulled layer is stored uncompressed, keyed by its diff ID; what the registry calls it is its
compressed digest. Remembering (diff ID -> [(digest, media type, repository)]) lets a pull say
`Already exists` without downloading, and lets a push reuse the digest it pushed before
(`Layer already exists`, the same manifest digest every time) or mount the blob from another
repository of the same registry (`Mounted from …`). One store record per diff ID.
"""

from __future__ import annotations

import asyncio
import dataclasses

from shim.engine import refs
from shim.engine.store import Store

KIND = "distribution"


@dataclasses.dataclass(frozen=True, slots=True)
class BlobSource:
    digest: str  # sha256:… of the compressed blob
    media_type: str
    size: int
    repository: str  # canonical repository name: 127.0.0.1:5000/busybox, docker.io/library/busybox


class BlobIndex:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_diff: dict[str, list[BlobSource]] = {}
        self._by_digest: dict[str, str] = {}

    async def restore(self) -> None:
        records = await asyncio.to_thread(self._store.load_all, KIND)
        for rec in records.values():
            try:
                diff_id = rec["diff_id"]
                sources = [BlobSource(**s) for s in rec["sources"]]
            except (KeyError, TypeError):
                continue
            self._by_diff[diff_id] = sources
            for s in sources:
                self._by_digest[s.digest] = diff_id

    def diff_id_of(self, digest: str) -> str | None:
        return self._by_digest.get(digest)

    def sources(self, diff_id: str) -> list[BlobSource]:
        return list(self._by_diff.get(diff_id, ()))

    async def add(self, diff_id: str, source: BlobSource) -> None:
        have = self._by_diff.setdefault(diff_id, [])
        if source in have:
            return
        # newest first: the last place a layer was seen is the best mount/existence candidate
        have[:] = [source, *[s for s in have if (s.digest, s.repository) != (source.digest, source.repository)]][:16]
        self._by_digest[source.digest] = diff_id
        await self._save(diff_id)

    async def forget(self, diff_id: str, source: BlobSource) -> None:
        have = self._by_diff.get(diff_id)
        if not have or source not in have:
            return
        have.remove(source)
        await self._save(diff_id)

    async def _save(self, diff_id: str) -> None:
        rec = {"diff_id": diff_id, "sources": [dataclasses.asdict(s) for s in self._by_diff[diff_id]]}
        await self._store.aput(KIND, refs.strip_algo(diff_id), rec)
