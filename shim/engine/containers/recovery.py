"""Engine layer (containers): the order of create's and removal's steps, and daemon start: the
store reconciled with what the host holds.

A SIGKILL may have cut any operation between two of its steps (docs/RELIABILITY.md gives each
operation's order). At start, in both directions:

- records → runtime: a container recorded as running whose process is gone gets its real exit
  (or 255) applied; one recorded as stopped whose process runs was started by a start cut before
  its state was saved: it is adopted (the record exists, the process runs: the start happened);
  one whose runtime state, monitor or rootfs mount is still there without a process (a start cut
  before the process ran, a cleanup cut halfway, a `docker cp` cut while it had the rootfs
  mounted) is cleaned up like any stopped container.
- runtime → records: whatever the runtime, networking or the volume service holds for an ID no
  record names (a create or a start cut before the record, a removal cut after it) is killed and
  removed with everything it holds (`Runtime.survey`, `NetworkingPort.forget`).
- intents (engine/intents.py): a create cut before its record undoes its volumes; a start cut
  anywhere is settled as above; a removal cut anywhere is finished, with its `-v`.

Records that cannot be read are never fatal: the container is skipped, and what the runtime holds
for it is left alone (a file an operator may repair is not evidence that nothing owns it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

from shim.engine.containers.core import KIND, Core
from shim.engine.containers.lifecycle import Lifecycle
from shim.engine.containers.record import Live
from shim.engine.containers.streams import Streams
from shim.engine.containers.waiters import Waiters
from shim.engine.intents import Intent
from shim.engine.model import Container
from shim.engine.ports import ExitInfo, RuntimeState
from shim.engine.state import Status
from shim.errors import ShimError, SystemFailure

log = logging.getLogger("shim.containers")

RemoveFn = Callable[[Container, bool], Awaitable[None]]

# An exit already applied has this finished_at (ns) in the record, within rounding.
_SAME_EXIT_NS = 1_000_000
# How long shimd's stop waits for removals still releasing their runtime (s).
SETTLE_AT_STOP = 10.0


class Recovery:
    def __init__(self, core: Core, life: Lifecycle, remove: RemoveFn) -> None:
        self._core = core
        self._life = life
        self._remove = remove
        self.unreadable: set[str] = set()
        self.last_figures: dict[str, float] = {}
        self._releasing: set[asyncio.Task[None]] = set()  # removals' background halves
        if core.images is not None:  # the image store's cleanup at start keeps what containers stack on
            core.images.set_layer_usage(lambda: {d for c in core.table.values() for d in c.layer_dirs})

    # ------------------------------------------------------------ the ordered steps

    async def record_create(self, c: Container, lookup: Callable[[str], Container]) -> None:
        """Create's steps that change the host: the intent, the volumes, the record. A crash before
        the record is undone at the next start (`_undo_creates`); a failure (a full disk) here.
        A container without mounts (most) has nothing for a crash to leave: only its record."""
        core = self._core
        if not core.volumes.plans_mounts(c):
            core.table.add(c)
            try:
                await core.save(c)
            except BaseException:
                core.table.drop(c)
                raise
            return
        registered = False
        try:
            await core.journal.begin("create", c.id)
            await core.volumes.register(c, lookup)  # the seed's registerMountPoints, at create
            registered = True
            core.table.add(c)
            await core.save(c)
        except BaseException:
            core.table.drop(c)
            if registered:
                await core.volumes.forget(c.id, remove_anonymous=True)
            await core.end_intent("create", c.id)
            raise
        await core.end_intent("create", c.id)

    async def remove(self, c: Container, live: Live, volumes: bool) -> None:
        """Removal's steps, under the container's lock (`live.lock`, the caller's): the intent (with
        `-v`), the seed's Cleanup, the runtime's files, then the endpoints beside the mounts (and
        anonymous volumes) and the record: a removal cut by a crash is finished at the next start,
        never left half done under a record that looks whole. A failure marks the container dead
        (dockerd's "unable to remove filesystem")."""
        core = self._core
        _removing(c)
        await Streams.drain(live)  # dockerd: attach EOF precedes the wait body, and a follower keeps its log file open
        try:
            await core.journal.begin("remove", c.id, volumes=volumes)
            await self._life.teardown(c)
            await core.runtime.remove(c.id)
            await self._forget(c, volumes)
        except ShimError as e:
            await self._failed(c, e)
        await core.end_intent("remove", c.id)
        self._gone(c, live)

    async def remove_at_exit(self, c: Container, live: Live) -> None:
        """An AutoRemove container's removal as its exit is applied, in the exit's hold of its lock
        (issue 17: `docker run --rm` waits for it). What a client can see goes now: the endpoints
        (names, aliases, published ports) beside the intent (with `-v`), the mounts (anonymous
        volumes) and the record, in that order. What only the host holds — runc's state, the
        monitor, the rootfs mount, the bundle and files, the address (the network keeps it until
        its veth is gone) — is left to `_release_later`, once attached clients and log followers
        have read the last output too: their files go only then. A failure tears the runtime down
        at once and marks the container dead."""
        _removing(c)
        try:
            self._life.stop_watching(c)
            # the endpoints need no intent (a crash before it finds the record running and the
            # exit file: the exit and this removal are applied again): forgotten beside it
            await asyncio.gather(Streams.drain(live), self._forget(c, True, intent=True))
        except ShimError as e:
            await self._life.teardown(c)
            await self._failed(c, e)
        self._release_later(c.id)
        self._gone(c, live)

    def _gone(self, c: Container, live: Live) -> None:
        """The removal done: out of the index, `destroy`, and whoever still waits is answered."""
        self._core.table.drop(c)
        self._core.event(c, "destroy")
        Waiters.notify_removed(c, live)

    def _release_later(self, cid: str) -> None:
        """The rest of `remove_at_exit`, in a background task that clears the intent when done;
        shimd's stop awaits it (`settle`). A crash before that finds the intent and no record: the
        runtime's survey at the next start removes what no record names, as for any removal cut
        after its record."""
        task = asyncio.get_running_loop().create_task(self._release_runtime(cid))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_runtime(self, cid: str) -> None:
        try:
            await self._core.runtime.remove(cid)  # runc delete, the monitor, the rootfs, the files
        except Exception:  # the intent stays: the next start's survey finishes the removal
            log.exception("releasing the runtime of removed container %s", cid)
            return
        await self._life.run_hooks(cid)
        await self._core.end_intent("remove", cid)

    async def settle(self, timeout: float = SETTLE_AT_STOP) -> None:
        """Daemon stop: the background halves of removals, awaited up to `timeout` s (whatever is
        left then is finished at the next start, as after a crash)."""
        if self._releasing:
            log.info("waiting for %d removals still releasing their runtime", len(self._releasing))
            _, pending = await asyncio.wait(set(self._releasing), timeout=timeout)
            if pending:
                log.warning("%d removals still releasing their runtime after %.0f s", len(pending), timeout)

    async def _forget(self, c: Container, volumes: bool, *, intent: bool = False) -> None:
        """The endpoints, and the mounts then the record, side by side (with `intent`, the removal's
        intent first in that line): the mounts (the anonymous volumes) go before the record, which
        the intent's `-v` needs after a crash; the endpoints record of a container without a
        record is forgotten at the next start in any case."""
        core = self._core

        async def mounts_then_record() -> None:
            if intent:
                await core.journal.begin("remove", c.id, volumes=volumes)
            await core.volumes.forget(c.id, remove_anonymous=volumes)
            await core.store.adelete(KIND, c.id)

        steps = [mounts_then_record()]
        if core.network is not None:
            steps.append(core.network.forget(c.id))
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _failed(self, c: Container, e: ShimError) -> NoReturn:
        core = self._core
        c.state.removal_in_progress = False
        c.state.dead = True
        c.state.status = Status.DEAD.value
        try:
            await core.save(c)
        finally:
            await core.end_intent("remove", c.id)
        raise SystemFailure(f"unable to remove filesystem for {c.id}: {e.message}") from e

    # ------------------------------------------------------------ daemon start

    async def restore(self) -> None:
        """First pass: reload the containers from the store (others may look them up)."""
        core = self._core
        records = await asyncio.to_thread(core.store.load_all, KIND)
        self.unreadable = set(core.store.unreadable.get(KIND, set()))
        for cid, data in records.items():
            try:
                c = Container.from_dict(data)
                if c.id != cid:
                    raise ValueError(f"record names {c.id}")
            except Exception as e:  # a torn or foreign record is never fatal to the start
                log.error("container %s: unreadable record (%s), skipped", cid, e)
                self.unreadable.add(cid)
                continue
            core.table.add(c)

    async def after_restore(self) -> None:
        """Second pass, once every service is restored (volumes, networks): reconcile, then apply
        exits that happened while shimd was down and restart policies."""
        t0 = time.monotonic()
        core, table = self._core, self._core.table
        intents = await core.journal.pending()
        starts = {i.oid for i in intents if i.op == "start"}
        removals = {i.oid: bool(i.facts.get("volumes")) for i in intents if i.op == "remove"}
        await self._undo_creates([i for i in intents if i.op == "create"])
        known = table.ids() | self.unreadable
        states = await core.runtime.survey(known)
        owners = core.network.owners() if core.network is not None else {}
        for cid in set(owners) - known:
            await self._quietly(f"forgetting the network of {cid}", core.network.forget(cid) if core.network else None)
        core.volumes.drop_stale(known)
        to_start: list[Container] = []
        for c in table.values():
            try:
                if c.id in removals or c.state.removal_in_progress:
                    await self._finish_removal(c, removals.get(c.id, False))
                    continue
                rs = states.get(c.id) or RuntimeState(status="unknown")
                await self._reconcile(c, rs, owners.get(c.id, False), c.id in starts, to_start)
            except Exception:
                log.exception("restoring container %s", c.id)
        for op, ids in (("start", starts), ("remove", set(removals))):
            for cid in ids:
                await core.end_intent(op, cid)
        core.volumes.claim_running({c.id for c in table.values() if c.state.running and not c.state.restarting})
        self.last_figures = {"containers": len(table.ids()), "seconds": time.monotonic() - t0}
        log.info("restored %d containers in %.3f s", len(table.ids()), self.last_figures["seconds"])
        for c in to_start:
            async with table.live(c.id).lock:
                try:
                    await self._life.start(c, manual=False)
                except ShimError as e:
                    log.warning("restart of %s at daemon start failed: %s", c.id, e)

    @staticmethod
    async def _quietly(what: str, step: Awaitable[None] | None) -> None:
        if step is None:
            return
        try:
            await step
        except Exception:
            log.exception("%s", what)

    async def _undo_creates(self, creates: list[Intent]) -> None:
        """A create cut before its record was saved: its volumes go (the runtime's survey removes
        its files). One whose record was saved is complete, even if its client never heard so."""
        core = self._core
        for i in creates:
            if i.oid not in core.table:
                log.warning("container create %s was cut by a crash: undoing it", i.oid)
                await self._quietly(f"undoing the create of {i.oid}", core.volumes.forget(i.oid, remove_anonymous=True))
            await core.end_intent("create", i.oid)

    async def _finish_removal(self, c: Container, volumes: bool) -> None:
        log.warning("removal of container %s was cut by a crash: finishing it", c.id)
        st = c.state
        st.removal_in_progress = False
        if st.status == Status.REMOVING.value:
            st.status = Status.DEAD.value
        if st.running:  # nothing watches it yet: the removal's teardown stops what still runs
            st.running, st.paused, st.restarting, st.status = False, False, False, Status.EXITED.value
        await self._remove(c, volumes)

    async def _reconcile(
        self, c: Container, rs: RuntimeState, net_live: bool, cut_start: bool, to_start: list[Container]
    ) -> None:
        st = c.state
        life = self._life
        if st.running and not st.restarting:
            if rs.status in ("running", "paused"):
                await self._watch_again(c, rs)
                return
            # Exited while shimd was down: apply the exit as if we had watched it.
            await life.handle_exit(c, rs.exit or ExitInfo(exit_code=255, finished_at=time.time()))
            return
        if rs.status in ("running", "paused"):
            # A start (or a restart policy's) cut after the process started, before the state was saved.
            log.warning("container %s runs but its record says %s: adopting it", c.id, st.status)
            self._set_running(c, rs)
            self._core.event(c, "start")
            await self._watch_again(c, rs, changed=True)
            return
        if cut_start and rs.held and rs.exit is not None and not _exit_applied(c, rs.exit):
            # The same, and the process exited while shimd was down: it ran, so its exit is applied.
            self._set_running(c, rs)
            st.started_at = min(st.started_at, int(rs.exit.finished_at * 1e9))
            await life.handle_exit(c, rs.exit)
            return
        if rs.held or net_live or cut_start:
            # Whatever a start cut before its process ran, or a cleanup cut halfway, left behind.
            await life.teardown(c)
        if st.restarting:
            st.running, st.restarting, st.status = False, False, Status.EXITED.value
            await self._core.save(c)
        if _restarts_at_daemon_start(c):
            to_start.append(c)

    def _set_running(self, c: Container, rs: RuntimeState) -> None:
        st = c.state
        st.running, st.restarting, st.paused = True, False, rs.status == "paused"
        st.status = Status.PAUSED.value if st.paused else Status.RUNNING.value
        st.pid, st.exit_code, st.error, st.oom_killed = rs.pid, 0, "", False
        st.started_at = time.time_ns()
        c.has_been_started = True

    async def _watch_again(self, c: Container, rs: RuntimeState, *, changed: bool = False) -> None:
        st = c.state
        was = (st.pid, st.paused, st.status)
        st.pid = rs.pid or st.pid
        st.paused = rs.status == "paused"
        st.status = Status.PAUSED.value if st.paused else Status.RUNNING.value
        if changed or was != (st.pid, st.paused, st.status):  # tens of unchanged records: no writes
            await self._core.save(c)
        if self._life.health is not None:
            self._life.health.start(c)
        self._life.watch(c)


def _removing(c: Container) -> None:
    """dockerd's SetRemovalInProgress: from here on the container reads "removing"."""
    c.state.removal_in_progress = True
    c.state.status = Status.REMOVING.value


def _exit_applied(c: Container, info: ExitInfo) -> bool:
    return abs(int(info.finished_at * 1e9) - c.state.finished_at) < _SAME_EXIT_NS


def _restarts_at_daemon_start(c: Container) -> bool:
    """dockerd's restore: always, unless-stopped (not stopped by the user), on-failure within its count."""
    st = c.state
    rp = c.host_config.get("RestartPolicy") or {}
    policy, maximum = rp.get("Name") or "", rp.get("MaximumRetryCount") or 0
    on_failure = (
        policy == "on-failure"
        and st.exit_code != 0
        and not c.manually_stopped
        and (maximum == 0 or c.restart_count < maximum)
    )
    return (
        c.has_been_started
        and not st.running
        and not st.removal_in_progress
        and (policy == "always" or (policy == "unless-stopped" and not c.manually_stopped) or on_failure)
    )
