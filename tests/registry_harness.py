"""Real registries on 127.0.0.1 for tests: Debian's docker-registry (distribution 2.8), a small
token server, TLS material made with openssl, and skopeo to seed them.

Shared by tests/integration and compat/: nothing here knows about shim. Each registry gets its
own port, config and storage under a temporary directory and is stopped (by its pid) and
removed by `stop()`; the token server is a thread of the test process.
"""

from __future__ import annotations

import base64
import contextlib
import crypt  # bcrypt for htpasswd (Debian's libxcrypt); deprecated in 3.13, fine on 3.11
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "build" / "busybox.tar"
CERTS_D = Path("/etc/docker/certs.d")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*crypt.*")


def free_port(host: str = "127.0.0.1") -> int:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_port(host: str, port: int, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"registry exited with {proc.returncode}")
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str = "shim test CA") -> tuple[Path, Path]:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    return d / "ca.crt", d / "ca.key"


def make_cert(d: Path, ca: tuple[Path, Path], name: str, ips: list[str], client: bool = False) -> tuple[Path, Path]:
    """A certificate for `ips` (and localhost) signed by `ca`; with client=True for TLS clients."""
    (d / f"{name}.ext").write_text(
        ("extendedKeyUsage=clientAuth\n" if client else "extendedKeyUsage=serverAuth\n")
        + "subjectAltName="
        + ",".join(["DNS:localhost", *[f"IP:{ip}" for ip in ips]])
        + "\n"
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d / f"{name}.crt", d / f"{name}.key"


def build_archive(dest: Path, layers: list[int], tag: str = "shimtest:latest", seed: bytes | None = None) -> Path:
    """A docker-archive: the busybox fixture plus one layer per size in `layers` (random bytes in
    /data/N.bin, so each layer is new to every store and compresses poorly, like real content)."""
    import io
    import tarfile

    seed = seed or os.urandom(16)
    with tarfile.open(FIXTURE) as src:
        manifest = json.loads(src.extractfile("manifest.json").read())[0]
        config = json.loads(src.extractfile(manifest["Config"]).read())
        base_layer = src.extractfile(manifest["Layers"][0]).read()
    entries: list[tuple[str, bytes]] = [(manifest["Layers"][0], base_layer)]
    for i, size in enumerate(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            data = _random_bytes(seed + bytes([i]), size)
            ti = tarfile.TarInfo(f"data/{i}.bin")
            ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
            t.addfile(ti, io.BytesIO(data))
        raw = buf.getvalue()
        entries.append((hashlib.sha256(raw).hexdigest() + "/layer.tar", raw))
        config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
        config.setdefault("history", []).append({"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"})
    cfg = json.dumps(config, separators=(",", ":")).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    with tarfile.open(dest, "w") as out:

        def add(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1700000000
            out.addfile(ti, io.BytesIO(data))

        add(cfg_name, cfg)
        for name, data in entries:
            add(name, data)
        add(
            "manifest.json",
            json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": [n for n, _ in entries]}]).encode(),
        )
    return dest


def _random_bytes(seed: bytes, size: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


class TokenServer:
    """A token server as the distribution spec describes one (GET /token?service=&scope=), signing
    RS256 JWTs with a self-signed certificate the registry trusts (x5c header).

    Users and what they may do: `users` {name: password}; a user gets every action asked,
    anonymous callers get `anonymous` actions (pull only, or none). /v1/search answers too.
    """

    def __init__(self, base: Path, users: dict[str, str], anonymous: tuple[str, ...] = ()) -> None:
        self.base, self.users, self.anonymous = base, users, anonymous
        self.service = "shim-test-registry"
        self.issuer = "shim-test-token-issuer"
        self.requests: list[dict] = []
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key", "-out", "token.crt",
                "-days", "2", "-subj", "/CN=token signer", cwd=base)  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", "token.crt", "-outform", "DER"], cwd=base, capture_output=True, check=True
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.search_results: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                server.handle(self)

            def do_POST(self):
                server.handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def _sign(self, payload: bytes) -> bytes:
        return subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.base / "token.key")],
            input=payload,
            capture_output=True,
            check=True,
        ).stdout

    def token(self, user: str, scopes: list[str]) -> str:
        def b64(b: bytes) -> str:
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            allowed = actions if user else [a for a in actions if a in self.anonymous]
            if allowed:
                access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}  # fmt: skip
        signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
        return signing.decode() + "." + b64(self._sign(signing))

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        import urllib.parse

        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/v1/search":
            body = json.dumps({"num_results": len(self.search_results), "query": q.get("q", [""])[0],
                               "results": self.search_results}).encode()  # fmt: skip
            return self._send(h, 200, body)
        if u.path != "/token":
            return self._send(h, 404, b"not found")
        user = ""
        authz = h.headers.get("Authorization", "")
        self.requests.append({"method": h.command, "query": q, "authorized": bool(authz)})
        if authz.startswith("Basic "):
            name, _, pw = base64.b64decode(authz[6:]).decode().partition(":")
            if self.users.get(name) != pw:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]})
                return self._send(h, 401, body.encode())
            user = name
        tok = self.token(user, q.get("scope", []))
        self._send(h, 200, json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode())

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Registry:
    """One docker-registry process: plain, basic (htpasswd), token, or TLS (optionally on ::1)."""

    def __init__(
        self,
        kind: str = "plain",
        *,
        host: str = "127.0.0.1",
        users: dict[str, str] | None = None,
        anonymous: tuple[str, ...] = ("pull",),
        client_ca: bool = False,
    ) -> None:
        self.kind, self.host = kind, host
        self.base = Path(tempfile.mkdtemp(prefix=f"shimreg-{kind}-", dir="/tmp"))
        self.port = free_port(host)
        self.addr = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.users = users if users is not None else {"alice": "s3cret"}
        self.token_server: TokenServer | None = None
        self.ca: tuple[Path, Path] | None = None
        self.client_cert: tuple[Path, Path] | None = None
        self.proc: subprocess.Popen | None = None
        cfg: dict = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.base / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.addr, "secret": uuid.uuid4().hex},
        }
        if kind == "basic":
            lines = [
                f"{u}:{crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))}" for u, p in self.users.items()
            ]
            (self.base / "htpasswd").write_text("\n".join(lines) + "\n")
            cfg["auth"] = {"htpasswd": {"realm": "shim-test", "path": str(self.base / "htpasswd")}}
        elif kind == "token":
            self.token_server = TokenServer(self.base, self.users, anonymous)
            cfg["auth"] = {"token": {"realm": self.token_server.realm, "service": self.token_server.service,
                                     "issuer": self.token_server.issuer,
                                     "rootcertbundle": str(self.base / "token.crt")}}  # fmt: skip
        elif kind == "tls":
            self.ca = make_ca(self.base)
            crt, key = make_cert(self.base, self.ca, "registry", [host])
            cfg["http"]["tls"] = {"certificate": str(crt), "key": str(key)}
            if client_ca:
                self.client_cert = make_cert(self.base, self.ca, "client", [], client=True)
                cfg["http"]["tls"]["clientcas"] = [str(self.ca[0])]
        # JSON is YAML: the registry reads it as its config file
        (self.base / "config.yml").write_text(json.dumps(cfg))

    def start(self) -> Registry:
        log = open(self.base / "registry.log", "ab")
        self.proc = subprocess.Popen(
            [REGISTRY, "serve", str(self.base / "config.yml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        _wait_port(self.host, self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.token_server is not None:
            self.token_server.stop()
        self.untrust()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- trust (TLS) ----------------------------------------------------------------
    @property
    def certs_dir(self) -> Path:
        return CERTS_D / self.addr

    def trust(self, client_cert: bool = False) -> None:
        """Put the CA (and the client certificate) where dockerd and shimd look: certs.d/<host:port>/."""
        assert self.ca is not None
        self.certs_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca[0], self.certs_dir / "ca.crt")
        if client_cert and self.client_cert is not None:
            shutil.copy(self.client_cert[0], self.certs_dir / "client.cert")
            shutil.copy(self.client_cert[1], self.certs_dir / "client.key")

    def untrust(self) -> None:
        if self.ca is not None:
            shutil.rmtree(self.certs_dir, ignore_errors=True)

    # --- content ---------------------------------------------------------------------
    def _skopeo_creds(self) -> list[str]:
        if self.kind in ("basic", "token"):
            user, pw = next(iter(self.users.items()))
            return ["--dest-creds", f"{user}:{pw}"]
        return []

    def seed(self, repo: str, tar: Path = FIXTURE, *, fmt: str = "v2s2", compress: str = "") -> None:
        """Copy a docker-archive into repo (`name:tag`) with skopeo (fmt v2s2 or oci; compress zstd)."""
        if ":" in self.host:  # skopeo 1.9 can't name an IPv6 registry: seed the storage through a helper
            helper = Registry("plain")
            helper.base.joinpath("config.yml").write_text(
                json.dumps(
                    {
                        "version": 0.1,
                        "log": {"level": "warn", "accesslog": {"disabled": True}},
                        "storage": {"filesystem": {"rootdirectory": str(self.base / "data")}},
                        "http": {"addr": helper.addr},
                    }
                )
            )
            helper.start()
            try:
                helper.seed(repo, tar, fmt=fmt, compress=compress)
            finally:
                helper.stop()
            return
        args = [SKOPEO, "copy", "--quiet", "--format", fmt]
        args += ["--dest-tls-verify=false"]
        if compress:
            args += ["--dest-compress-format", compress, "--dest-compress"]
        args += self._skopeo_creds()
        subprocess.run([*args, f"docker-archive:{tar}", f"docker://{self.addr}/{repo}"], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    # raw HTTP access to the registry (only for seeding unusual content in tests)
    def url(self, path: str) -> str:
        scheme = "https" if self.kind == "tls" else "http"
        return f"{scheme}://{self.addr}{path}"

    def _request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=headers or {})
        if self.kind in ("basic",):
            user, pw = next(iter(self.users.items()))
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode())
        ctx = None
        if self.kind == "tls":
            import ssl

            ctx = ssl.create_default_context(cafile=str(self.ca[0])) if self.ca else None
        return urllib.request.urlopen(req, timeout=30, context=ctx)

    def get_json(self, path: str, accept: str = DOCKER_MANIFEST) -> tuple[dict, bytes]:
        with self._request("GET", path, headers={"Accept": accept}) as r:
            body = r.read()
        return json.loads(body), body

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with self._request("POST", f"/v2/{repo}/blobs/uploads/", data=b"") as r:
            loc = r.headers["Location"]
        sep = "&" if "?" in loc else "?"
        path = loc.split("://", 1)[-1].partition("/")[2]
        with self._request("PUT", f"/{path}{sep}digest={digest}", data=data,
                           headers={"Content-Type": "application/octet-stream"}):  # fmt: skip
            pass
        return digest

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        with self._request("PUT", f"/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type}):
            pass
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def seed_multiarch(self, repo: str, source: str) -> dict[str, str]:
        """An OCI index at `repo` with `source`'s manifest as linux/amd64 and a twin as linux/arm64
        (the same layers, a config saying arm64): nothing needs to run on arm64."""
        src_name, src_tag = source.split(":")
        name, tag = repo.split(":")
        src, raw = self.get_json(f"/v2/{src_name}/manifests/{src_tag}")
        cfg, _ = self.get_json(f"/v2/{src_name}/blobs/{src['config']['digest']}", accept="*/*")
        for blob in [src["config"]["digest"], *(layer["digest"] for layer in src["layers"])]:
            with self._request("POST", f"/v2/{name}/blobs/uploads/?mount={blob}&from={src_name}", data=b""):
                pass
        cfg["architecture"] = "arm64"
        cfg_bytes = json.dumps(cfg, separators=(",", ":")).encode()
        arm_cfg = self.put_blob(name, cfg_bytes)
        amd_digest = self.put_manifest(name, "amd64", raw, DOCKER_MANIFEST)
        arm_raw = json.dumps(dict(src, config={**src["config"], "digest": arm_cfg, "size": len(cfg_bytes)})).encode()
        arm_digest = self.put_manifest(name, "arm64", arm_raw, DOCKER_MANIFEST)
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST, "digest": amd_digest, "size": len(raw),
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": DOCKER_MANIFEST, "digest": arm_digest, "size": len(arm_raw),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            ],
        }  # fmt: skip
        index_digest = self.put_manifest(name, tag, json.dumps(index).encode(), OCI_INDEX)
        return {"index": index_digest, "amd64": amd_digest, "arm64": arm_digest, "arm64_config": arm_cfg}

    def blob_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.base / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2] / hexd / "data"

    def corrupt_blob(self, digest: str) -> None:
        """Same size, other bytes: the registry serves it as is (it does not check on read)."""
        p = self.blob_path(digest)
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        p.write_bytes(bytes(data))


