"""Runtime adapter (pure parts): registry authentication challenges and bearer tokens.

The distribution spec's two schemes, as docker/distribution's client does them:
- `WWW-Authenticate: Basic realm="…"`: the username and password on every request;
- `WWW-Authenticate: Bearer realm="https://auth…/token",service="…"`: a token for the scopes
  a request needs (`repository:<path>:pull[,push]`) from the realm; anonymous when there are
  no credentials, with Basic credentials or an identity (refresh) token otherwise. Tokens are
  cached until they expire (60 s at least, as distribution) and dropped on a 401.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
import urllib.parse

_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
MIN_TOKEN_LIFE = 60


@dataclasses.dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # lower case: basic | bearer
    params: dict[str, str]


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """Every challenge in the WWW-Authenticate headers (one header may hold several):
    `scheme` followed by `key=value` / `key="quoted value"` parameters, commas between."""
    out: list[Challenge] = []
    for s in headers:
        i, n = 0, len(s)
        current: Challenge | None = None
        while i < n:
            while i < n and s[i] in " \t,":
                i += 1
            m = _TOKEN_RE.match(s, i)
            if not m:
                break
            tok, k = m.group(0), m.end()
            while k < n and s[k] in " \t":
                k += 1
            if k >= n or s[k] != "=":  # a bare token starts a new challenge
                current = Challenge(tok.lower(), {})
                out.append(current)
                i = m.end()
                continue
            k += 1
            while k < n and s[k] in " \t":
                k += 1
            if k < n and s[k] == '"':
                chars, k = [], k + 1
                while k < n and s[k] != '"':
                    if s[k] == "\\" and k + 1 < n:
                        k += 1
                    chars.append(s[k])
                    k += 1
                value, k = "".join(chars), k + 1
            else:
                j = k
                while k < n and s[k] not in " \t,":
                    k += 1
                value = s[j:k]
            if current is not None:
                current.params[tok.lower()] = value
            i = k
    return out


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def check_realm(realm: str) -> str:
    """A realm we may send credentials to: an absolute http(s) URL without userinfo."""
    u = urllib.parse.urlsplit(realm)
    if u.scheme not in ("http", "https") or not u.netloc or u.username is not None:
        raise ValueError(f"invalid token realm {realm!r}: not an http(s) URL")
    return realm


def token_query(
    realm: str, service: str, scopes: list[str], account: str = "", offline: bool = False
) -> list[tuple[str, str]]:
    q: list[tuple[str, str]] = []
    if service:
        q.append(("service", service))
    q += [("scope", s) for s in scopes]
    if account:
        q.append(("account", account))
    if offline:
        q += [("offline_token", "true"), ("client_id", "docker")]
    return q


@dataclasses.dataclass(slots=True)
class Token:
    value: str
    expires: float  # time.monotonic() deadline
    refresh_token: str = ""


def token_from_response(doc: object, now: float | None = None) -> Token:
    """The token server's JSON: `token` or `access_token`, `expires_in` (60 s at least)."""
    if not isinstance(doc, dict):
        raise ValueError("token server answered something that is not a JSON object")
    value = doc.get("access_token") or doc.get("token")
    if not isinstance(value, str) or not value:
        raise ValueError("token server answered without a token")
    try:
        life = max(int(doc.get("expires_in") or MIN_TOKEN_LIFE), MIN_TOKEN_LIFE)
    except (TypeError, ValueError):
        life = MIN_TOKEN_LIFE
    start = time.monotonic() if now is None else now
    refresh = doc.get("refresh_token")
    return Token(value, start + life, refresh if isinstance(refresh, str) else "")


class TokenCache:
    """Bearer tokens by (realm, service, scopes, who), valid until their expiry."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, tuple[str, ...], str], Token] = {}

    def get(self, key: tuple[str, str, tuple[str, ...], str]) -> Token | None:
        tok = self._tokens.get(key)
        if tok is None or tok.expires <= time.monotonic():
            self._tokens.pop(key, None)
            return None
        return tok

    def put(self, key: tuple[str, str, tuple[str, ...], str], tok: Token) -> None:
        if len(self._tokens) > 256:  # bounded: drop the expired, then the oldest
            now = time.monotonic()
            for k in [k for k, t in self._tokens.items() if t.expires <= now] or list(self._tokens)[:64]:
                self._tokens.pop(k, None)
        self._tokens[key] = tok

    def drop(self, key: tuple[str, str, tuple[str, ...], str]) -> None:
        self._tokens.pop(key, None)
