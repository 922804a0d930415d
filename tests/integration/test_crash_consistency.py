"""Fault injection: shimd SIGKILLed at random instants while clients create, start, stop, exec and
remove containers and connect them to (or disconnect them from) a network, then restarted; after
each restart nothing the API acknowledged is lost, nothing is held that no container accounts for
(runc, conmon, mounts, netns, veths, rules, leases, volumes, bundles, intents), containers that
were running still run (same process) and their logs have no gap (docs/RELIABILITY.md).

Seeded: `SHIM_FAULT_SEED` (default 1600) and `SHIM_FAULT_ROUNDS` (default 20) reproduce a run;
a failure names its round's seed. `SHIM_FAULT_REPORT=<file>` writes the figures as JSON.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import random
import statistics
import struct
import threading
import time
from typing import Any

from tests import hoststate
from tests.shimd_harness import Shimd

SEED = int(os.environ.get("SHIM_FAULT_SEED", "1600"))
ROUNDS = int(os.environ.get("SHIM_FAULT_ROUNDS", "20"))
WORKERS = 3
SURVIVORS = 6  # ticking containers started once, alive through every round
TICKER = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]


@dataclasses.dataclass
class Tracked:
    id: str
    expect: str  # created | running | stopped | gone | unknown (a request was cut: either outcome)
    pid: int = 0


class Worker(threading.Thread):
    """One client doing random verbs on its own containers until the daemon goes away."""

    def __init__(self, d: Shimd, rng: random.Random, net: str) -> None:
        super().__init__(daemon=True)
        self.d, self.rng, self.net = d, rng, net
        self.tracked: list[Tracked] = []
        self.ops = 0
        self.stop_flag = threading.Event()
        self.failure = ""

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                self.step()
                self.ops += 1
            except (OSError, http.client.HTTPException):
                return  # the daemon was killed: the request in flight was cut
            except Exception as e:  # a wrong answer, or one cut short by the kill (a streamed body)
                if self.daemon_alive():
                    self.failure = f"{e!r}"
                return

    def daemon_alive(self) -> bool:
        try:
            return self.d.http("GET", "/_ping", timeout=10)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def req(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        status, _, data = self.d.http(method, path, body, timeout=60)
        return status, data

    def step(self) -> None:
        live = [t for t in self.tracked if t.expect != "gone"]
        choices = ["create"] * 3
        if live:
            choices += ["start"] * 3 + ["stop"] * 2 + ["exec"] * 2 + ["remove"] * 2 + ["connect", "disconnect"]
        op = self.rng.choice(choices)
        if op == "create":
            self.create()
            return
        t = self.rng.choice(live)
        before = t.expect
        t.expect = "unknown"  # until the answer comes
        if op == "start":
            status, body = self.req("POST", f"/containers/{t.id}/start")
            assert status in (204, 304), (status, body)
            t.expect, t.pid = "running", 0
            t.pid = self.inspect(t.id)["State"]["Pid"]
        elif op == "stop":
            status, body = self.req("POST", f"/containers/{t.id}/stop?t=1")
            assert status in (204, 304), (status, body)
            t.expect = "stopped" if before != "created" else "created"
        elif op == "exec":
            t.expect = before
            if before != "running":
                return
            self.exec(t)
        elif op in ("connect", "disconnect"):
            # the user network, on a created or running container (the state does not change)
            t.expect = before
            status, body = self.req("POST", f"/networks/{self.net}/{op}", {"Container": t.id})
            assert status in (200, 403), (op, status, body)  # 403: already connected / not connected
        elif op == "remove":
            status, body = self.req("DELETE", f"/containers/{t.id}?force=1&v=1")
            assert status == 204, (status, body)
            t.expect = "gone"

    def create(self) -> None:
        hc: dict[str, Any] = {}
        body: dict[str, Any] = {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": hc}
        r = self.rng.random()
        if r < 0.25:
            body["Volumes"] = {"/data": {}}  # an anonymous volume: create and remove -v have steps for it
        elif r < 0.45:
            body["ExposedPorts"] = {"80/tcp": {}}
            hc["PortBindings"] = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        elif r < 0.6:
            hc["NetworkMode"] = self.net  # a user network: embedded DNS, its own bridge
        status, data = self.req("POST", "/containers/create", body)
        assert status == 201, (status, data)
        self.tracked.append(Tracked(id=json.loads(data)["Id"], expect="created"))

    def exec(self, t: Tracked) -> None:
        status, data = self.req(
            "POST", f"/containers/{t.id}/exec", {"Cmd": ["echo", "exec-ok"], "AttachStdout": True, "AttachStderr": True}
        )
        if status == 409:  # stopped meanwhile by nobody else: it is ours, so this is a failure
            raise AssertionError(f"exec refused on a container that should run: {data!r}")
        assert status == 201, (status, data)
        status, out = self.req("POST", f"/exec/{json.loads(data)['Id']}/start", {"Detach": False, "Tty": False})
        assert status == 200 and b"exec-ok" in out, (status, out)

    def inspect(self, cid: str) -> dict[str, Any]:
        status, data = self.req("GET", f"/containers/{cid}/json")
        assert status == 200, (status, data)
        return json.loads(data)


def log_ticks(d: Shimd, cid: str) -> list[int]:
    """The tick numbers in a container's log, from the multiplexed stream."""
    status, _, body = d.http("GET", f"/containers/{cid}/logs?stdout=1&stderr=1", timeout=60)
    assert status == 200
    out, i = b"", 0
    while i + 8 <= len(body):
        size = struct.unpack(">I", body[i + 4 : i + 8])[0]
        out += body[i + 8 : i + 8 + size]
        i += 8 + size
    return [int(ln.split()[1]) for ln in out.decode().splitlines() if ln.startswith("tick ")]


