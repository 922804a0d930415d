"""Engine layer: `docker pull`, as dockerd's puller (distribution/pull_v2.go, xfer/download.go).

One pull of one reference:
1. the manifest from the first endpoint that answers (mirrors fall through to the origin,
   HTTPS to HTTP for insecure registries); errors up to here are plain HTTP errors;
2. `Pulling from <path>`; from now on errors travel in the stream;
3. an index resolves to the wanted platform's manifest (fetched by digest, verified);
4. the config (bounded, verified against its digest = the image ID); an image already in
   the store ends the work here (no per-layer lines, as dockerd);
5. each layer: `Already exists` when its diff ID is in the store, else `Pulling fs layer`,
   `Waiting` beyond max-concurrent-downloads, `Downloading` with counts (bounded by the
   manifest's size), `Verifying Checksum`, `Download complete`, `Extracting`, `Pull complete`;
   layers unpack as soon as they are downloaded (each is its own diff, no parent needed);
6. the image, its tag and RepoDigest registered; `Digest:` and `Status:` lines.

Anything failing or cancelled (the client went away) stops every download and unpack and
removes the layers this pull added that no image uses: nothing half-pulled stays behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import threading
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from shim.engine.distribution import manifest as mf
from shim.engine.distribution.blobindex import BlobSource
from shim.engine.distribution.errors import pull_error
from shim.engine.distribution.progress import Progress, counting, message, update
from shim.engine.imageports import (
    BlobWriter,
    Endpoint,
    LayerInfo,
    RegistryAuth,
    RegistryError,
    RegistryRepository,
    RegistryUnreachable,
)
from shim.engine.refs import ImageRef
from shim.errors import InvalidParameter, SystemFailure

if TYPE_CHECKING:
    from shim.engine.distribution.service import DistributionService

PROGRESS_EVERY = 512 * 1024  # moby's progress reader updates every 512 KiB
WRITE_BATCH = 1 << 20  # bytes handed to the writer thread at once


class Aborted(Exception):
    """Raised inside a worker thread when the pull was cancelled or failed elsewhere."""


@dataclasses.dataclass(slots=True)
class _Resolved:
    endpoint: Endpoint
    repo: RegistryRepository
    fetched_digest: str
    document: mf.ImageManifest | mf.ManifestIndex
    size: int


async def resolve(svc: DistributionService, ref: ImageRef, auth: RegistryAuth) -> _Resolved:
    """The manifest `ref` names, from the first endpoint that has it (plain errors: nothing streamed yet)."""
    last: RegistryError | RegistryUnreachable | None = None
    for ep in await svc.registry.endpoints(ref.domain, push=False):
        repo = svc.registry.repository(ep, ref.path, auth, push=False)
        try:
            fetched = await repo.get_manifest(ref.digest or ref.tag or "latest", mf.ACCEPT, mf.MAX_MANIFEST)
        except RegistryUnreachable as e:
            last = e
            continue
        except RegistryError as e:
            if ep.mirror:  # continueOnError: whatever a mirror says, the origin is asked next
                last = e
                continue
            raise pull_error(e, ref) from None
        digest = "sha256:" + hashlib.sha256(fetched.data).hexdigest()
        if ref.digest and digest != ref.digest:
            raise SystemFailure(f"manifest verification failed for digest {ref.digest}")
        try:
            doc = mf.parse(fetched.data, fetched.media_type)
        except mf.Schema1Refused:
            raise InvalidParameter(mf.schema1_message(ref.familiar)) from None
        return _Resolved(ep, repo, digest, doc, len(fetched.data))
    if last is None:
        raise SystemFailure(f"no endpoints found for {ref.name}")
    raise pull_error(last, ref)


@dataclasses.dataclass(slots=True)
class _Layer:
    desc: mf.Descriptor
    diff_id: str  # from the config: what the blob must decompress to
    path: str = ""  # the downloaded blob (staging)
    writer: BlobWriter | None = None
    added: bool = False  # this pull created the layer in the store


class LayerPuller:
    """Downloads and unpacks one image's layers; every fact goes through `emit`."""

    def __init__(
        self, svc: DistributionService, repo: RegistryRepository, repository: str, emit: Callable[[Progress], None]
    ) -> None:
        self.svc, self.repo, self.repository, self.emit = svc, repo, repository, emit
        self.abort = threading.Event()
        self.downloads = asyncio.Semaphore(max(1, svc.max_downloads))
        self.unpacks = asyncio.Semaphore(2)  # two cores: more unpacks at once only thrash
        self.loop = asyncio.get_running_loop()

    async def _blocking(self, fn: Callable[[], Any], *, abort: bool = True) -> Any:
        """Run in the distribution pool; if we are cancelled, wait for the thread to finish (an
        unpack notices `abort` and undoes itself) so that its cleanup is done before ours."""
        cf = self.svc.pool.submit(fn)
        try:
            # shielded: a cancellation must not drop a queued cleanup before it ran
            return await asyncio.shield(asyncio.wrap_future(cf))
        except asyncio.CancelledError:
            if abort:
                self.abort.set()
            await _settle(cf)
            raise

    async def pull(self, layers: list[_Layer]) -> None:
        todo = []
        for layer in layers:
            if await asyncio.to_thread(self.svc.layers.has_layer, layer.diff_id):
                self.emit(update(layer.desc.short_id, "Already exists"))
                await self.svc.blobs.add(layer.diff_id, self._source(layer.desc))
            else:
                todo.append(layer)
        for layer in todo:
            self.emit(update(layer.desc.short_id, "Pulling fs layer"))
        tasks = [asyncio.ensure_future(self._one(layer)) for layer in todo]
        if not tasks:
            return
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                exc = t.exception()
                if exc is not None:
                    raise exc
        except BaseException:
            self.abort.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._undo(todo)
            raise

    async def _one(self, layer: _Layer) -> None:
        try:
            await self._download(layer)
            async with self.unpacks:
                await self._unpack(layer)
        finally:
            if layer.writer is not None or layer.path:
                await self._blocking(lambda: self._discard(layer), abort=False)

    def _discard(self, layer: _Layer) -> None:
        if layer.writer is not None:
            layer.writer.close()
            layer.writer = None
        if layer.path:
            self.svc.layers.discard(layer.path)
            layer.path = ""

    def _open(self, layer: _Layer) -> BlobWriter:
        # set on the layer from the thread itself: a cancellation while we wait still finds them
        layer.path = self.svc.layers.staging_file()
        layer.writer = self.svc.layers.blob_writer(layer.path)
        return layer.writer

    async def _download(self, layer: _Layer) -> None:
        sid, size = layer.desc.short_id, layer.desc.size
        if self.downloads.locked():
            self.emit(update(sid, "Waiting"))
        async with self.downloads:
            writer: BlobWriter = await self._blocking(lambda: self._open(layer))
            received = reported = 0
            try:
                blob = await self.repo.open_blob(layer.desc.digest)
                try:
                    batch: list[bytes] = []
                    pending = 0
                    async for chunk in blob.chunks():
                        received += len(chunk)
                        if received > size:  # bounded by the manifest: a never-ending blob is an error
                            raise SystemFailure(f"blob {layer.desc.digest} is larger than the {size} bytes announced")
                        batch.append(chunk)
                        pending += len(chunk)
                        if pending >= WRITE_BATCH:
                            await asyncio.to_thread(writer.write, b"".join(batch))
                            batch, pending = [], 0
                        if received - reported >= PROGRESS_EVERY:
                            reported = received
                            self.emit(counting(sid, "Downloading", received, size))
                    if batch:
                        await asyncio.to_thread(writer.write, b"".join(batch))
                finally:
                    await blob.close()
            finally:
                layer.writer = None
                digest = await asyncio.to_thread(writer.close)
            if received != reported:
                self.emit(counting(sid, "Downloading", received, size))
            self.emit(update(sid, "Verifying Checksum"))
            if received != size or digest != layer.desc.digest:
                raise SystemFailure(f"filesystem layer verification failed for digest {layer.desc.digest}")
            self.emit(update(sid, "Download complete"))

    async def _unpack(self, layer: _Layer) -> None:
        sid, total = layer.desc.short_id, layer.desc.size
        emit_threadsafe = self._threadsafe_emit()

        def progress(done: int) -> None:
            if self.abort.is_set():
                raise Aborted()
            emit_threadsafe(counting(sid, "Extracting", done, total))

        def ingest() -> LayerInfo:
            existed = self.svc.layers.has_layer(layer.diff_id)
            info = self.svc.layers.add_layer(layer.path, progress=progress)
            layer.added = not existed  # set here: a cancelled pull's undo must see it
            return info

        info: LayerInfo = await self._blocking(ingest)
        if info.diff_id != layer.diff_id:
            raise SystemFailure("layers from manifest don't match image configuration")
        await self.svc.blobs.add(layer.diff_id, self._source(layer.desc))
        self.emit(update(sid, "Pull complete"))

    def _threadsafe_emit(self) -> Callable[[Progress], None]:
        loop, emit = self.loop, self.emit

        def threadsafe(p: Progress) -> None:
            loop.call_soon_threadsafe(emit, p)

        return threadsafe

    def _source(self, desc: mf.Descriptor) -> BlobSource:
        return BlobSource(desc.digest, desc.media_type, desc.size, self.repository)

    async def _undo(self, layers: list[_Layer]) -> None:
        """Remove the layers this pull created that nothing else uses (no image, no other pull)."""
        used = self.svc.used_diff_ids()
        for layer in layers:
            if layer.added and layer.diff_id not in used:
                await self._blocking(functools.partial(self.svc.layers.remove_layer, layer.diff_id), abort=False)


