"""Engine layer, networks: the records the embedded DNS (127.0.0.11) answers, and where it forwards.

As libnetwork's resolver: on user-defined networks a container finds its peers by name, network
alias, ID (short and full), `name.network`, and its own legacy links' aliases; PTR answers
`name.network`. Anything else goes to the container's Dns, else the host's non-loopback resolvers.
"""

from __future__ import annotations

from shim.engine import hostsfiles as hf
from shim.engine.netmodel import ContainerNet
from shim.engine.netports import DnsServerPort
from shim.engine.networks.ipam import overlaps
from shim.engine.networks.state import NetState


class DnsRecords:
    def __init__(self, state: NetState, server: DnsServerPort) -> None:
        self._state = state
        self._server = server
        self.host_upstreams: list[str] = list(hf.DEFAULT_NAMESERVERS)

    def learn_host_resolv(self, host: hf.ResolvConf) -> None:
        """Keep the host's resolvers, so no DNS query reads a file."""
        self.host_upstreams = hf.upstream_nameservers(host, [])

    async def serve(self, cn: ContainerNet) -> None:
        """Start the container's server, if it is live in its own namespace on a user-defined network."""
        if not cn.live or not cn.owns_netns or not self._state.uses_embedded_dns(cn):
            return
        cid = cn.cid
        await self._server.serve(
            cid,
            cn.netns,
            lambda name: self.lookup_a(cid, name),
            lambda ip: self.lookup_ptr(cid, ip),
            lambda: self.upstreams(cid),
        )

    async def stop(self, cid: str) -> None:
        await self._server.stop(cid)

    async def close(self) -> None:
        await self._server.close()

    def upstreams(self, cid: str) -> list[str]:
        """Where the embedded DNS forwards: the container's Dns, else the host's resolvers."""
        cn = self._state.cn.get(cid)
        if cn is not None and cn.upstream_dns:
            return list(cn.upstream_dns)
        return list(self.host_upstreams)

    def lookup_a(self, cid: str, name: str) -> list[str] | None:
        """Names the embedded DNS answers for container `cid`: peers' names, aliases, IDs, links."""
        nets, cns = self._state.nets, self._state.cn
        me = cns.get(cid)
        if me is None:
            return None
        name = name.lower()
        mine = [nid for nid in me.order if nid in nets and not nets[nid].predefined and me.endpoints[nid].endpoint_id]
        for nid in mine:  # links are per-container aliases (compose's `links:` on user networks)
            for spec in me.endpoints[nid].links or []:
                target, alias = hf.parse_link(spec)
                if alias.lower() == name:
                    name = target.lower()
        found: list[str] = []
        for nid in mine:
            netname = nets[nid].name.lower()
            for other in cns.values():
                ep = other.endpoints.get(nid)
                if not other.live or ep is None or not ep.ip:
                    continue
                names = {other.name.lower(), other.cid[:12], other.cid, *(a.lower() for a in ep.aliases)}
                hit = name in names or any(name == f"{n}.{netname}" for n in names)
                if hit and ep.ip not in found:
                    found.append(ep.ip)
        return found or None

    def lookup_ptr(self, cid: str, ip: str) -> str | None:
        me = self._state.cn.get(cid)
        if me is None:
            return None
        for nid in me.order:
            net = self._state.nets.get(nid)
            if net is None or net.predefined or not overlaps(net.subnet, ip + "/32"):
                continue
            for other in self._state.cn.values():
                ep = other.endpoints.get(nid)
                if other.live and ep is not None and ep.ip == ip:
                    return f"{other.name}.{net.name}"
            return ""
        return None
