"""Engine layer: the build service (POST /build, /build/prune, /build/cancel, BuildCache in system df).

dockerd's BuildManager for the classic builder: the context arrives as the request body
(a tar, plain or compressed, or a bare Dockerfile) and is spooled to disk and unpacked by
the files port; `.dockerignore` is applied here too (API clients may send everything; the
Dockerfile and .dockerignore are read first and dropped afterwards if ignored, as dockerd
does); the Dockerfile is parsed before any output, so its errors are a 400 as with dockerd.
The build then runs as a task whose messages a client reads; a client that goes away, or
POST /build/cancel, cancels it, and its intermediate containers and mounts go with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import IO, Any, TypeVar

from shim.engine import refs
from shim.engine.build import platform as platforms
from shim.engine.build.builder import Builder, BuildFailed, Ports
from shim.engine.build.dockerfile import Dockerfile, DockerfileError, label_command, parse
from shim.engine.build.ignore import PatternMatcher, read_ignore_file
from shim.engine.model import BuildCacheRecord, BuildMessage, BuildOptions
from shim.engine.imageports import BuildFilesPort, RegistryAuth
from shim.errors import InvalidParameter, ShimError, SystemFailure

log = logging.getLogger("shim.build")
T = TypeVar("T")

KIND = "buildcache"


@dataclasses.dataclass(slots=True)
class PreparedBuild:
    options: BuildOptions
    dockerfile: Dockerfile
    workspace: str
    context: str
    tags: list[refs.ImageRef]


SPOOL_BATCH = 1 << 20  # bytes of the body gathered before a write to the spool file
SAVE_DELAY = 2.0  # seconds between a cache hit and the write of its record


class _Spool:
    """The request body on its way to `<workspace>/context.tar`; the workspace is made by the first
    write (called in a thread)."""

    def __init__(self, files: BuildFilesPort) -> None:
        self._files = files
        self.workspace = ""
        self._f: IO[bytes] | None = None

    def write(self, chunks: list[bytes]) -> None:
        if self._f is None:
            self.workspace = self._files.workspace()
            self._f = self._files.open_spool(self.workspace)
        for chunk in chunks:
            self._f.write(chunk)

    def close(self) -> None:
        if self._f is None:
            self.write([])
        assert self._f is not None
        self._f.close()

    def discard(self) -> None:
        if self._f is not None:
            self._f.close()
        if self.workspace:
            self._files.discard(self.workspace)


class BuildService:
    def __init__(
        self, *, images: Any, containers: Any, runtime: Any, files: BuildFilesPort, store: Any, distribution: Any = None
    ) -> None:
        self._images = images
        self._distribution = distribution
        self._containers = containers
        self._runtime = runtime
        self._files = files
        self._store = store
        self._records: dict[str, dict[str, Any]] = {}
        self._running: dict[str, asyncio.Task[str]] = {}
        self._dirty: set[str] = set()  # records of cache hits not written yet
        self._background: set[asyncio.Task[None]] = set()
        self._saving = False

    async def restore(self) -> None:
        self._records = await asyncio.to_thread(self._store.load_all, KIND)

    # --- one build ----------------------------------------------------------------------------
    async def prepare(self, options: BuildOptions, body: AsyncIterator[bytes]) -> PreparedBuild:
        """Receive and check everything a client can be told with a 400 before the stream starts."""
        tags = [refs.parse_image_ref(t).with_default_tag() for t in options.tags]
        if options.platform and platforms.parse(options.platform, self._images.host_arch).os != "linux":
            raise InvalidParameter(
                f'"{options.platform}": operating system is not supported: this daemon builds linux images'
            )
        # The body goes to disk in batches (a huge context is never held whole); a small one, the
        # usual case, takes a single thread hop from the workspace to the parsed Dockerfile.
        spool = _Spool(self._files)
        last: asyncio.Future[Any] | None = None

        async def hop(fn: Callable[..., T], *args: Any) -> T:
            # shielded: a client gone mid-upload must not leave a thread writing a workspace that
            # the cleanup below has already looked at
            nonlocal last
            fut: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(fn, *args))
            last = fut
            return await asyncio.shield(fut)

        try:
            pending: list[bytes] = []
            size = 0
            async for chunk in body:
                pending.append(chunk)
                size += len(chunk)
                if size >= SPOOL_BATCH:
                    await hop(spool.write, pending)
                    pending, size = [], 0
            ctx, name, df, ignore = await hop(self._receive, spool, pending, options)
            if options.target:
                idx = [i for i, s in enumerate(df.stages) if s.name == options.target.lower()]
                if not idx:
                    raise InvalidParameter(f'target stage "{options.target}" could not be found')
                df.stages = df.stages[: idx[0] + 1]
            for key in sorted(options.labels):
                df.stages[-1].commands.append(label_command(key, options.labels[key]))
            if ignore is not None:
                await hop(self._apply_ignore, ctx, name, ignore)
            return PreparedBuild(options=options, dockerfile=df, workspace=spool.workspace, context=ctx, tags=tags)
        except BaseException:
            if last is not None:
                await asyncio.gather(last, return_exceptions=True)
            await asyncio.to_thread(spool.discard)
            raise

    def _receive(
        self, spool: _Spool, tail: list[bytes], options: BuildOptions
    ) -> tuple[str, str, Dockerfile, PatternMatcher | None]:
        """In a thread: the rest of the body, the context unpacked, its Dockerfile parsed and its
        .dockerignore read; (context dir, Dockerfile name, Dockerfile, ignore patterns)."""
        spool.write(tail)
        spool.close()
        ctx, bare = self._files.unpack_context(spool.workspace)
        name = "Dockerfile" if bare else (options.dockerfile or "Dockerfile").lstrip("/")
        text = self._files.read_context_file(ctx, name)
        if text is None and name == "Dockerfile":
            text = self._files.read_context_file(ctx, "dockerfile")
            name = "dockerfile" if text is not None else name
        if text is None:
            raise InvalidParameter(f"Cannot locate specified Dockerfile: {options.dockerfile or 'Dockerfile'}")
        df = parse(text.decode("utf-8", "replace"), name)
        raw = self._files.read_context_file(ctx, ".dockerignore")
        if raw is None:
            return ctx, name, df, None
        try:
            return ctx, name, df, PatternMatcher(read_ignore_file(raw.decode("utf-8", "replace")))
        except ValueError as e:
            raise InvalidParameter(f"error reading .dockerignore: {e}") from None

    def _apply_ignore(self, ctx: str, dockerfile: str, pm: PatternMatcher) -> None:
        """In a thread: what .dockerignore excludes goes; the Dockerfile and .dockerignore (read
        already) go last, if they are excluded themselves."""
        keep = {".dockerignore", dockerfile}
        self._files.remove_excluded(ctx, pm.matches_or_parent_matches, keep)
        for name in keep:
            if pm.matches_or_parent_matches(name):
                self._files.remove_context_file(ctx, name)

    async def discard(self, build: PreparedBuild) -> None:
        """A prepared build that will not run (its client went away before the stream opened)."""
        await asyncio.to_thread(self._files.discard, build.workspace)

    async def messages(self, build: PreparedBuild) -> AsyncGenerator[BuildMessage, None]:
        """Run the build; its progress messages, the last one the result or the error. Closing the
        iterator early (the client went away) cancels the build and cleans up."""
        queue: asyncio.Queue[BuildMessage | None] = asyncio.Queue()
        held: list[BuildMessage] = []

        async def emit(msg: BuildMessage) -> None:
            if build.options.quiet and msg.stream:
                held.append(msg)  # -q: only the ID goes out (and the log, if the build fails)
            else:
                await queue.put(msg)

        builder = Builder(self._ports(), build.options, build.dockerfile, build.context, build.workspace, emit)

        async def run() -> str:
            try:
                image_id = await builder.run()
                await emit(BuildMessage(stream=f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n"))
                for t in build.tags:
                    await self._images.tag(image_id, t.familiar_name, t.tag)
                    await emit(BuildMessage(stream=f"Successfully tagged {t.familiar}\n"))
                if build.options.quiet:
                    await queue.put(BuildMessage(stream=image_id + "\n"))
                return image_id
            except BaseException as e:
                with contextlib.suppress(Exception):
                    await asyncio.shield(builder.cleanup_after_failure())
                for m in held:
                    await queue.put(m)
                if isinstance(e, ShimError):
                    await queue.put(BuildMessage(error=e.message, code=getattr(e, "code", 0)))
                elif isinstance(e, asyncio.CancelledError):
                    await queue.put(BuildMessage(stream="Build cancelled\n"))  # dockerd's words
                    await queue.put(BuildMessage(error="Build cancelled"))
                else:
                    log.exception("build failed")
                    await queue.put(BuildMessage(error=f"build failed: {e}"))
                raise
            finally:
                await builder.drain()  # file work of a cancelled step finishes before its files go
                await queue.put(None)
                self._after_build(build.workspace)

        task = asyncio.get_running_loop().create_task(run())
        build_id = build.options.build_id or secrets.token_hex(8)
        self._running[build_id] = task
        try:
            while (msg := await queue.get()) is not None:
                yield msg
        finally:
            self._running.pop(build_id, None)
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def cancel(self, build_id: str) -> None:
        """POST /build/cancel?id=: the build started with that `buildid` stops; an unknown ID is no
        error (dockerd's Cancel looks the ID up among its builds and returns nil)."""
        if not build_id:
            raise SystemFailure("build ID not provided")  # dockerd: errors.Errorf, a 500
        task = self._running.get(build_id)
        if task is not None:
            task.cancel()

    def _ports(self) -> Ports:
        return Ports(
            images=self._images,
            containers=self._containers,
            runtime=self._runtime,
            files=self._files,
            pull=self._pull,
            record=self._record,
        )

    async def _pull(self, ref: str, platform: str, options: BuildOptions) -> None:
        """FROM (or COPY --from) of an image not in the store: the one place a registry pull goes,
        of `platform` (FROM --platform, else the build's; "" for the host's), with the credentials
        X-Registry-Config gave for that registry (dockerd pulls `name:latest` for a bare name).
        The pull's progress is not copied into the build output."""
        if self._distribution is None:
            raise BuildFailed(f"pull access denied for {ref}: no registry client")
        try:
            target = refs.parse_image_ref(ref).with_default_tag()
            auth = _build_auth(options.auth_configs, target.domain)
            facts = self._distribution.pull(target.familiar, "", platform or options.platform or "", auth)
            async with contextlib.aclosing(facts) as progress:
                async for _ in progress:
                    pass
        except ShimError as e:
            raise BuildFailed(e.message) from None

    # --- build cache: the step images -------------------------------------------------------------
    async def _record(self, image_id: str, parent: str, hit: bool) -> None:
        """A step image made (its record written now) or reused (counted in memory, written after
        the build: a fully cached build writes nothing while the client waits)."""
        now = time.time_ns()
        rec = self._records.get(image_id)
        if rec is None:
            rec = {"id": image_id, "parent": parent, "created_at": now, "last_used_at": now, "usage_count": 0}
            self._records[image_id] = rec
            if not hit:
                await self._store.aput(KIND, refs.strip_algo(image_id), rec)
                return
        if hit:
            rec["last_used_at"] = now
            rec["usage_count"] = int(rec.get("usage_count", 0)) + 1
            self._dirty.add(image_id)

    def _after_build(self, workspace: str) -> None:
        """The workspace's removal and the cache hits' records, after the client has its answer."""
        task = asyncio.get_running_loop().create_task(self._housekeep(workspace))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _housekeep(self, workspace: str) -> None:
        await asyncio.to_thread(self._files.discard, workspace)
        if not self._dirty or self._saving:
            return
        # The hits of builds that follow within the delay are written together: one rename per
        # record costs more than a whole cached step. A daemon stopped meanwhile loses only counts.
        self._saving = True
        try:
            await asyncio.sleep(SAVE_DELAY)
            dirty, self._dirty = self._dirty, set()
            records = [(refs.strip_algo(i), self._records[i]) for i in dirty if i in self._records]
            await asyncio.to_thread(self._save, records)
        finally:
            self._saving = False

    def _save(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        for oid, rec in records:
            self._store.put(KIND, oid, rec)

    def cache_records(self) -> list[BuildCacheRecord]:
        """The step images still in the store; in use when a tagged image or a container needs them."""
        needed = self._needed()
        out = []
        for image_id, rec in self._records.items():
            img = self._images.images.get(image_id)
            if img is None:
                continue
            parent = self._images.images.get(img.parent) if img.parent else None
            history = img.config.get("history") or []
            out.append(
                BuildCacheRecord(
                    id=refs.strip_algo(image_id),
                    parent=refs.strip_algo(img.parent),
                    description=(history[-1].get("created_by", "") if history else ""),
                    size=max(0, img.size - (parent.size if parent else 0)),
                    in_use=image_id in needed,
                    created_at=int(rec.get("created_at", 0)),
                    last_used_at=int(rec.get("last_used_at", 0)),
                    usage_count=int(rec.get("usage_count", 0)),
                )
            )
        return sorted(out, key=lambda r: r.created_at)

    def _needed(self) -> set[str]:
        needed: set[str] = set()
        images = self._images.images
        for img in list(images.values()):
            if not (img.repo_tags or img.repo_digests or self._images._usage(img.id)):
                continue
            cur = img
            while cur is not None and cur.id not in needed:
                needed.add(cur.id)
                cur = images.get(cur.parent) if cur.parent else None
        return needed

    async def prune(self) -> tuple[list[str], int]:
        """`docker builder prune`: step images nothing needs, leaves first; (deleted IDs, bytes)."""
        deleted: list[str] = []
        reclaimed = 0
        while True:
            progress = False
            for rec in self.cache_records():
                image_id = "sha256:" + rec.id
                if rec.in_use or self._images.children(image_id):
                    continue
                try:
                    await self._images.remove(image_id, force=False, prune=False)
                except ShimError:
                    continue
                deleted.append(rec.id)
                reclaimed += rec.size
                progress = True
            if not progress:
                break
        for image_id in [i for i in self._records if i not in self._images.images]:
            del self._records[image_id]
            await self._store.adelete(KIND, refs.strip_algo(image_id))
        return deleted, reclaimed


__all__ = ["BuildService", "DockerfileError", "PreparedBuild"]


def _build_auth(configs: dict[str, Any], domain: str) -> RegistryAuth:
    """The X-Registry-Config entry for a registry (the Hub's is keyed by its index URL)."""
    keys = [domain]
    if domain == refs.DEFAULT_DOMAIN:
        keys = ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    for key in keys:
        for k in (key, f"https://{key}", f"http://{key}"):
            cfg = configs.get(k)
            if isinstance(cfg, dict):
                low = {str(n).lower(): v for n, v in cfg.items() if isinstance(v, str)}
                return RegistryAuth(
                    username=low.get("username", ""),
                    password=low.get("password", ""),
                    identity_token=low.get("identitytoken", ""),
                    registry_token=low.get("registrytoken", ""),
                    server_address=low.get("serveraddress", ""),
                )
    return RegistryAuth()