async def _settle(cf: concurrent.futures.Future[Any]) -> None:
    try:
        await asyncio.shield(asyncio.wrap_future(cf))
    except BaseException:  # the thread's own failure (Aborted) or its result: either way it is done
        pass


async def fetch_config(repo: RegistryRepository, desc: mf.Descriptor) -> bytes:
    """The image config blob, at most MAX_CONFIG bytes (a 10 GB "config" is an error, not a download)."""
    mf.check_config_type(desc.media_type)
    if desc.size > mf.MAX_CONFIG:
        raise SystemFailure(f"image config {desc.digest} is too large: {desc.size} bytes")
    blob = await repo.open_blob(desc.digest)
    parts: list[bytes] = []
    got = 0
    try:
        async for chunk in blob.chunks():
            got += len(chunk)
            if got > min(desc.size, mf.MAX_CONFIG):
                raise SystemFailure(f"image config {desc.digest} is larger than the {desc.size} bytes announced")
            parts.append(chunk)
    finally:
        await blob.close()
    data = b"".join(parts)
    if "sha256:" + hashlib.sha256(data).hexdigest() != desc.digest:
        raise SystemFailure(f"image config verification failed for digest {desc.digest}")
    return data


def diff_ids_of(config: bytes) -> list[str]:
    try:
        doc = json.loads(config)
        ids = doc["rootfs"]["diff_ids"]
        if doc["rootfs"].get("type") != "layers" or not isinstance(ids, list):
            raise ValueError
        return [mf.check_digest(d) for d in ids]
    except (ValueError, KeyError, TypeError, AttributeError, InvalidParameter):
        raise SystemFailure("invalid rootfs in image configuration") from None


