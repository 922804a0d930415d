"""Engine layer: the distribution service: pull, push, login, search and remote inspect.

The public verbs of the registry area; the work is in pull.py and push.py. Verbs that stream
(pull, push) are async generators of Progress facts: whatever fails before the first fact is
an ordinary error (the API answers it with a status), whatever fails after travels in the
stream, as dockerd's handlers do once they have flushed a byte.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from shim.engine import refs
from shim.engine.distribution import manifest as mf
from shim.engine.distribution.blobindex import BlobIndex
from shim.engine.distribution.errors import pull_error
from shim.engine.distribution.model import RemoteImage, SearchResult
from shim.engine.distribution.progress import Progress, message
from shim.engine.distribution.pull import Outcome, fetch_config, pull_tag, resolve
from shim.engine.distribution.push import push_tags
from shim.engine.distribution.registries import INDEX_NAME, RegistryOptions, server_host
from shim.engine.imageports import (
    Endpoint,
    LayerStore,
    RegistryAuth,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
)
from shim.engine.images import ImageService
from shim.engine.refs import ImageRef
from shim.errors import InvalidParameter, NotFound, ShimError, SystemFailure, Unauthorized
from shim.filters import Filters

log = logging.getLogger("shim.distribution")

DEFAULT_SEARCH_LIMIT = 25


def parse_pull_ref(from_image: str, tag: str) -> ImageRef:
    """PullImage's reference: `fromImage` (a trailing `:` of `pull -a` ignored) with `tag`, which
    may be a digest; no tag and no digest means every tag."""
    ref = refs.parse_image_ref(from_image.rstrip(":") if from_image.endswith(":") else from_image)
    if tag:
        if tag.startswith("sha256:") or ":" in tag:
            mf.check_digest(tag) if tag.startswith("sha256:") else None
            if not tag.startswith("sha256:"):
                raise refs.invalid_reference()
            ref = dataclasses.replace(ref, tag=None, digest=tag)
        else:
            ref = refs.parse_repo_tag(ref.name, tag)
    if ref.path in ("scratch", "library/scratch") and ref.domain == refs.DEFAULT_DOMAIN:
        raise InvalidParameter("'scratch' is a reserved name")
    return ref


class DistributionService:
    def __init__(
        self,
        *,
        images: ImageService,
        layers: LayerStore,
        registry: RegistryClient,
        blobs: BlobIndex,
        host_arch: str,
        options: RegistryOptions | None = None,
        max_downloads: int = 3,
        max_uploads: int = 5,
    ) -> None:
        self.images, self.layers, self.registry, self.blobs = images, layers, registry, blobs
        self._options = options
        self._max_downloads, self._max_uploads = max_downloads, max_uploads
        self.host_platform = mf.normalize_platform(mf.Platform("linux", host_arch))
        # downloads, unpacks and compressions: blocking work off the event loop, bounded
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=12, thread_name_prefix="distribution")
        self._held: collections.Counter[str] = collections.Counter()

    # read at each pull/push: a SIGHUP reload changes them in the settings object
    @property
    def max_downloads(self) -> int:
        return self._options.max_concurrent_downloads if self._options is not None else self._max_downloads

    @max_downloads.setter
    def max_downloads(self, n: int) -> None:
        self._max_downloads = n

    @property
    def max_uploads(self) -> int:
        return self._options.max_concurrent_uploads if self._options is not None else self._max_uploads

    async def restore(self) -> None:
        await self.blobs.restore()

    async def close(self) -> None:
        await self.registry.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- layers in flight ------------------------------------------------------------
    @contextlib.contextmanager
    def holding(self, diff_ids: list[str]) -> Iterator[None]:
        """Layers a pull is bringing in: another pull's cleanup must not remove them."""
        self._held.update(diff_ids)
        try:
            yield
        finally:
            self._held.subtract(diff_ids)
            self._held += collections.Counter()  # drop zero counts

    def used_diff_ids(self) -> set[str]:
        """Diff IDs an image uses or more than one pull holds (ours is one of the holders)."""
        used = {d for img in self.images.all() for d in img.diff_ids}
        return used | {d for d, n in self._held.items() if n > 1}

    # --- pull ------------------------------------------------------------------------
    async def pull(
        self, from_image: str, tag: str, platform: str, auth: RegistryAuth
    ) -> AsyncGenerator[Progress, None]:
        """POST /images/create?fromImage=: progress facts; errors before the first are plain."""
        ref = parse_pull_ref(from_image, tag)
        want = mf.parse_platform(platform) if platform else None
        if ref.tag is None and ref.digest is None:
            async with contextlib.aclosing(self._pull_all_tags(ref, want, auth)) as facts:
                async for p in facts:
                    yield p
            return
        first = await resolve(self, ref, auth)
        out = Outcome()
        # aclosing: a client that goes away closes us, and we close the pull (its cleanup runs now)
        async with contextlib.aclosing(pull_tag(self, ref, want, auth, first, out)) as facts:
            async for p in facts:
                yield p
        yield message(
            ("Status: Downloaded newer image for " if out.updated else "Status: Image is up to date for ")
            + ref.familiar
        )
        self.images.publish(ref.familiar, "pull", ref.familiar_name)

    async def _pull_all_tags(
        self, ref: ImageRef, want: mf.Platform | None, auth: RegistryAuth
    ) -> AsyncGenerator[Progress, None]:
        tags: list[str] | None = None
        last: RegistryError | RegistryUnreachable | None = None
        for ep in await self.registry.endpoints(ref.domain, push=False):
            try:
                tags = await self.registry.repository(ep, ref.path, auth, push=False).tags()
                break
            except RegistryUnreachable as e:
                last = e
            except RegistryError as e:
                if not ep.mirror:
                    raise pull_error(e, ref) from None
                last = e
        if tags is None:
            raise pull_error(last, ref) if last else SystemFailure(f"no endpoints found for {ref.name}")
        updated = False
        for t in tags:
            out = Outcome()
            tag_ref = dataclasses.replace(ref, tag=t)
            async with contextlib.aclosing(pull_tag(self, tag_ref, want, auth, None, out)) as facts:
                async for p in facts:
                    yield p
            updated = updated or out.updated
        yield message(
            ("Status: Downloaded newer image for " if updated else "Status: Image is up to date for ") + ref.familiar
        )
        self.images.publish(ref.familiar, "pull", ref.familiar_name)

    # --- push ------------------------------------------------------------------------
    async def push(self, name: str, tag: str, auth: RegistryAuth) -> AsyncGenerator[Progress, None]:
        """POST /images/{name}/push: one tag, or every tag of the repository without one."""
        ref = refs.parse_image_ref(name)
        if tag:
            ref = refs.parse_repo_tag(ref.name, tag)
        if ref.digest:
            raise InvalidParameter("cannot push a digest reference")
        if ref.tag is not None:
            image_id = self.images.tagged(ref.canonical)
            if image_id is None:
                raise NotFound(f"An image does not exist locally with the tag: {ref.familiar}")
            targets = [(ref, image_id)]
        else:
            targets = [(refs.parse_image_ref(t), i) for t, i in self.images.references(ref.name)]
            if not targets:
                raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        async with contextlib.aclosing(push_tags(self, ref, targets, auth)) as facts:
            async for p in facts:
                yield p
        self.images.publish(ref.familiar, "push", ref.familiar_name)

    # --- login, search, remote inspect ----------------------------------------------
    async def login(self, auth: RegistryAuth) -> tuple[str, str]:
        """POST /auth: ("Login Succeeded", identity token) or the registry's refusal."""
        host = server_host(auth.server_address)
        last: Exception | None = None
        for ep in await self.registry.endpoints(host, push=True):
            try:
                token = await self.registry.login(ep, auth)
                return "Login Succeeded", token
            except RegistryUnreachable as e:
                last = e
            except RegistryError as e:
                if e.status == 401 or e.code == "UNAUTHORIZED":
                    raise Unauthorized(str(e)) from None
                raise SystemFailure(str(e)) from None
        raise SystemFailure(str(last) if last else f"no endpoints found for {host}")

    async def search(self, term: str, limit: int | None, filters: Filters, auth: RegistryAuth) -> list[SearchResult]:
        """GET /images/search: the registry's v1 search, filtered here as dockerd does."""
        n = DEFAULT_SEARCH_LIMIT if limit is None else limit
        if n < 1 or n > 100:
            raise InvalidParameter(f"Limit {n} is outside the range of [1, 100]")
        stars, automated, official = _search_filters(filters)
        host, remote = _split_search_term(term)
        official_index = host == INDEX_NAME
        endpoints = (
            [Endpoint("https://index.docker.io", INDEX_NAME, True, official=True)]
            if official_index
            else await self.registry.endpoints(host, push=True)
        )
        if official_index:
            remote = remote.removeprefix("library/")
        last: Exception | None = None
        for ep in endpoints:
            try:
                raw = await self.registry.search(ep, remote, n, auth)
                break
            except RegistryUnreachable as e:
                last = e
            except RegistryError as e:
                raise SystemFailure(str(e)) from None
        else:
            raise SystemFailure(str(last) if last else f"no endpoints found for {host}")
        out = []
        for r in raw:
            res = SearchResult(
                name=str(r.get("name", "")),
                description=str(r.get("description") or ""),
                star_count=int(r.get("star_count") or 0),
                is_official=bool(r.get("is_official")),
                is_automated=bool(r.get("is_automated")),
            )
            if res.star_count < stars:
                continue
            if automated is not None and res.is_automated != automated:
                continue
            if official is not None and res.is_official != official:
                continue
            out.append(res)
        return out

    async def inspect_remote(self, name: str, auth: RegistryAuth) -> RemoteImage:
        """GET /distribution/{name}/json: the descriptor and the platforms it offers."""
        ref = refs.parse_image_ref(name).with_default_tag()
        res = await resolve(self, ref, auth)
        raw_type = res.document.media_type
        try:
            doc = res.document
            if isinstance(doc, mf.ManifestIndex):
                platforms = [_platform_json(d.platform) for d in doc.manifests if d.platform is not None]
            else:
                config = await fetch_config(res.repo, doc.config)
                cfg = json.loads(config)
                platforms = [
                    _platform_json(mf.Platform(cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant", "")))
                ]
        except (RegistryError, RegistryUnreachable) as e:
            raise pull_error(e, ref) from None
        except ShimError:
            raise
        except (ValueError, AttributeError) as e:
            raise SystemFailure(f"invalid image config: {e}") from None
        return RemoteImage(raw_type, res.fetched_digest, res.size, (), platforms)


def _platform_json(p: mf.Platform | None) -> dict[str, Any]:
    if p is None:
        return {}
    out: dict[str, Any] = {"architecture": p.arch, "os": p.os}
    if p.variant:
        out["variant"] = p.variant
    return out


def _split_search_term(term: str) -> tuple[str, str]:
    """splitReposSearchTerm: `host/remote` when the first part looks like a host, else the Hub."""
    first, sep, rest = term.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        return INDEX_NAME, term
    return first, rest


def _search_filters(filters: Filters) -> tuple[int, bool | None, bool | None]:
    """dockerd's search filters: stars (the highest given), is-automated, is-official."""
    filters.validate({"stars", "is-automated", "is-official"})
    stars = 0
    for v in filters.get("stars"):
        try:
            stars = max(stars, int(v))
        except ValueError:
            raise InvalidParameter(f"invalid filter 'stars={v}'") from None
    return stars, filters.bool("is-automated"), filters.bool("is-official")
