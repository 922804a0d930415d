"""Engine layer, networks: a container's /etc/hosts, /etc/hostname and /etc/resolv.conf on disk,
and its legacy links (hosts entries and environment, moby's daemon/links).

The content is engine/hostsfiles.py's (pure); this room decides what goes in, and writes through
the files adapter off the event loop. dockerd bind-mounts the three files from the container's
own directory; with --network host they are the host's hosts and resolv.conf.
"""

from __future__ import annotations

import asyncio
import os

from shim.engine import hostsfiles as hf
from shim.engine.model import Container
from shim.engine.netmodel import Attachment, ContainerNet
from shim.engine.netports import NetFilesPort
from shim.engine.networks.dnsrecords import DnsRecords
from shim.engine.networks.state import NetState
from shim.engine.ports import MountSpec
from shim.errors import InvalidParameter

# (key in ContainerNet.files, file name in the container's directory, path inside the container),
# in the order the mounts are made
FILES = (
    ("resolv_conf", "resolv.conf", "/etc/resolv.conf"),
    ("hostname", "hostname", "/etc/hostname"),
    ("hosts", "hosts", "/etc/hosts"),
)


def paths(data_root: str, cid: str) -> dict[str, str]:
    cdir = os.path.join(data_root, "containers", cid)
    return {key: os.path.join(cdir, name) for key, name, _ in FILES}


def attachment(cn: ContainerNet, env: list[str]) -> Attachment:
    """What a start gets: the namespace, the three files' mounts, the link variables."""
    files = cn.files
    return Attachment(
        netns_path=cn.netns,
        mounts=mounts(files),
        env=env,
        hosts_path=files["hosts"],
        hostname_path=files["hostname"],
        resolv_conf_path=files["resolv_conf"],
    )


def mounts(files: dict[str, str]) -> list[MountSpec]:
    return [
        MountSpec(destination=dest, source=files[key], type="bind", options=["rbind", "rprivate"])
        for key, _, dest in FILES
    ]


class ContainerFiles:
    def __init__(self, state: NetState, files: NetFilesPort, records: DnsRecords) -> None:
        self._state = state
        self._files = files
        self._records = records

    async def host_resolv(self) -> hf.ResolvConf:
        """The host's resolv.conf, read off the loop; the DNS records learn its resolvers."""
        host = await asyncio.to_thread(self._read_host_resolv)
        self._records.learn_host_resolv(host)
        return host

    def _read_host_resolv(self) -> hf.ResolvConf:
        return hf.parse_resolv_conf(self._files.read_host_resolv_conf())

    def links(self, c: Container, cn: ContainerNet) -> list[tuple[Container, str, str]]:
        """(child, alias, child's address) of each HostConfig.Links entry; dockerd's refusals."""
        nets = self._state.nets
        out = []
        on_default = any(nets[n].is_default_bridge for n in cn.order if n in nets)
        for spec in c.host_config.get("Links") or []:
            name, alias = hf.parse_link(spec)
            child = self._state.container(name)
            ccn = self._state.cn.get(child.id)
            if ccn is None or not ccn.live:
                raise InvalidParameter(f"Cannot link to a non running container: /{child.name} AS /{c.name}/{alias}")
            ip = ""
            for nid in cn.order:
                if nid in ccn.endpoints and ccn.endpoints[nid].ip:
                    ip = ccn.endpoints[nid].ip
                    break
            if not ip and on_default:
                raise InvalidParameter(f"Cannot link to /{child.name}, as it does not belong to the default network")
            out.append((child, alias, ip))
        return out

    def link_env(self, c: Container, cn: ContainerNet) -> list[str]:
        """Legacy links on the default bridge: variables now, hosts entries in write()."""
        env: list[str] = []
        for child, alias, ip in self.links(c, cn):
            env += hf.link_env(
                c.name,
                alias,
                ip,
                sorted((child.config.get("ExposedPorts") or {}).keys()),
                child.config.get("Env") or [],
            )
        return env

    async def write(self, c: Container, cn: ContainerNet, files: dict[str, str]) -> None:
        """A container in its own namespace: its address, ExtraHosts and links; resolv.conf with
        127.0.0.11 on user-defined networks, else the host's filtered (or HostConfig.Dns)."""
        hc = c.host_config
        first = cn.endpoints.get(cn.order[0]) if cn.order else None
        ip = first.ip if first else ""
        extra = hf.extra_hosts(hc.get("ExtraHosts") or [], self._state.default_bridge().gateway)
        extra += hf.link_hosts(
            [
                (alias, child.config.get("Hostname") or child.id[:12], child.name, cip)
                for child, alias, cip in self.links(c, cn)
                if cip
            ]
        )
        hosts = hf.hosts(cn.hostname, c.config.get("Domainname") or "", ip, extra)
        dns = (list(hc.get("Dns") or []), list(hc.get("DnsSearch") or []), list(hc.get("DnsOptions") or []))
        embedded = self._state.uses_embedded_dns(cn)
        hostname = hf.hostname_file(cn.hostname)

        def read_render_write() -> hf.ResolvConf:
            # one thread hop for the host's resolv.conf and the three files (a start's network
            # setup had eight hops; each costs both threads a wake-up on a saturated machine)
            host = self._read_host_resolv()
            self._write_all(files, hosts, hostname, hf.resolv_conf(host, *dns, embedded=embedded))
            return host

        self._records.learn_host_resolv(await asyncio.to_thread(read_render_write))

    async def write_host_mode(self, files: dict[str, str], hostname: str) -> None:
        await asyncio.to_thread(self._write_host_mode, files, hostname)

    def _write_host_mode(self, files: dict[str, str], hostname: str) -> None:
        hosts = self._files.read_host_file("/etc/hosts")
        self._write_all(
            files,
            hosts or hf.hosts(hostname, "", "", []),
            hf.hostname_file(hostname),
            self._files.read_host_resolv_conf(),
        )

    def _write_all(self, files: dict[str, str], hosts: str, hostname: str, resolv: str) -> None:
        self._files.write(files["hosts"], hosts)
        self._files.write(files["hostname"], hostname)
        self._files.write(files["resolv_conf"], resolv)