@dataclasses.dataclass(slots=True)
class Outcome:
    image_id: str = ""
    updated: bool = False  # the tag (or digest) now names another image: "Downloaded newer image"


async def pull_tag(
    svc: DistributionService,
    ref: ImageRef,
    platform: mf.Platform | None,
    auth: RegistryAuth,
    first: _Resolved | None,
    out: Outcome,
) -> AsyncGenerator[Progress, None]:
    """One tag or digest (pullTag): yields progress and registers the image; ends with `Digest:`."""
    res = first or await resolve(svc, ref, auth)
    yield message(f"Pulling from {ref.path}", ref.digest or ref.tag or "")
    doc = res.document
    manifest_digest = res.fetched_digest
    if isinstance(doc, mf.ManifestIndex):
        want = platform or svc.host_platform
        chosen = mf.select(doc, want)
        fetched = await res.repo.get_manifest(chosen.digest, mf.ACCEPT, mf.MAX_MANIFEST)
        if "sha256:" + hashlib.sha256(fetched.data).hexdigest() != chosen.digest:
            raise SystemFailure(f"manifest verification failed for digest {chosen.digest}")
        inner = mf.parse(fetched.data, fetched.media_type)
        if not isinstance(inner, mf.ImageManifest):
            raise SystemFailure(f"no matching manifest for {want} in the manifest list entries")
        doc = inner
    for d in doc.layers:
        mf.check_layer_type(d.media_type)
    image_id = doc.config.digest
    config: bytes | None = None
    diff_ids: list[str] = []
    if not svc.images.has(image_id):
        config = await fetch_config(res.repo, doc.config)
        diff_ids = diff_ids_of(config)
        if len(diff_ids) != len(doc.layers):
            raise SystemFailure("layers from manifest don't match image configuration")
    if ref.digest:
        names, digests = [], [f"{ref.name}@{ref.digest}"]
        out.updated = svc.images.tagged(digests[0]) != image_id
    else:
        names, digests = [f"{ref.name}:{ref.tag}"], [f"{ref.name}@{manifest_digest}"]
        out.updated = svc.images.tagged(names[0]) != image_id
    with svc.holding(diff_ids):
        if config is not None:
            queue: asyncio.Queue[Progress | None] = asyncio.Queue()
            puller = LayerPuller(svc, res.repo, ref.name, queue.put_nowait)
            work = asyncio.ensure_future(puller.pull([_Layer(d, diff_ids[i]) for i, d in enumerate(doc.layers)]))
            work.add_done_callback(lambda _: queue.put_nowait(None))
            try:
                while (item := await queue.get()) is not None:
                    yield item
                await work
            finally:
                if not work.done():
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
        await svc.images.add_pulled(image_id, config, diff_ids, names, digests)
    out.image_id = image_id
    yield message(f"Digest: {manifest_digest}")
