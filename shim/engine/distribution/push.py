"""Engine layer: `docker push`, as dockerd's pusher (distribution/push_v2.go, xfer/upload.go).

Per tag: `Preparing` for every layer (top first), then at most max-concurrent-uploads at a
time (`Waiting` beyond), each layer
- `Layer already exists` when a blob we know for its diff ID is in the target repository
  (HEAD), so a second push uploads nothing and gives the same manifest digest;
- `Mounted from <repo>` when another repository of the same registry has it (cross-repo mount);
- else gzip-compressed on the fly (deterministically), `Pushing` with the layer's bytes read
  against its size (current may pass total, as dockerd's), `Pushed`; the compressed digest is
  remembered for the next push and pull.
Then the config blob, the schema 2 manifest under the tag, `TAG: digest: … size: N` and the
aux `{Tag, Digest, Size}` docker-py reads. The pushed digest joins the image's RepoDigests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from shim.engine import refs
from shim.engine.distribution import manifest as mf
from shim.engine.distribution.blobindex import BlobSource
from shim.engine.distribution.errors import push_error
from shim.engine.distribution.progress import Progress, PushResult, counting, message, update
from shim.engine.imageports import GzipLayer, RegistryAuth, RegistryError, RegistryRepository, RegistryUnreachable
from shim.engine.refs import ImageRef
from shim.errors import SystemFailure

if TYPE_CHECKING:
    from shim.engine.distribution.service import DistributionService

PROGRESS_EVERY = 512 * 1024
GZIP_TYPES = (mf.DOCKER_LAYER, mf.OCI_LAYER_PREFIX + "v1.tar+gzip")
MAX_MOUNT_SOURCES = 4


def _short(digest: str) -> str:
    return refs.strip_algo(digest)[:12]


class LayerPusher:
    def __init__(
        self, svc: DistributionService, repo: RegistryRepository, ref: ImageRef, emit: Callable[[Progress], None]
    ) -> None:
        self.svc, self.repo, self.ref, self.emit = svc, repo, ref, emit
        self.uploads = asyncio.Semaphore(max(1, svc.max_uploads))
        self.loop = asyncio.get_running_loop()

    def mount_sources(self, diff_id: str) -> list[BlobSource]:
        """Known gzip blobs of this layer in other repositories of the same registry."""
        out = []
        for s in self.svc.blobs.sources(diff_id):
            if s.media_type not in GZIP_TYPES or s.repository == self.ref.name:
                continue
            try:
                src = refs.parse_image_ref(s.repository)
            except ValueError:
                continue
            if src.domain == self.ref.domain:
                out.append(s)
        return out[:MAX_MOUNT_SOURCES]

    async def push(self, diff_id: str) -> mf.Descriptor:
        sid = _short(diff_id)
        if self.uploads.locked():
            self.emit(update(sid, "Waiting"))
        async with self.uploads:
            # 1. a blob we pushed or pulled before, already in the target repository
            known = [s for s in self.svc.blobs.sources(diff_id) if s.media_type in GZIP_TYPES]
            known.sort(key=lambda s: s.repository != self.ref.name)
            for s in list({s.digest: s for s in known}.values())[:3]:
                if await self.repo.blob_exists(s.digest):
                    self.emit(update(sid, "Layer already exists"))
                    await self._remember(diff_id, s.digest, s.size)
                    return mf.Descriptor(mf.DOCKER_LAYER, s.digest, s.size)
            # 2. mounted from another repository of the same registry
            for s in self.mount_sources(diff_id):
                source = refs.parse_image_ref(s.repository).path
                if await self.repo.mount_blob(s.digest, source):
                    self.emit(update(sid, f"Mounted from {source}"))
                    await self._remember(diff_id, s.digest, s.size)
                    return mf.Descriptor(mf.DOCKER_LAYER, s.digest, s.size)
            # 3. compressed and uploaded
            total = await asyncio.to_thread(self.svc.layers.layer_size, diff_id)  # reads a file when not cached
            gz: GzipLayer = await asyncio.to_thread(self.svc.layers.gzip_layer, diff_id)
            reported = 0

            def consumed(n: int) -> None:
                nonlocal reported
                if n - reported >= PROGRESS_EVERY:
                    reported = n
                    self.emit(counting(sid, "Pushing", n, total))

            await self.repo.upload_blob(self._chunks(gz, consumed), lambda: gz.digest)
            self.emit(update(sid, "Pushed"))
            await self._remember(diff_id, gz.digest, gz.size)
            return mf.Descriptor(mf.DOCKER_LAYER, gz.digest, gz.size)

    async def _remember(self, diff_id: str, digest: str, size: int) -> None:
        await self.svc.blobs.add(diff_id, BlobSource(digest, mf.DOCKER_LAYER, size, self.ref.name))

    async def _chunks(self, gz: GzipLayer, consumed: Callable[[int], None]) -> AsyncIterator[bytes]:
        """The blocking compressor in the distribution pool, fed to the upload as it goes."""
        queue: asyncio.Queue[tuple[bytes, int] | BaseException | None] = asyncio.Queue(maxsize=4)
        stop = threading.Event()
        loop = self.loop

        def put(item: tuple[bytes, int] | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

        def run() -> None:
            try:
                for item in gz.chunks():
                    if stop.is_set():
                        return
                    put(item)
            except BaseException as e:
                if not stop.is_set():
                    put(e)
                return
            if not stop.is_set():
                put(None)

        cf = self.svc.pool.submit(run)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise SystemFailure(f"compressing layer: {item}")
                chunk, n = item
                consumed(n)
                yield chunk
        finally:
            stop.set()
            await _drain(queue, cf)


async def _drain(queue: asyncio.Queue[Any], cf: concurrent.futures.Future[None]) -> None:
    """Unblock a producer waiting on a full queue until its thread has returned."""
    while not cf.done():
        while not queue.empty():
            queue.get_nowait()
        await asyncio.wait([asyncio.wrap_future(cf)], timeout=0.05)


async def push_tag(
    svc: DistributionService, repo: RegistryRepository, ref: ImageRef, image_id: str
) -> AsyncGenerator[Progress, None]:
    img = svc.images.images[image_id]
    config = await asyncio.to_thread(svc.layers.get_config, image_id)
    diff_ids = list(dict.fromkeys(img.diff_ids))  # an image may list one diff twice: push it once
    queue: asyncio.Queue[Progress | None] = asyncio.Queue()
    pusher = LayerPusher(svc, repo, ref, queue.put_nowait)
    for d in reversed(diff_ids):
        queue.put_nowait(update(_short(d), "Preparing"))
    tasks = {d: asyncio.ensure_future(pusher.push(d)) for d in diff_ids}
    done = asyncio.ensure_future(asyncio.gather(*tasks.values()))
    done.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (item := await queue.get()) is not None:
            yield item
        descriptors = await done
    finally:
        if not done.done():
            done.cancel()
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
    by_diff = dict(zip(diff_ids, descriptors, strict=True))
    layers = [by_diff[d] for d in img.diff_ids]
    config_desc = mf.Descriptor(mf.DOCKER_CONFIG, image_id, len(config))
    if not await repo.blob_exists(image_id):
        await repo.upload_blob(_once(config), lambda: image_id)
    body = mf.build_schema2(config_desc, layers)
    await repo.put_manifest(ref.tag or "latest", body, mf.DOCKER_MANIFEST)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    yield message(f"{ref.tag}: digest: {digest} size: {len(body)}")
    await svc.images.add_repo_digest(image_id, f"{ref.name}@{digest}")
    yield Progress(aux=PushResult(ref.tag or "latest", digest, len(body)))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def push_tags(
    svc: DistributionService, ref: ImageRef, targets: list[tuple[ImageRef, str]], auth: RegistryAuth
) -> AsyncGenerator[Progress, None]:
    """Every tag to the first endpoint that answers (HTTPS, then HTTP for an insecure registry)."""
    yield message(f"The push refers to repository [{ref.name}]")
    endpoints = await svc.registry.endpoints(ref.domain, push=True)
    sources = sorted(
        {
            refs.parse_image_ref(s.repository).path
            for _, image_id in targets
            for d in svc.images.images[image_id].diff_ids
            for s in svc.blobs.sources(d)
            if s.repository != ref.name and s.repository.startswith(ref.domain + "/")
        }
    )[:MAX_MOUNT_SOURCES]
    last: RegistryError | RegistryUnreachable | None = None
    for ep in endpoints:
        repo = svc.registry.repository(ep, ref.path, auth, push=True, mount_from=sources)
        try:
            # speak to the registry once (ping, auth) before any progress: a transport error
            # here moves on to the next endpoint, as dockerd's fallback before confirmation
            await repo.blob_exists(targets[0][1])
        except RegistryUnreachable as e:
            last = e
            continue
        except RegistryError as e:
            raise push_error(e) from None
        try:
            for target, image_id in targets:
                async with contextlib.aclosing(push_tag(svc, repo, target, image_id)) as facts:
                    async for p in facts:
                        yield p
        except (RegistryError, RegistryUnreachable) as e:
            raise push_error(e) from None
        return
    raise push_error(last) if last is not None else SystemFailure(f"no endpoints found for {ref.name}")
