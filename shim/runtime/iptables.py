"""Runtime adapter: the firewall (NAT for published ports, masquerading, forwarding, isolation).

Backend: the `iptables` of the machine, i.e. iptables-nft, driven with `iptables-restore
--noflush` (one atomic transaction per change, run as an asyncio subprocess). Why not
python-iptables (libiptc, the legacy backend): both backends' hooks run side by side and a
DROP in either wins. dockerd installs `-P FORWARD DROP` in the nft tables (the reference
dockerd on these machines does) and br_netfilter sends bridged frames through FORWARD, so
container-to-container traffic on our bridges dies unless the ACCEPT lives in the nft
family too. Legacy rules cannot override an nft DROP.

Layout, per daemon instance (`tag` = the default bridge name, so two shimd never collide):
  nat    SHIM-<tag>       DNAT of published ports  (jumped to from PREROUTING and OUTPUT for local dst)
  nat    SHIM-<tag>-POST  MASQUERADE leaving a subnet, loopback-sourced and hairpin traffic
  filter SHIM-<tag>-FWD   isolation between our networks, Internal networks, accepts
Chains are rendered whole from the desired state (`FirewallState`) and replaced in one
transaction, which makes reconciliation trivial: render what the store says, and every
rule of a container that no longer exists is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable

from shim.engine.netports import FirewallState
from shim.errors import SystemFailure

log = logging.getLogger("shim.iptables")

# seconds between two background checks of an unchanged apply (a change always reads the host first)
CHECK_INTERVAL = 2.0


def chain_names(tag: str) -> tuple[str, str, str]:
    base = f"SHIM-{tag}"[:22]  # iptables chain names are at most 28 characters
    return base, base + "-POST", base + "-FWD"


def render_tables(tag: str, state: FirewallState) -> dict[str, str]:
    """The iptables-restore text, per table, that replaces our chains with `state`."""
    dnat, post, fwd = chain_names(tag)
    nat = ["*nat", f":{dnat} - [0:0]", f":{post} - [0:0]"]
    for p in state.ports:
        dst = f"-d {p.host_ip}/32 " if p.host_ip and p.host_ip != "0.0.0.0" else ""
        nat.append(
            f"-A {dnat} {dst}-p {p.proto} -m {p.proto} --dport {p.host_port} "
            f"-j DNAT --to-destination {p.container_ip}:{p.container_port}"
        )
    for b in state.bridges:
        if b.masquerade and not b.internal:
            nat.append(f"-A {post} -s {b.subnet} ! -o {b.bridge} -j MASQUERADE")
        # 127.0.0.1:HOSTPORT → container: the source must not stay a loopback address.
        nat.append(f"-A {post} -o {b.bridge} -m addrtype --src-type LOCAL -j MASQUERADE")
    nat.extend(
        f"-A {post} -s {p.container_ip}/32 -d {p.container_ip}/32 -p {p.proto} -m {p.proto} "
        f"--dport {p.container_port} -j MASQUERADE"
        for p in state.ports
    )
    nat.append("COMMIT")
    # The filter table depends on the networks only, never on published ports (connections our
    # DNAT made are accepted by conntrack state), so starting a container with -p is one nat
    # transaction: each nft commit costs 10-40 ms here.
    flt = ["*filter", f":{fwd} - [0:0]"]
    names = [b.bridge for b in state.bridges]
    # networks never talk to each other (dockerd's ISOLATION stages)
    flt += [f"-A {fwd} -i {src} -o {dst} -j DROP" for src in names for dst in names if src != dst]
    for b in state.bridges:
        if b.internal:
            flt.append(f"-A {fwd} -i {b.bridge} ! -o {b.bridge} -j DROP")
            flt.append(f"-A {fwd} ! -i {b.bridge} -o {b.bridge} -j DROP")
        else:
            flt.append(f"-A {fwd} -o {b.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            flt.append(f"-A {fwd} ! -i {b.bridge} -o {b.bridge} -m conntrack --ctstate DNAT -j ACCEPT")
            flt.append(f"-A {fwd} -i {b.bridge} ! -o {b.bridge} -j ACCEPT")
        flt.append(f"-A {fwd} -i {b.bridge} -o {b.bridge} -j {'ACCEPT' if b.icc else 'DROP'}")
    flt.append("COMMIT")
    return {"nat": "\n".join(nat) + "\n", "filter": "\n".join(flt) + "\n"}


def render(tag: str, state: FirewallState) -> str:
    t = render_tables(tag, state)
    return t["nat"] + t["filter"]


def jumps(tag: str) -> list[tuple[str, str, list[str]]]:
    """(table, builtin chain, rule) of the jumps into our chains."""
    dnat, post, fwd = chain_names(tag)
    local = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", dnat]
    return [
        ("nat", "PREROUTING", local),
        ("nat", "OUTPUT", local),
        ("nat", "POSTROUTING", ["-j", post]),
        ("filter", "FORWARD", ["-j", fwd]),
    ]


def _rule_counts(table: str, text: str) -> dict[tuple[str, str], int]:
    """How many rules each chain declared in a rendered table holds."""
    counts: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if line.startswith(":"):
            counts.setdefault((table, line[1:].split()[0]), 0)
        elif line.startswith("-A "):
            chain = line.split()[1]
            counts[(table, chain)] = counts.get((table, chain), 0) + 1
    return counts


class Firewall:
    """iptables-nft through subprocesses; one change at a time (a lock: rules are rendered whole)."""

    def __init__(self, tag: str, iptables: str = "iptables") -> None:
        self.tag = tag
        self.iptables = shutil.which(iptables) or iptables
        self.restore = shutil.which(iptables + "-restore") or iptables + "-restore"
        self.save = shutil.which(iptables + "-save") or iptables + "-save"
        self._lock = asyncio.Lock()
        self._last: dict[str, str] = {}  # table -> text last applied by us
        self._check: asyncio.Task[None] | None = None  # the background check of an unchanged apply
        self._checked = -CHECK_INTERVAL  # when the last one began (monotonic)

    async def _run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        rc = proc.returncode or 0
        if check and rc != 0:
            raise SystemFailure(f"{' '.join(args[:4])}…: {err.decode(errors='replace').strip()}")
        return rc, out.decode(errors="replace")

    async def _live(self) -> tuple[dict[tuple[str, str], int], set[tuple[str, str, str]]] | None:
        """One iptables-save: the number of rules in each chain of ours that exists, and the jumps
        into them that are there (None when iptables-save can't say)."""
        ours = {
            (t, c) for t, cs in (("nat", chain_names(self.tag)[:2]), ("filter", chain_names(self.tag)[2:])) for c in cs
        }
        want = {(t, c, " ".join(r)) for t, c, r in jumps(self.tag)}
        rc, out = await self._run(self.save, check=False)
        if rc != 0:
            return None
        counts: dict[tuple[str, str], int] = {}
        present: set[tuple[str, str, str]] = set()
        table = ""
        for line in out.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            elif line.startswith(":") and (table, line[1:].split()[0]) in ours:
                counts.setdefault((table, line[1:].split()[0]), 0)
            elif line.startswith("-A "):
                _, chain, rest = line.split(" ", 2)
                if (table, chain) in counts:
                    counts[(table, chain)] += 1
                elif (table, chain, rest) in want:
                    present.add((table, chain, rest))
        return counts, present

    async def apply(self, state: FirewallState | Callable[[], FirewallState]) -> None:
        """Make our chains exactly `state`, and the jumps into them present.

        `state` may be a callable, evaluated under the lock: concurrent callers then can't apply
        an older state after a newer one. Chains or jumps that vanished from the host since (an
        administrator's flush, a firewall reload, another daemon) are made again at this use: a
        change is written after reading the host's rules (one iptables-save); an apply with
        nothing of ours to change (each nft commit costs 10-40 ms) reads them in the background,
        so a container start does not wait for the check."""
        async with self._lock:
            current = state() if callable(state) else state
            tables = render_tables(self.tag, current)
            if all(tables[t] == self._last.get(t) for t in ("nat", "filter")):
                # at most one check per CHECK_INTERVAL: a burst of starts (20 in parallel) would
                # otherwise run an iptables-save after nearly each of them, on the same two cores
                now = time.monotonic()
                if (self._check is None or self._check.done()) and now - self._checked >= CHECK_INTERVAL:
                    self._checked = now
                    self._check = asyncio.get_running_loop().create_task(self._check_later(state))
                return
            await self._write(tables)

    async def _check_later(self, state: FirewallState | Callable[[], FirewallState]) -> None:
        try:
            async with self._lock:
                await self._write(render_tables(self.tag, state() if callable(state) else state))
        except Exception:
            log.exception("checking our rules on the host")

    async def _write(self, tables: dict[str, str]) -> None:
        """Under the lock: what differs from `tables` on the host, and the missing jumps, written."""
        live = await self._live()
        changed = [t for t in ("nat", "filter") if tables[t] != self._last.get(t)]
        if live is not None:
            counts, present = live
            for t in ("nat", "filter"):
                if t not in changed and _rule_counts(t, tables[t]) != {k: v for k, v in counts.items() if k[0] == t}:
                    log.warning("our %s rules changed behind our back: writing them again", t)
                    changed.append(t)
            missing = [(t, c, r) for t, c, r in jumps(self.tag) if (t, c, " ".join(r)) not in present]
        else:
            missing = list(jumps(self.tag))
        if changed:
            for t in changed:
                self._last.pop(t, None)
            await self._run(self.restore, "-w", "--noflush", stdin="".join(tables[t] for t in changed).encode())
        for table, chain, rule in missing:
            rc, _ = await self._run(self.iptables, "-w", "-t", table, "-C", chain, *rule, check=False)
            if rc != 0:
                # FORWARD: first, before any DROP a dockerd on the machine put there.
                await self._run(self.iptables, "-w", "-t", table, "-I", chain, "1", *rule)
        self._last.update({t: tables[t] for t in changed})

    async def remove_all(self) -> None:
        """Delete our jumps and chains (daemon shutdown with nothing left running; tests)."""
        if self._check is not None:
            self._check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._check
        async with self._lock:
            for table, chain, rule in jumps(self.tag):
                while (await self._run(self.iptables, "-w", "-t", table, "-D", chain, *rule, check=False))[0] == 0:
                    pass
            dnat, post, fwd = chain_names(self.tag)
            for table, ch in (("nat", dnat), ("nat", post), ("filter", fwd)):
                await self._run(self.iptables, "-w", "-t", table, "-F", ch, check=False)
                await self._run(self.iptables, "-w", "-t", table, "-X", ch, check=False)
            self._last = {}

    async def dump(self) -> str:
        """Every rule of ours, in `iptables -S` form, nat then filter (tests, reconciliation)."""
        lines = []
        dnat, post, fwd = chain_names(self.tag)
        for table in ("nat", "filter"):
            _, out = await self._run(self.iptables, "-w", "-t", table, "-S", check=False)
            lines += [ln for ln in out.splitlines() if any(c in ln.split() for c in (dnat, post, fwd))]
        return "\n".join(lines)