@contextlib.contextmanager
def running(*regs: Registry):
    try:
        for r in regs:
            r.start()
        yield regs
    finally:
        for r in regs:
            r.stop()


class HostileRegistry:
    """A registry that misbehaves on purpose, one way per `mode` (a thread of the test process):
    digest-mismatch, endless-blob, huge-config, redirect-loop, realm-elsewhere, escape, symlink-escape."""

    def __init__(self, mode: str) -> None:
        import gzip
        import io
        import tarfile

        self.mode = mode
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:

            def add(ti: tarfile.TarInfo, data: bytes = b"") -> None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))

            if mode == "escape":
                add(tarfile.TarInfo("../../../../tmp/shim-hostile-escape"), b"pwned")
            elif mode == "symlink-escape":
                link = tarfile.TarInfo("evil")
                link.type, link.linkname = tarfile.SYMTYPE, "/tmp"
                add(link)
                add(tarfile.TarInfo("evil/shim-hostile-symlink"), b"pwned")
            else:
                add(tarfile.TarInfo("ok.txt"), b"fine")
        raw = buf.getvalue()
        self.layer = gzip.compress(raw, mtime=0)
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        self.config = json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        ).encode()
        cfg_size = 10 << 30 if mode == "huge-config" else len(self.config)
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": cfg_size,
                       "digest": "sha256:" + hashlib.sha256(self.config).hexdigest()},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(self.layer),
                        "digest": "sha256:" + hashlib.sha256(self.layer).hexdigest()}],
        }).encode()  # fmt: skip
        self.manifest_digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                server.handle(self)

            do_HEAD = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        self.hits.append(path)
        if path == "/v2/":
            if self.mode == "realm-elsewhere":
                closed = free_port()
                h.send_response(401)
                h.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{closed}/token",service="x"')
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            return self._send(h, 200, b"{}")
        if "/manifests/" in path:
            body = self.manifest
            if self.mode == "digest-mismatch":
                body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
            return self._send(h, 200, body, DOCKER_MANIFEST)
        if "/blobs/" in path:
            digest = path.rsplit("/", 1)[1]
            if self.mode == "redirect-loop":
                h.send_response(302)
                h.send_header("Location", path)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            if digest == json.loads(self.manifest)["config"]["digest"]:
                return self._send(h, 200, self.config)
            if self.mode == "endless-blob":
                h.send_response(200)
                h.send_header("Content-Type", "application/octet-stream")
                h.end_headers()  # no length: it just keeps coming
                try:
                    for _ in range(100_000):  # bounded, so the test process never spins forever
                        h.wfile.write(b"\0" * 65536)
                except OSError:
                    pass
                h.close_connection = True
                return
            return self._send(h, 200, self.layer)
        self._send(h, 404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/octet-stream") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
