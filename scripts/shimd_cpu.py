#!/usr/bin/env python3
"""shimd's own CPU per container, two codes alternated (issue 17, third pass).

    flock -o /tmp/shim-bench.lock .venv/bin/python scripts/shimd_cpu.py [--old OLD_TREE]
        [--mode seq|par|both] [-n 40] [--rounds 4]

Starts a shimd of this checkout (`new`) and, with --old, one of OLD_TREE's `shim` package (`old`,
e.g. `git archive main shim | tar -x -C OLD_TREE`), each on its own socket, roots and bridge, loads
busybox, warms each up, then alternates the two round by round. Per round and daemon: `seq` runs N
sequential `docker run -d busybox sleep 60`, one `docker rm -f` of them, and N `docker run --rm
busybox true`; `par` a burst of 20 `docker run -d` at once (then `rm -f`). shimd's CPU is utime +
stime from /proc/PID/stat (every thread, exited ones too), read 2.6 s after each phase's last
command so the work of the quiet spell (the heap trim) is counted. Prints ms of shimd CPU per
container per round, the medians, the load average, and each daemon's VmRSS at the end.
Everything made is removed; the daemons are stopped and swept, also on failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchd import Daemon  # scripts/benchd.py: run as a script, scripts/ is on the path

CLK = os.sysconf("SC_CLK_TCK")
SETTLE = 2.6  # s: past the quiet spell (app.py _QuietSpell, 2 s)


def cpu_ms(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / CLK


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _work(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"shimd-cpu-{tag}-", dir="/tmp"))


def seq(d: Daemon, n: int) -> dict[str, float]:
    c0 = cpu_ms(d.proc.pid)
    ids = [d.run_d() for _ in range(n)]
    time.sleep(SETTLE)
    c1 = cpu_ms(d.proc.pid)
    d.docker("rm", "-f", *ids)
    time.sleep(SETTLE)
    c2 = cpu_ms(d.proc.pid)
    for _ in range(n):
        d.docker("run", "--rm", "--pull=never", "busybox", "true")
    time.sleep(SETTLE)
    c3 = cpu_ms(d.proc.pid)
    return {"run_d": (c1 - c0) / n, "rm_f": (c2 - c1) / n, "run_rm": (c3 - c2) / n}


def par(d: Daemon) -> dict[str, float]:
    c0 = cpu_ms(d.proc.pid)
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        ids = list(ex.map(lambda _: d.run_d(), range(20)))
    time.sleep(SETTLE)
    c1 = cpu_ms(d.proc.pid)
    d.docker("rm", "-f", *ids)
    time.sleep(SETTLE)
    return {"par20": (c1 - c0) / 20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="", help="a tree holding the `shim` package to compare with")
    ap.add_argument("--mode", choices=["seq", "par", "both"], default="seq")
    ap.add_argument("-n", type=int, default=40, help="containers per sequential phase")
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    print("load", load(), flush=True)
    daemons: dict[str, Daemon] = {}
    try:
        daemons["new"] = Daemon(_work("new"), "", "shcpu1", "172.30.81.1/24")
        if a.old:
            daemons["old"] = Daemon(_work("old"), os.path.abspath(a.old), "shcpu0", "172.30.80.1/24")
        for d in daemons.values():  # warm up: the first start's imports and compiled schemas
            for _ in range(3):
                d.docker("run", "--rm", "--pull=never", "busybox", "true")
            d.docker("rm", "-f", *[d.run_d() for _ in range(3)])
        rows: dict[str, list[dict[str, float]]] = {k: [] for k in daemons}
        for r in range(a.rounds):
            order = list(daemons.items()) if r % 2 == 0 else list(reversed(daemons.items()))
            for name, d in order:
                row: dict[str, float] = {}
                if a.mode in ("seq", "both"):
                    row.update(seq(d, a.n))
                if a.mode in ("par", "both"):
                    row.update(par(d))
                rows[name].append(row)
                print(r, name, {k: round(v, 2) for k, v in row.items()}, "load", load(), flush=True)
        for name, rs in rows.items():
            print(name, "median", {k: round(statistics.median(x[k] for x in rs), 2) for k in rs[0]})
        print("load", load(), flush=True)
        time.sleep(SETTLE)
        for name, d in daemons.items():
            rss = next(line for line in open(f"/proc/{d.proc.pid}/status") if line.startswith("VmRSS"))
            print(name, rss.strip())
    finally:
        for d in daemons.values():
            d.stop()


if __name__ == "__main__":
    main()
