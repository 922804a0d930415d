"""Engine layer (pure): which endpoints a registry host is reached at, as dockerd decides it.

dockerd's rules (registry/config.go and service_v2.go, 20.10):
- a registry is *insecure* when its `host:port` was given to `--insecure-registry`, or when one
  of its addresses falls in an insecure CIDR; 127.0.0.0/8 and ::1/128 always are. Names are resolved
  for that check (by the runtime adapter); a name that does not resolve counts as secure;
- a secure registry is reached over HTTPS only, with the CAs and client certificates of
  `/etc/docker/certs.d/<host:port>/`; an insecure one over HTTPS without verification first,
  then plain HTTP;
- Docker Hub (`docker.io`) names go to the `--registry-mirror`s first (pull only: a push never
  sends credentials to a mirror), then to `registry-1.docker.io`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable
from typing import Protocol

from shim.engine import refs
from shim.engine.imageports import Endpoint

INDEX_NAME = refs.DEFAULT_DOMAIN  # docker.io
INDEX_HOSTNAME = "index.docker.io"
DEFAULT_V2_REGISTRY = "https://registry-1.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"  # the key the CLI stores Hub credentials under
# dockerd adds these to every --insecure-registry list (28 added ::1/128 to 127.0.0.0/8)
ALWAYS_INSECURE = ("::1/128", "127.0.0.0/8")

_HOST_PORT_RE = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


def validate_mirror(val: str) -> str:
    """ValidateMirror: http(s) URL without path, query or credentials; returned with one `/`."""
    uri = urllib.parse.urlsplit(val)
    if uri.scheme not in ("http", "https"):
        raise ValueError(f'invalid mirror: unsupported scheme "{uri.scheme}" in "{val}"')
    if uri.path not in ("", "/") or uri.query or uri.fragment:
        raise ValueError(f'invalid mirror: path, query, or fragment at end of the URI "{val}"')
    if uri.username is not None:
        raise ValueError(f'invalid mirror: username/password not allowed in URI "{_hide_password(uri)}"')
    return val.rstrip("/") + "/"


def _hide_password(uri: urllib.parse.SplitResult) -> str:
    host = uri.hostname or ""
    port = f":{uri.port}" if uri.port else ""
    return f"{uri.scheme}://{uri.username}:xxxxx@{host}{port}{uri.path}"


def validate_insecure(val: str) -> str:
    """LoadInsecureRegistries' checks: a CIDR or a host[:port], a leading http(s):// dropped."""
    r = val
    if r.startswith("-") or r.endswith("-"):
        raise ValueError(f"invalid index name ({r}). Cannot begin or end with a hyphen")
    low = r.lower()
    if low.startswith("http://"):
        r = r[7:]
    elif low.startswith("https://"):
        r = r[8:]
    elif "://" in r:
        raise ValueError(f"insecure registry {r} should not contain '://'")
    try:
        ipaddress.ip_network(r, strict=False)
        if "/" in r:
            return r
    except ValueError:
        pass
    host, port = split_host_port(r)
    if not _HOST_PORT_RE.match(r) and not _is_ip(host):
        raise ValueError(f'insecure registry {r} is not valid: invalid host "{host}"')
    if port and (not port.isdigit() or int(port) > 65535):
        raise ValueError(f'insecure registry {r} is not valid: invalid port "{port}"')
    return r


def split_host_port(host: str) -> tuple[str, str]:
    """net.SplitHostPort, lenient: `[::1]:5000` -> (::1, 5000), `host` -> (host, "")."""
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            return host[1:end], rest[1:] if rest.startswith(":") else ""
    if host.count(":") == 1:
        h, _, p = host.partition(":")
        return h, p
    return host, ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class RegistryOptions(Protocol):
    """The daemon's registry settings (shim.config.Settings), read at each use: SIGHUP reloads them."""

    insecure_registries: list[str]
    registry_mirrors: list[str]
    max_concurrent_downloads: int
    max_concurrent_uploads: int


_policies: dict[tuple[tuple[str, ...], tuple[str, ...]], RegistryPolicy] = {}


def policy_of(opts: RegistryOptions) -> RegistryPolicy:
    """The policy for the options as they are now (one per distinct pair of lists)."""
    key = (tuple(opts.insecure_registries), tuple(opts.registry_mirrors))
    policy = _policies.get(key)
    if policy is None:
        insecure = []
        for r in opts.insecure_registries:  # dockerd drops a scheme with a warning
            low = r.lower()
            insecure.append(r.split("://", 1)[1] if low.startswith(("http://", "https://")) else r)
        mirrors = [m.rstrip("/") + "/" for m in opts.registry_mirrors]
        policy = _policies[key] = RegistryPolicy(insecure=insecure, mirrors=mirrors)
    return policy


