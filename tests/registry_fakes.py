"""An in-memory registry behind the engine's RegistryClient port, for unit tests of pull and push.

Content is put in with `add_image()` (layers made with `layer_tar()`), misbehaviour switched on
with the attributes (`corrupt`, `endless`, `unreachable`, `gate`); calls are recorded in `.log`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator, Callable

from shim.engine.distribution import manifest as mf
from shim.engine.imageports import Endpoint, FetchedManifest, RegistryAuth, RegistryError, RegistryUnreachable


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes], compress: str = "gzip") -> tuple[bytes, str]:
    """(blob, diff ID): a layer tar of `files`, gzip-compressed (or plain with compress="")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
            tar.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    blob = gzip.compress(raw, mtime=0) if compress == "gzip" else raw
    return blob, digest_of(raw)


@dataclasses.dataclass
class Repo:
    manifests: dict[str, tuple[bytes, str]] = dataclasses.field(default_factory=dict)
    blobs: dict[str, bytes] = dataclasses.field(default_factory=dict)


class FakeBlob:
    def __init__(self, data: bytes, endless: bool, gate: asyncio.Event | None) -> None:
        self.data, self.endless, self.gate = data, endless, gate
        self.size: int | None = None if endless else len(data)
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        step = 64 * 1024
        for i in range(0, len(self.data), step):
            yield self.data[i : i + step]
            if self.gate is not None and i + step < len(self.data):
                await self.gate.wait()
        while self.endless:
            yield b"\0" * step
            await asyncio.sleep(0)

    async def close(self) -> None:
        self.closed = True


class FakeRepository:
    def __init__(self, reg: FakeRegistry, endpoint: Endpoint, path: str, auth: RegistryAuth, push: bool) -> None:
        self.reg, self.endpoint, self.path, self.auth, self.push = reg, endpoint, path, auth, push

    def _repo(self) -> Repo:
        if self.endpoint.host in self.reg.unreachable:
            raise RegistryUnreachable(f'Get "{self.endpoint.url}/v2/": dial tcp: connect: connection refused')
        if self.reg.users and (self.auth.username, self.auth.password) not in self.reg.users.items():
            raise RegistryError(401, "UNAUTHORIZED", "authentication required", "unauthorized: authentication required")
        return self.reg.repos.setdefault(self.path, Repo())

    async def get_manifest(self, reference: str, accept: list[str], limit: int) -> FetchedManifest:
        self.reg.log.append(("manifest", self.path, reference))
        repo = self._repo()
        if reference not in repo.manifests:
            raise RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", "manifest unknown: manifest unknown")
        data, mt = repo.manifests[reference]
        return FetchedManifest(data, mt)

    async def open_blob(self, digest: str) -> FakeBlob:
        self.reg.log.append(("blob", self.path, digest))
        repo = self._repo()
        if digest not in repo.blobs:
            raise RegistryError(
                404, "BLOB_UNKNOWN", "blob unknown to registry", "blob unknown: blob unknown to registry"
            )
        data = repo.blobs[digest]
        if digest in self.reg.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        blob = FakeBlob(data, digest in self.reg.endless, self.reg.gate)
        self.reg.opened.append(blob)
        return blob

    async def blob_exists(self, digest: str) -> bool:
        self.reg.log.append(("head", self.path, digest))
        return digest in self._repo().blobs

    async def mount_blob(self, digest: str, source: str) -> bool:
        self.reg.log.append(("mount", self.path, digest, source))
        src = self.reg.repos.get(source)
        if src is None or digest not in src.blobs:
            return False
        self._repo().blobs[digest] = src.blobs[digest]
        return True

    async def upload_blob(self, chunks: AsyncIterator[bytes], digest: Callable[[], str]) -> int:
        repo = self._repo()
        if not self.push:
            raise RegistryError(401, "UNAUTHORIZED", "authentication required", "unauthorized: authentication required")
        data = b"".join([c async for c in chunks])
        d = digest()
        assert d == digest_of(data), "the digest given does not match the bytes sent"
        self.reg.log.append(("upload", self.path, d))
        repo.blobs[d] = data
        return len(data)

    async def put_manifest(self, tag: str, data: bytes, media_type: str) -> None:
        repo = self._repo()
        doc = json.loads(data)
        for d in [doc["config"], *doc["layers"]]:
            assert d["digest"] in repo.blobs, f"manifest names a blob the repository lacks: {d['digest']}"
        repo.manifests[tag] = (data, media_type)
        repo.manifests[digest_of(data)] = (data, media_type)
        self.reg.log.append(("put-manifest", self.path, tag))

    async def tags(self) -> list[str]:
        return sorted(t for t in self._repo().manifests if not t.startswith("sha256:"))

    async def close(self) -> None:
        pass


