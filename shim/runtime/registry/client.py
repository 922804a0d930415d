"""Runtime adapter: the registry HTTP API v2 client (aiohttp), the engine's RegistryClient port.

What it owns: the HTTP session, TLS (certs.d CAs and client certificates, unverified TLS for
insecure registries), proxies (Go's environment rules), name resolution for the insecure-CIDR
check, authentication (ping for challenges, Basic, Bearer tokens with a cache), and the
spec's error bodies turned into RegistryError with distribution's client wording. What it
does not decide: which manifest, which layers, digests and sizes: the engine checks those.

Bodies are never decompressed here (a layer stays the blob the registry stores) and redirects
are followed at most 10 times (blob storage behind a redirect is common; a loop is an error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from shim.engine.imageports import (
    BlobStream,
    Endpoint,
    EndpointPolicy,
    FetchedManifest,
    RegistryAuth,
    RegistryError,
    RegistryUnreachable,
)
from shim.runtime.registry import tls
from shim.runtime.registry.auth import (
    Challenge,
    Token,
    TokenCache,
    basic_header,
    check_realm,
    parse_challenges,
    token_from_response,
    token_query,
)
from shim.runtime.registry.proxy import ProxyConfig

log = logging.getLogger("shim.registry")

USER_AGENT = "shim/0.1 (registry client; like docker/20.10)"
MAX_ERROR_BODY = 64 << 10
MAX_TOKEN_BODY = 1 << 20
Resolver = Callable[[str], "asyncio.Future[list[str]] | Any"]


def _error_text(code: str, message: str) -> str:
    """errcode.Error.Error(): `manifest unknown: manifest unknown`."""
    return f"{code.lower().replace('_', ' ')}: {message}"


async def registry_error(resp: aiohttp.ClientResponse) -> RegistryError:
    """HandleErrorResponse: the bearer challenge's error, else the errcode body, else the status."""
    body = await resp.content.read(MAX_ERROR_BODY)
    status = resp.status
    if 400 <= status < 500:
        for c in parse_challenges(resp.headers.getall("WWW-Authenticate", [])):
            if c.scheme == "bearer" and c.params.get("error") in ("invalid_token", "insufficient_scope"):
                code = "UNAUTHORIZED" if c.params["error"] == "invalid_token" else "DENIED"
                msg = c.params.get("error_description") or (
                    "authentication required"
                    if code == "UNAUTHORIZED"
                    else "requested access to the resource is denied"
                )
                return RegistryError(status, code, msg, _error_text(code, msg))
        try:
            errors = json.loads(body).get("errors") or []
            first = errors[0]
            code = str(first.get("code") or "UNKNOWN")
            msg = str(first.get("message") or code.lower().replace("_", " "))
            return RegistryError(status, code, msg, _error_text(code, msg))
        except (ValueError, AttributeError, IndexError, TypeError):
            pass
        if status == 401:
            return RegistryError(
                status, "UNAUTHORIZED", "authentication required", "unauthorized: authentication required"
            )
        text = body.decode("utf-8", "replace").strip()[:200]
        return RegistryError(status, "", text, f"received unexpected HTTP status: {status} {resp.reason or ''}".strip())
    return RegistryError(status, "", "", f"received unexpected HTTP status: {status} {resp.reason or ''}".strip())


def _unreachable(method: str, url: str, e: BaseException) -> RegistryUnreachable:
    """Transport errors in the Go client's words where the CLI user would recognise them."""
    u = urllib.parse.urlsplit(url)
    hostport = u.netloc
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        reason = f"x509: {e.certificate_error.verify_message if hasattr(e.certificate_error, 'verify_message') else e}"
        if "unable to get local issuer" in reason or "self-signed" in reason or "self signed" in reason:
            reason = "x509: certificate signed by unknown authority"
    elif isinstance(e, aiohttp.ClientProxyConnectionError):
        reason = f"proxyconnect tcp: {e.os_error.strerror or e}".lower()
    elif isinstance(e, (aiohttp.ClientConnectorSSLError, ssl.SSLError)):
        text = str(e)
        reason = (
            "http: server gave HTTP response to HTTPS client"
            if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text
            else f"tls: {text}"
        )
    elif isinstance(e, aiohttp.ClientConnectorError):
        err = e.os_error
        if isinstance(err, ConnectionRefusedError):
            reason = f"dial tcp {hostport}: connect: connection refused"
        elif isinstance(err, socket.gaierror):
            reason = f"dial tcp: lookup {u.hostname}: no such host"
        else:
            reason = f"dial tcp {hostport}: {err.strerror or err}"
    elif isinstance(e, aiohttp.TooManyRedirects):
        reason = "stopped after 10 redirects"
    elif isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        reason = "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
    elif isinstance(e, aiohttp.ServerDisconnectedError):
        reason = "EOF"
    else:
        reason = str(e) or type(e).__name__
    return RegistryUnreachable(f'{method.capitalize()} "{url}": {reason}')


