"""Engine layer, networks: the tables every room of the network service reads and changes.

Networks by ID, each container's endpoints (store kind `endpoints`, keyed by container ID) and
the addresses whose veth is still being deleted. Changes happen under the service's one lock;
lookups follow dockerd's FindNetwork through engine/refs.py.
"""

from __future__ import annotations

from collections.abc import Callable

from shim.engine import refs
from shim.engine.model import Container
from shim.engine.netmodel import ContainerNet, Endpoint, Network
from shim.engine.store import Store
from shim.errors import InvalidParameter, NotFound

NETWORKS, ENDPOINTS = "networks", "endpoints"


class NetState:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.nets: dict[str, Network] = {}
        self.cn: dict[str, ContainerNet] = {}
        self.quarantine: dict[str, set[str]] = {}  # network id -> addresses whose veth is being deleted
        self._get_container: Callable[[str], Container] | None = None

    # ------------------------------------------------------------ containers (the container service's)

    def bind_containers(self, get: Callable[[str], Container]) -> None:
        self._get_container = get

    def container(self, ref: str) -> Container:
        """A container by ref (container:<ref> modes, --link targets); NotFound with dockerd's wording."""
        if self._get_container is None:
            raise NotFound(f"No such container: {ref}")
        return self._get_container(ref)

    # ------------------------------------------------------------ networks

    def networks(self) -> list[Network]:
        return sorted(self.nets.values(), key=lambda n: n.created)

    def get(self, ref: str) -> Network:
        """dockerd's FindNetwork: full ID, then name, then a unique ID prefix."""
        if ref.startswith("sha256:") and not any(n.name == ref for n in self.nets.values()):
            raise NotFound(f"network {ref} not found")  # network IDs carry no algorithm (refs strips one)
        try:
            return self.nets[refs.lookup(ref, ((n.id, [n.name]) for n in self.nets.values()))]
        except refs.RefAmbiguous:
            count = sum(1 for n in self.nets.values() if n.id.startswith(ref))
            raise InvalidParameter(f"network {ref} is ambiguous ({count} matches found based on ID prefix)") from None
        except refs.RefNotFound:
            raise NotFound(f"network {ref} not found") from None

    def default_bridge(self) -> Network:
        return next(n for n in self.nets.values() if n.is_default_bridge)

    def endpoints_on(self, net: Network) -> list[tuple[ContainerNet, Endpoint]]:
        """The live endpoints on `net`."""
        return [
            (cn, cn.endpoints[net.id])
            for cn in self.cn.values()
            if cn.live and net.id in cn.endpoints and cn.endpoints[net.id].endpoint_id
        ]

    def uses_embedded_dns(self, cn: ContainerNet) -> bool:
        """dockerd serves 127.0.0.11 to containers on user-defined networks only."""
        return any(nid in self.nets and not self.nets[nid].predefined for nid in cn.order)

    # ------------------------------------------------------------ persistence

    async def save_net(self, n: Network) -> None:
        await self.store.aput(NETWORKS, n.id, n.to_dict())

    async def delete_net(self, net_id: str) -> None:
        await self.store.adelete(NETWORKS, net_id)

    async def save_cn(self, cn: ContainerNet) -> None:
        await self.store.aput(ENDPOINTS, cn.cid, cn.to_dict())

    async def delete_cn(self, cid: str) -> None:
        await self.store.adelete(ENDPOINTS, cid)
