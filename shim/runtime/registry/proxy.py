"""Runtime adapter (pure): which proxy a registry request goes through, by Go's rules.

dockerd takes its proxies from the environment through Go's http.ProxyFromEnvironment
(golang.org/x/net/http/httpproxy): HTTPS_PROXY for https URLs, HTTP_PROXY for http ones
(upper or lower case), NO_PROXY to exempt hosts, domains (`.example.com` or `example.com`,
both matching subdomains), IPs, CIDRs and `host:port`s, `*` for everything; and never a
proxy for localhost or a loopback address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import urllib.parse
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyConfig:
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProxyConfig:
        e = os.environ if env is None else env

        def get(name: str) -> str:
            return e.get(name.upper()) or e.get(name.lower()) or ""

        return cls(get("http_proxy"), get("https_proxy"), get("no_proxy"))

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for a request to `url`, or None to connect directly."""
        u = urllib.parse.urlsplit(url)
        proxy = self.https_proxy if u.scheme == "https" else self.http_proxy
        if not proxy:
            return None
        host = (u.hostname or "").lower()
        port = u.port or (443 if u.scheme == "https" else 80)
        if not self._use_proxy(host, port):
            return None
        if "://" not in proxy:  # Go accepts a bare host:port and means http://
            proxy = "http://" + proxy
        return proxy

    def _use_proxy(self, host: str, port: int) -> bool:
        if host == "localhost":
            return False
        ip = _ip(host)
        if ip is not None and ip.is_loopback:
            return False
        for raw in self.no_proxy.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return False
            if "/" in entry:
                try:
                    if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                        return False
                except ValueError:
                    pass
                continue
            ehost, eport = _split(entry)
            if eport and eport != str(port):
                continue
            if _ip(ehost) is not None:
                if ip is not None and ip == _ip(ehost):
                    return False
                continue
            if ehost.startswith("*."):
                ehost = ehost[1:]
            if ehost.startswith("."):
                if host.endswith(ehost) or host == ehost[1:]:
                    return False
            elif host == ehost or host.endswith("." + ehost):
                return False
        return True


def _split(entry: str) -> tuple[str, str]:
    if entry.startswith("["):
        end = entry.find("]")
        return entry[1:end], entry[end + 2 :] if entry[end + 1 : end + 2] == ":" else ""
    if entry.count(":") == 1:
        h, _, p = entry.partition(":")
        return h, p
    return entry, ""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