class AiohttpRegistry:
    """The RegistryClient port over one aiohttp session for the daemon's lifetime."""

    def __init__(
        self,
        policy: Callable[[], EndpointPolicy],
        *,
        certs_dir: str = tls.CERTS_DIR,
        proxies: ProxyConfig | None = None,
        resolve: Callable[[str], Any] | None = None,
    ) -> None:
        self._policy = policy  # asked at each use: a SIGHUP may have changed the settings
        self.certs_dir = certs_dir
        self.proxies = proxies if proxies is not None else ProxyConfig.from_env()
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None
        self.tokens = TokenCache()

    # --- plumbing --------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300),
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _addresses(self, name: str) -> list[str]:
        if self._resolve is not None:
            return list(await self._resolve(name))
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError:
            return []  # dockerd: a name that does not resolve is not matched against the CIDRs
        return sorted({str(i[4][0]) for i in infos})

    async def endpoints(self, host: str, *, push: bool) -> list[Endpoint]:
        policy = self._policy()
        secure_of = {}
        for h in policy.hosts_to_check(host):
            name = policy.lookup_name(h)
            secure_of[h] = policy.is_secure(h, await self._addresses(name) if name else [])
        return policy.endpoints(host, secure_of, push=push)

    async def _ssl(self, endpoint: Endpoint, url: str) -> ssl.SSLContext | bool | None:
        if not url.startswith("https://"):
            return None
        if not endpoint.secure:
            return False  # insecure registry: TLS without verification (InsecureSkipVerify)
        host = urllib.parse.urlsplit(url).netloc
        return await asyncio.to_thread(tls.context_for, self.certs_dir, host)

    async def send(
        self,
        endpoint: Endpoint,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        params: list[tuple[str, str]] | None = None,
        allow_redirects: bool = True,
    ) -> aiohttp.ClientResponse:
        """One HTTP exchange with TLS and proxy settings applied; RegistryUnreachable on transport errors."""
        sslctx = await self._ssl(endpoint, url)
        try:
            return await self._http().request(
                method,
                url,
                headers=headers,
                data=data,
                params=params,
                ssl=sslctx if sslctx is not None else True,
                proxy=self.proxies.proxy_for(url),
                allow_redirects=allow_redirects,
                max_redirects=10,
            )
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as e:
            raise _unreachable(method, url, e) from e

    async def ping(self, endpoint: Endpoint) -> list[Challenge]:
        """GET /v2/: the auth challenges (none when anonymous access is allowed)."""
        url = endpoint.url + "/v2/"
        resp = await self.send(endpoint, "GET", url)
        async with resp:
            if resp.status == 401:
                return parse_challenges(resp.headers.getall("WWW-Authenticate", []))
            if resp.status == 200:
                return []
            raise RegistryUnreachable(
                f'Get "{url}": received unexpected HTTP status: {resp.status} {resp.reason or ""}'
            )

    async def fetch_token(
        self,
        endpoint: Endpoint,
        challenge: Challenge,
        auth: RegistryAuth,
        scopes: list[str],
        *,
        offline: bool = False,
        refresh: bool = False,
    ) -> Token:
        realm = check_realm(challenge.params.get("realm", ""))
        service = challenge.params.get("service", "")
        key = (realm, service, tuple(scopes), auth.username or auth.identity_token[:16])
        if not refresh and not offline:
            cached = self.tokens.get(key)
            if cached is not None:
                return cached
        if auth.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": auth.identity_token,
                "service": service,
                "client_id": "docker",
                "scope": " ".join(scopes),
                "access_type": "offline",
            }
            resp = await self.send(endpoint, "POST", realm, data=form)
        else:
            headers = {"Authorization": basic_header(auth.username, auth.password)} if auth.username else {}
            params = token_query(realm, service, scopes, auth.username, offline=offline and bool(auth.username))
            resp = await self.send(endpoint, "GET", realm, headers=headers, params=params)
        async with resp:
            if resp.status != 200:
                err = await registry_error(resp)
                if resp.status == 401 and err.code in ("", "UNAUTHORIZED"):
                    raise RegistryError(401, "UNAUTHORIZED", err.message, _error_text("UNAUTHORIZED", err.message))
                raise err
            body = await resp.content.read(MAX_TOKEN_BODY + 1)
        if len(body) > MAX_TOKEN_BODY:
            raise RegistryUnreachable(f'Get "{realm}": token response too large')
        try:
            token = token_from_response(json.loads(body))
        except ValueError as e:
            raise RegistryUnreachable(f'Get "{realm}": {e}') from e
        if not offline:
            self.tokens.put(key, token)
        return token

    async def authorization(
        self,
        endpoint: Endpoint,
        challenges: list[Challenge],
        auth: RegistryAuth,
        scopes: list[str],
        *,
        refresh: bool = False,
    ) -> str | None:
        """The Authorization header a request needs, following the challenges the ping gave."""
        if auth.registry_token:
            return "Bearer " + auth.registry_token
        for c in challenges:
            if c.scheme == "bearer":
                tok = await self.fetch_token(endpoint, c, auth, scopes, refresh=refresh)
                return "Bearer " + tok.value
        for c in challenges:
            if c.scheme == "basic" and auth.username:
                return basic_header(auth.username, auth.password)
        return None

    def repository(
        self, endpoint: Endpoint, path: str, auth: RegistryAuth, *, push: bool, mount_from: list[str] | None = None
    ) -> Repository:
        scopes = [f"repository:{path}:{'pull,push' if push else 'pull'}"]
        scopes += [f"repository:{src}:pull" for src in mount_from or [] if src != path]
        return Repository(self, endpoint, path, auth, scopes)

    # --- login and search ------------------------------------------------------------
    async def login(self, endpoint: Endpoint, auth: RegistryAuth) -> str:
        url = endpoint.url + "/v2/"
        challenges = await self.ping(endpoint)
        headers: dict[str, str] = {}
        identity = ""
        for c in challenges:
            if c.scheme == "bearer":
                try:
                    tok = await self.fetch_token(endpoint, c, auth, [], offline=True)
                except RegistryError as e:
                    raise RegistryError(e.status, e.code, e.message, f'Get "{url}": {e}') from None
                headers["Authorization"] = "Bearer " + tok.value
                identity = tok.refresh_token
                break
        else:
            if challenges and auth.username:
                headers["Authorization"] = basic_header(auth.username, auth.password)
        resp = await self.send(endpoint, "GET", url, headers=headers)
        async with resp:
            if resp.status == 200:
                return identity
            raise RegistryError(
                resp.status,
                "UNAUTHORIZED" if resp.status == 401 else "",
                resp.reason or "",
                f"login attempt to {url} failed with status: {resp.status} {resp.reason or ''}".strip(),
            )

    async def search(self, endpoint: Endpoint, term: str, limit: int, auth: RegistryAuth) -> list[dict[str, Any]]:
        url = endpoint.url + "/v1/search"
        headers = {"Authorization": basic_header(auth.username, auth.password)} if auth.username else {}
        resp = await self.send(endpoint, "GET", url, headers=headers, params=[("q", term), ("n", str(limit))])
        async with resp:
            if resp.status != 200:
                raise RegistryError(resp.status, "", "", f"Unexpected status code {resp.status}")
            body = await resp.content.read(8 << 20)
        try:
            results = json.loads(body).get("results") or []
        except (ValueError, AttributeError):
            raise RegistryError(200, "", "", "invalid search response from the registry") from None
        return [r for r in results if isinstance(r, dict)]