def inspect(d: Shimd, cid: str) -> tuple[int, dict[str, Any]]:
    status, _, body = d.http("GET", f"/containers/{cid}/json", timeout=30)
    return status, (json.loads(body) if status == 200 else {})


def check_round(d: Shimd, workers: list[Worker], survivors: dict[str, int]) -> list[str]:
    found = []
    for w in workers:
        for t in w.tracked:
            status, info = inspect(d, t.id)
            if t.expect == "gone":
                if status != 404:
                    found.append(f"{t.id[:12]}: removed (acknowledged) but still there")
                continue
            if t.expect == "unknown":
                continue
            if status != 200:
                found.append(f"{t.id[:12]}: lost (expected {t.expect})")
                continue
            st = info["State"]
            if t.expect == "running" and not (st["Running"] and st["Pid"] == (t.pid or st["Pid"])):
                found.append(f"{t.id[:12]}: was running as {t.pid}, now {st['Status']} {st['Pid']}")
            if t.expect in ("created", "stopped") and st["Running"]:
                found.append(f"{t.id[:12]}: expected {t.expect}, runs")
    for cid, pid in survivors.items():
        status, info = inspect(d, cid)
        if status != 200 or not info["State"]["Running"] or info["State"]["Pid"] != pid:
            found.append(f"survivor {cid[:12]}: {info.get('State')}")
            continue
    return found


def check_logs(d: Shimd, survivors: dict[str, int]) -> list[str]:
    """Each survivor's log goes on after the restart, without a gap from its first tick."""
    found = []
    for cid in survivors:
        before = log_ticks(d, cid)
        deadline = time.monotonic() + 20
        ticks = before
        while ticks and ticks[-1] <= before[-1] and time.monotonic() < deadline:
            time.sleep(0.2)
            ticks = log_ticks(d, cid)
        if not ticks or ticks != list(range(len(ticks))) or ticks[-1] <= before[-1]:
            found.append(f"survivor {cid[:12]}: log ticks {ticks[:3]}…{ticks[-3:]} (gap or stalled)")
    return found


def test_sigkill_at_random_instants_loses_and_leaks_nothing(tmp_path):
    d = Shimd(direct=True)
    figures: dict[str, Any] = {"seed": SEED, "rounds": 0, "restart_s": [], "containers": [], "ops": 0}
    figures.update(acknowledged_checked=0, running_checked=0, cut_requests=0)
    try:
        d.start()
        d.load_busybox()
        net = "crashnet"
        assert d.http("POST", "/networks/create", {"Name": net})[0] == 201
        survivors = {}
        for _ in range(SURVIVORS):
            status, _, body = d.http("POST", "/containers/create", {"Image": "busybox", "Cmd": TICKER})
            assert status == 201, body
            cid = json.loads(body)["Id"]
            assert d.http("POST", f"/containers/{cid}/start")[0] == 204
            survivors[cid] = inspect(d, cid)[1]["State"]["Pid"]
        for r in range(ROUNDS):
            seed = SEED + r
            rng = random.Random(seed)
            workers = [Worker(d, random.Random(rng.random()), net) for _ in range(WORKERS)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.2, 2.5))
            d.stop(kill=True)
            for w in workers:
                w.stop_flag.set()
                w.join(timeout=120)
            assert not [w for w in workers if w.is_alive()], f"round {r} (seed {seed}): a client hung"
            failures = [w.failure for w in workers if w.failure]
            assert not failures, f"round {r} (seed {seed}): an answer before the kill was wrong: {failures}"
            t0 = time.monotonic()
            d.start()
            figures["restart_s"].append(time.monotonic() - t0)
            figures["containers"].append(len(hoststate.api_view(d).ids))
            figures["ops"] += sum(w.ops for w in workers)
            expected = [t.expect for w in workers for t in w.tracked]
            figures["acknowledged_checked"] += sum(e != "unknown" for e in expected)
            figures["running_checked"] += expected.count("running") + len(survivors)
            figures["cut_requests"] += expected.count("unknown")
            found = check_round(d, workers, survivors)
            found += hoststate.settle(d)
            found += check_logs(d, survivors)
            assert not found, f"round {r} (seed {seed}):\n" + "\n".join(found)
            for w in workers:  # the next round starts from the survivors only
                for t in w.tracked:
                    d.http("DELETE", f"/containers/{t.id}?force=1&v=1", timeout=60)
            for cid in hoststate.api_view(d).ids - set(survivors):  # created by a cut request
                d.http("DELETE", f"/containers/{cid}?force=1&v=1", timeout=60)
            figures["rounds"] += 1
        assert not hoststate.settle(d)
    finally:
        report = os.environ.get("SHIM_FAULT_REPORT")
        if report and figures["restart_s"]:
            rs = figures["restart_s"]
            figures["restart_median_s"] = statistics.median(rs)
            figures["restart_max_s"] = max(rs)
            with open(report, "w") as f:
                json.dump(figures, f, indent=1)
        left = d.destroy()
    assert not left, left