@dataclasses.dataclass(slots=True)
class RegistryPolicy:
    """The daemon's registry options, resolved once at start."""

    insecure: list[str] = dataclasses.field(default_factory=list)  # as validated: CIDRs and host[:port]s
    mirrors: list[str] = dataclasses.field(default_factory=list)  # validated URLs ending in /
    _cidrs: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = dataclasses.field(default_factory=list, repr=False)
    _hosts: set[str] = dataclasses.field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        for r in [*self.insecure, *ALWAYS_INSECURE]:
            if "/" in r:
                net = ipaddress.ip_network(r, strict=False)
                if net not in self._cidrs:
                    self._cidrs.append(net)
            else:
                self._hosts.add(r)
        self.mirrors = list(dict.fromkeys(self.mirrors))

    @property
    def insecure_cidrs(self) -> list[str]:
        return [str(n) for n in self._cidrs]

    @property
    def insecure_hosts(self) -> list[str]:
        return sorted(self._hosts)

    def needs_lookup(self, host: str) -> bool:
        """Whether is_secure() wants the host's addresses (a name, not a configured host:port)."""
        return not self._official(host) and host not in self._hosts

    def lookup_name(self, host: str) -> str | None:
        """The name is_secure() wants resolved: none for the Hub, a configured host:port or an IP."""
        name, _ = split_host_port(host)
        return name if self.needs_lookup(host) and not _is_ip(name) else None

    def is_secure(self, host: str, addresses: Iterable[str] = ()) -> bool:
        """isSecureIndex: configured host:port first, then the CIDRs against the addresses
        (the resolved ones; the host itself when it is an IP literal)."""
        if self._official(host):
            return True
        if host in self._hosts:
            return False
        name, _ = split_host_port(host)
        addrs = list(addresses) or ([name] if _is_ip(name) else [])
        for a in addrs:
            try:
                ip = ipaddress.ip_address(a)
            except ValueError:
                continue
            if any(ip.version == n.version and ip in n for n in self._cidrs):
                return False
        return True

    @staticmethod
    def _official(host: str) -> bool:
        return host in (INDEX_NAME, INDEX_HOSTNAME)

    def endpoints(self, host: str, secure_of: dict[str, bool], *, push: bool = False) -> list[Endpoint]:
        """lookupV2Endpoints: mirrors (pull only) then the Hub for docker.io; HTTPS, then HTTP
        when insecure, for anything else. `secure_of` gives is_secure() for each host involved
        (the registry itself and every mirror's host)."""
        if self._official(host):
            out = []
            if not push:
                for m in self.mirrors:
                    u = urllib.parse.urlsplit(m)
                    out.append(
                        Endpoint(f"{u.scheme}://{u.netloc}", u.netloc, secure_of.get(u.netloc, True), mirror=True)
                    )
            out.append(Endpoint(DEFAULT_V2_REGISTRY, INDEX_NAME, True, official=True))
            return out
        secure = secure_of.get(host, True)
        out = [Endpoint(f"https://{host}", host, secure)]
        if not secure:
            out.append(Endpoint(f"http://{host}", host, False))
        return out

    def hosts_to_check(self, host: str) -> list[str]:
        """Every host whose security endpoints() needs to know."""
        if self._official(host):
            return [urllib.parse.urlsplit(m).netloc for m in self.mirrors]
        return [host]

    def index_configs(self) -> dict[str, dict[str, object]]:
        """/info RegistryConfig.IndexConfigs: the Hub plus each insecure host:port."""
        out: dict[str, dict[str, object]] = {
            h: {"Name": h, "Mirrors": [], "Secure": False, "Official": False} for h in sorted(self._hosts)
        }
        out[INDEX_NAME] = {"Name": INDEX_NAME, "Mirrors": list(self.mirrors), "Secure": True, "Official": True}
        return out


def server_host(server_address: str) -> str:
    """The registry host of a login's ServerAddress (`https://index.docker.io/v1/` is the Hub)."""
    if not server_address:
        return INDEX_NAME
    addr = server_address
    if not addr.startswith(("http://", "https://")):
        addr = "https://" + addr
    host = urllib.parse.urlsplit(addr).netloc
    return INDEX_NAME if host in (INDEX_HOSTNAME, INDEX_NAME, "registry-1.docker.io") else host