class _Blob:
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.size = resp.content_length

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.content.iter_any():
            yield chunk

    async def close(self) -> None:
        self._resp.close()  # not release(): a cancelled download must not drain the rest


class Repository:
    """The RegistryRepository port: one repository on one endpoint, authenticated lazily."""

    def __init__(self, client: AiohttpRegistry, endpoint: Endpoint, path: str, auth: RegistryAuth, scopes: list[str]):
        self.client, self.endpoint, self.path, self.auth, self.scopes = client, endpoint, path, auth, scopes
        self._challenges: list[Challenge] | None = None
        self.base = f"{endpoint.url}/v2/{path}"

    async def _call(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        params: list[tuple[str, str]] | None = None,
        ok: tuple[int, ...] = (200,),
        allow_redirects: bool = True,
    ) -> aiohttp.ClientResponse:
        if self._challenges is None:
            self._challenges = await self.client.ping(self.endpoint)
        replayable = data is None or isinstance(data, (bytes, str))
        for attempt in range(2):
            hdrs = dict(headers or {})
            authz = await self.client.authorization(
                self.endpoint, self._challenges, self.auth, self.scopes, refresh=attempt > 0
            )
            if authz:
                hdrs["Authorization"] = authz
            resp = await self.client.send(
                self.endpoint, method, url, headers=hdrs, data=data, params=params, allow_redirects=allow_redirects
            )
            if resp.status in ok:
                return resp
            # a cached token the registry no longer takes: fetch a fresh one, once
            if resp.status == 401 and attempt == 0 and replayable and authz and authz.startswith("Bearer "):
                resp.release()
                continue
            async with resp:
                raise await registry_error(resp)
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_manifest(self, reference: str, accept: list[str], limit: int) -> FetchedManifest:
        resp = await self._call("GET", f"{self.base}/manifests/{reference}", headers={"Accept": ", ".join(accept)})
        async with resp:
            if resp.content_length is not None and resp.content_length > limit:
                raise RegistryError(200, "", "", f"manifest too large: {resp.content_length} bytes (limit {limit})")
            data = await resp.content.read(limit + 1)
            if len(data) > limit:
                raise RegistryError(200, "", "", f"manifest too large: more than {limit} bytes")
            return FetchedManifest(data, resp.headers.get("Content-Type", "").split(";")[0].strip())

    async def open_blob(self, digest: str) -> BlobStream:
        resp = await self._call("GET", f"{self.base}/blobs/{digest}")
        return _Blob(resp)

    async def blob_exists(self, digest: str) -> bool:
        resp = await self._call("HEAD", f"{self.base}/blobs/{digest}", ok=(200, 404))
        async with resp:
            return resp.status == 200

    def _location(self, resp: aiohttp.ClientResponse) -> str:
        loc = resp.headers.get("Location", "")
        if not loc:
            raise RegistryError(resp.status, "", "", "registry gave no upload location")
        return urllib.parse.urljoin(self.endpoint.url + "/", loc)

    async def mount_blob(self, digest: str, source: str) -> bool:
        url = f"{self.base}/blobs/uploads/"
        try:
            resp = await self._call("POST", url, params=[("mount", digest), ("from", source)], ok=(201, 202))
        except RegistryError:
            return False
        async with resp:
            if resp.status == 201:
                return True
            loc = resp.headers.get("Location")
        if loc:  # the registry opened an upload instead: cancel it, the caller uploads anew
            try:
                r = await self._call("DELETE", urllib.parse.urljoin(self.endpoint.url + "/", loc), ok=(204, 200, 404))
                r.release()
            except (RegistryError, RegistryUnreachable):
                pass
        return False

    async def upload_blob(self, chunks: AsyncIterator[bytes], digest: Callable[[], str]) -> int:
        resp = await self._call("POST", f"{self.base}/blobs/uploads/", ok=(202,))
        async with resp:
            loc = self._location(resp)
        sent = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal sent
            async for chunk in chunks:
                sent += len(chunk)
                yield chunk

        resp = await self._call(
            "PATCH", loc, headers={"Content-Type": "application/octet-stream"}, data=counted(), ok=(202, 204)
        )
        async with resp:
            loc = self._location(resp)
        sep = "&" if "?" in loc else "?"
        resp = await self._call(
            "PUT", f"{loc}{sep}digest={urllib.parse.quote(digest())}", headers={"Content-Length": "0"}, ok=(201, 204)
        )
        resp.release()
        return sent

    async def put_manifest(self, tag: str, data: bytes, media_type: str) -> None:
        resp = await self._call(
            "PUT", f"{self.base}/manifests/{tag}", headers={"Content-Type": media_type}, data=data, ok=(201, 200, 202)
        )
        resp.release()

    async def tags(self) -> list[str]:
        out: list[str] = []
        url: str | None = f"{self.base}/tags/list"
        for _ in range(100):  # pages, bounded
            if url is None:
                break
            resp = await self._call("GET", url)
            async with resp:
                doc = json.loads(await resp.content.read(16 << 20) or b"{}")
                link = resp.headers.get("Link", "")
            out += [t for t in doc.get("tags") or [] if isinstance(t, str)]
            url = None
            if 'rel="next"' in link and "<" in link:
                url = urllib.parse.urljoin(self.endpoint.url + "/", link[link.index("<") + 1 : link.index(">")])
        return out

    async def close(self) -> None:
        pass
