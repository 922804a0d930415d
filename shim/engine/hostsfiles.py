"""Engine layer: the content of a container's /etc/hosts, /etc/hostname and /etc/resolv.conf,
and the legacy link environment (pure functions, no I/O).

Formats follow libnetwork's etchosts/resolvconf packages and moby's daemon/links.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re

DEFAULT_HOSTS = [
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
]

EMBEDDED_DNS = "127.0.0.11"
# libnetwork's fallback when the host has only loopback resolvers (a container can't reach them).
DEFAULT_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]


@dataclasses.dataclass(slots=True)
class HostEntry:
    ip: str
    names: str  # space-separated, as written


def hosts(hostname: str, domainname: str, ip: str, extra: list[HostEntry]) -> str:
    """libnetwork etchosts.Build: defaults, extra records (ExtraHosts, links), then the own record."""
    lines = [f"{a}\t{b}" for a, b in DEFAULT_HOSTS]
    lines += [f"{e.ip}\t{e.names}" for e in extra]
    if ip:
        name = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        lines.append(f"{ip}\t{name}")
    return "\n".join(lines) + "\n"


def hostname_file(hostname: str) -> str:
    return hostname + "\n"


def extra_hosts(specs: list[str], host_gateway: str) -> list[HostEntry]:
    """HostConfig.ExtraHosts ("name:ip", ip may be host-gateway) as records."""
    out = []
    for spec in specs:
        name, sep, ip = spec.partition(":")
        if not sep:
            name, sep, ip = spec.partition("=")  # newer CLIs accept name=ip
        if ip == "host-gateway":
            ip = host_gateway
        out.append(HostEntry(ip, name))
    return out


def validate_extra_host(spec: str) -> str | None:
    """dockerd's ValidateExtraHost wording, or None when fine."""
    name, sep, ip = spec.partition(":")
    if not sep or not name:
        return f"bad format for add-host: {spec!r}"
    if ip == "host-gateway":
        return None
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return f"invalid IP address in add-host: {ip!r}"
    return None


def link_hosts(links: list[tuple[str, str, str, str]]) -> list[HostEntry]:
    """(alias, child hostname, child name, child ip) → `ip\\talias hostname [name]` as dockerd writes them."""
    out = []
    for alias, hostname, name, ip in links:
        names = f"{alias} {hostname}"
        if alias != name:
            names += f" {name}"
        out.append(HostEntry(ip, names))
    return out


@dataclasses.dataclass(slots=True)
class ResolvConf:
    nameservers: list[str]
    search: list[str]
    options: list[str]


def parse_resolv_conf(text: str) -> ResolvConf:
    ns, search, opts = [], [], []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] == "nameserver" and len(parts) > 1:
            ns.append(parts[1])
        elif parts[0] in ("search", "domain"):
            search = parts[1:]
        elif parts[0] == "options":
            opts += parts[1:]
    return ResolvConf(ns, search, opts)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def upstream_nameservers(host: ResolvConf, dns: list[str]) -> list[str]:
    """Where names not ours go: HostConfig.Dns, else the host's minus loopback, else Google's."""
    if dns:
        return list(dns)
    ns = [n for n in host.nameservers if not _is_loopback(n)]
    return ns or list(DEFAULT_NAMESERVERS)


def resolv_conf(host: ResolvConf, dns: list[str], dns_search: list[str], dns_options: list[str], embedded: bool) -> str:
    """The container's resolv.conf: the host's filtered (or Dns/DnsSearch/DnsOptions), or 127.0.0.11."""
    search = host.search
    if dns_search:
        search = [] if dns_search == ["."] else list(dns_search)
    options = list(dns_options) if dns_options else list(host.options)
    if embedded:
        servers = [EMBEDDED_DNS]
        # libnetwork: the embedded server wants bare names sent as they are.
        options = [o for o in options if not o.startswith("ndots:")]
        options = ["ndots:0", *options]
        if dns_options:
            options = list(dns_options) if any(o.startswith("ndots:") for o in dns_options) else options
    else:
        servers = upstream_nameservers(host, dns)
    lines = []
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {n}" for n in servers]
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- legacy links

_ALIAS_RE = re.compile(r"[^A-Za-z0-9_]")


def _port_key(p: str) -> tuple[int, str]:
    num, _, proto = p.partition("/")
    try:
        return int(num.split("-")[0]), proto or "tcp"
    except ValueError:
        return 0, proto or "tcp"


def link_env(parent_name: str, alias: str, child_ip: str, exposed_ports: list[str], child_env: list[str]) -> list[str]:
    """moby's links.Link.ToEnv: ALIAS_PORT…, ALIAS_NAME, ALIAS_ENV_… (HOME and PATH left out)."""
    a = alias.upper().replace("-", "_")
    env = []
    ports = sorted((_port_key(p) for p in exposed_ports), key=lambda k: (k[0], k[1]))
    if ports:
        num, proto = ports[0]
        env.append(f"{a}_PORT={proto}://{child_ip}:{num}")
    for num, proto in ports:
        key = f"{a}_PORT_{num}_{proto.upper()}"
        env += [
            f"{key}={proto}://{child_ip}:{num}",
            f"{key}_ADDR={child_ip}",
            f"{key}_PORT={num}",
            f"{key}_PROTO={proto}",
        ]
    env.append(f"{a}_NAME=/{parent_name}/{alias}")
    for kv in child_env:
        k, sep, v = kv.partition("=")
        if not sep or k in ("HOME", "PATH"):
            continue
        env.append(f"{a}_ENV_{k}={v}")
    return env


def parse_link(spec: str) -> tuple[str, str]:
    """`name:alias` or `name` (alias = name); a leading / is dropped as dockerd does."""
    name, sep, alias = spec.partition(":")
    name = name.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if sep else name
    return name, alias