class FakeRegistry:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.log: list[tuple] = []
        self.corrupt: set[str] = set()
        self.endless: set[str] = set()
        self.unreachable: set[str] = set()
        self.users: dict[str, str] = {}
        self.gate: asyncio.Event | None = None  # blobs pause between chunks until it is set
        self.opened: list[FakeBlob] = []
        self.mirror_host = ""

    async def endpoints(self, host: str, *, push: bool) -> list[Endpoint]:
        out = []
        if self.mirror_host and host == "docker.io" and not push:
            out.append(Endpoint(f"http://{self.mirror_host}", self.mirror_host, False, mirror=True))
        out.append(Endpoint(f"http://{host}", host, False))
        return out

    def repository(
        self, endpoint: Endpoint, path: str, auth: RegistryAuth, *, push: bool, mount_from: list[str] | None = None
    ) -> FakeRepository:
        return FakeRepository(self, endpoint, path, auth, push)

    async def login(self, endpoint: Endpoint, auth: RegistryAuth) -> str:
        if self.users and self.users.get(auth.username) != auth.password:
            raise RegistryError(
                401, "UNAUTHORIZED", "", f"login attempt to {endpoint.url}/v2/ failed with status: 401 Unauthorized"
            )
        return ""

    async def search(self, endpoint: Endpoint, term: str, limit: int, auth: RegistryAuth) -> list[dict]:
        return [{"name": f"{term}-{i}", "description": "", "star_count": i, "is_official": i == 0,
                 "is_automated": False} for i in range(limit)]  # fmt: skip

    async def close(self) -> None:
        pass

    # --- content -------------------------------------------------------------------
    def add_image(
        self,
        path: str,
        tag: str,
        layers: list[tuple[bytes, str]],
        *,
        arch: str = "amd64",
        layer_type: str = mf.DOCKER_LAYER,
        labels: dict[str, str] | None = None,
    ) -> dict:
        repo = self.repos.setdefault(path, Repo())
        config = {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["sh"], "Labels": labels},
            "created": "2024-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        }
        cfg = json.dumps(config).encode()
        repo.blobs[digest_of(cfg)] = cfg
        for blob, _ in layers:
            repo.blobs[digest_of(blob)] = blob
        manifest = {
            "schemaVersion": 2,
            "mediaType": mf.DOCKER_MANIFEST,
            "config": {"mediaType": mf.DOCKER_CONFIG, "size": len(cfg), "digest": digest_of(cfg)},
            "layers": [{"mediaType": layer_type, "size": len(b), "digest": digest_of(b)} for b, _ in layers],
        }
        raw = json.dumps(manifest).encode()
        repo.manifests[tag] = (raw, mf.DOCKER_MANIFEST)
        repo.manifests[digest_of(raw)] = (raw, mf.DOCKER_MANIFEST)
        return {"manifest": digest_of(raw), "config": digest_of(cfg), "raw": raw}

    def add_index(self, path: str, tag: str, entries: list[tuple[str, str, str]]) -> str:
        """An OCI index of (manifest tag, os, arch) already in `path`."""
        repo = self.repos[path]
        manifests = []
        for t, os_, arch in entries:
            raw, mt = repo.manifests[t]
            manifests.append({"mediaType": mt, "digest": digest_of(raw), "size": len(raw),
                              "platform": {"os": os_, "architecture": arch}})  # fmt: skip
        raw = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": manifests}).encode()
        repo.manifests[tag] = (raw, mf.OCI_INDEX)
        return digest_of(raw)
