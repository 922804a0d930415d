"""Engine layer (containers): what inspect and the list show beyond the container record.

`extra(c)` gathers what other parts know of a container (runtime paths, mounts, network
settings); the list (GET /containers/json) resolves its filters' references, looks each
container's facts up once for the filter and the output, and adds sizes when asked. translate/
renders all of it per API version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Any

from shim.engine.containers.core import Core
from shim.engine.containers.revisions import Revisions
from shim.engine.containers.sizes import Sizes
from shim.engine.model import Container, ListQuery
from shim.engine.netmodel import EndpointView
from shim.errors import ShimError

# A list filter: the container and the facts it may match against (ancestor_ids, before_created,
# since_created, and with network/volume filters networks, network_ids, volumes).
Keep = Callable[[Container, dict[str, Any]], bool]


class Facts:
    def __init__(self, core: Core, sizes: Sizes) -> None:
        self._core = core
        self._sizes = sizes
        self._revisions = Revisions(self.exists)
        core.store.on_write(self._revisions.stored)
        core.events.on_publish(self._revisions.published)

    def extra(self, c: Container) -> dict[str, Any]:
        """What inspect shows that the runtime, volumes and networking know; `network_settings` is
        networking's facts (an EndpointView) that translate renders at the client's API version."""
        core = self._core
        rt = core.runtime
        upper = rt.upper_dir(c.id)
        base = os.path.dirname(upper)
        net = core.network
        return {
            **(net.paths(c) if net is not None else {}),
            "log_path": _log_path(c, rt.log_path(c.id)),
            "graph_driver_data": {
                "LowerDir": ":".join(reversed(c.layer_dirs)),
                "MergedDir": rt.rootfs_path(c.id),
                "UpperDir": upper,
                "WorkDir": os.path.join(base, "work"),
            },
            "mounts": core.volumes.inspect_mounts(c.id),
            "network_settings": net.inspect(c) if net is not None else None,
            "apparmor_profile": core.security.apparmor_profile(c.host_config, started=c.state.started_at > 0),
        }

    @staticmethod
    def filter_facts(extra: dict[str, Any]) -> dict[str, Any]:
        """What the network and volume ps filters match against: network names and IDs, and the
        volume names / sources / destinations of the container's mounts."""
        facts: dict[str, Any] = {}
        view: EndpointView | None = extra.get("network_settings")
        if view is not None:
            shown = view.shown()
            facts["networks"] = [name for name, _, _ in shown]
            facts["network_ids"] = [net.id if net is not None else "" for _, net, _ in shown]
        vols: list[str] = []
        for m in extra.get("mounts") or []:
            vols.extend(v for v in (m.get("Name"), m.get("Source"), m.get("Destination")) if v)
        facts["volumes"] = vols
        return facts

    def filter_context(self, *, ancestors: list[str], before: list[str], since: list[str]) -> dict[str, Any]:
        """Resolve the references a ps filter names: ancestor images (and their children), before/since."""
        ctx: dict[str, Any] = {}
        images = self._core.images
        if ancestors:
            ids: set[str] = set()
            for ref in ancestors:
                try:
                    if images is None:
                        continue
                    todo = [images.resolve(ref)]
                except ShimError:
                    continue  # dockerd logs and ignores an unknown ancestor
                while todo:
                    i = todo.pop()
                    if i.id not in ids:
                        ids.add(i.id)
                        todo.extend(images.children(i.id))
            ctx["ancestor_ids"] = ids
        if before:
            ctx["before_created"] = self._core.table.get(before[-1]).created
        if since:
            ctx["since_created"] = self._core.table.get(since[-1]).created
        return ctx

    def matching(self, q: ListQuery, keep: Keep) -> list[Container]:
        """GET /containers/json's containers: newest first, running only unless `show_all`, those
        `keep` accepts (a network or volume filter looks at each one's facts), at most `q.limit`."""
        ctx = self.filter_context(ancestors=q.ancestors, before=q.before, since=q.since)
        found: list[Container] = []
        for c in self._core.table.all():
            if not q.show_all and not c.state.running:
                continue
            facts = {**ctx, **(self.filter_facts(self.extra(c)) if q.mount_and_network_facts else {})}
            if not keep(c, facts):
                continue
            found.append(c)
            if 0 < q.limit <= len(found):
                break
        return found

    async def listing(self, q: ListQuery, keep: Keep) -> list[tuple[Container, dict[str, Any]]]:
        """`matching`, each container with its extra facts, and sizes when asked."""
        out = []
        for c in self.matching(q, keep):
            extra = self.extra(c)
            if q.size:
                extra.update(await self._sizes.sizes(c))
            out.append((c, extra))
        return out

    def exists(self, cid: str) -> bool:
        return cid in self._core.table

    def revision(self, c: Container) -> Hashable:
        """A token that changes whenever what inspect or the list shows of `c` may have changed,
        driven by the engine's state changes: each saved record and each event that is `c`'s own
        (its record, endpoints, mounts; its container, connect and mount events) and every one that
        is not any container's (networks, volumes, images: over-invalidation is safe), see
        revisions.py; and the facts that change in memory only (removal in progress, a health
        probe's result, whose FailingStreak and Log show before any status change)."""
        st = c.state
        h = st.health
        health = (h.status, h.failing_streak, len(h.log), h.log[-1].start if h.log else 0) if h is not None else None
        return (self._revisions.of(c.id), st.status, health)

    def image_usage(self, image_id: str) -> list[tuple[str, bool]]:
        """(container ID, running?) of every container made from the image (rmi's conflicts, df)."""
        return [(c.id, c.state.running) for c in self._core.table.values() if c.image_id == image_id]


def _log_path(c: Container, path: str) -> str:
    """dockerd sets LogPath when the json-file logger starts (container.StartLogger): empty before
    the first start and for other drivers (`local` keeps its file private on purpose)."""
    lc = c.host_config.get("LogConfig") or {}
    return path if c.has_been_started and (lc.get("Type") or "json-file") == "json-file" else ""
