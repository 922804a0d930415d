"""shimd's restart time with tens of containers (docs/RELIABILITY.md).

    .venv/bin/python scripts/restart_time.py [--running 30] [--created 10] [--rounds 7] [--nice N]

A private daemon (tests/shimd_harness.py) gets `--running` containers running (a third of them on
a user network, a third publishing a port) and `--created` ones created; then it is SIGKILLed and
started again `--rounds` times. Per round: the wall time from the SIGKILL to the first /_ping
answered (Python start, imports, restore, reconciliation, API up), shimd's CPU time by then, and
the reconciliation itself as shimd logs it ("restored N containers in X s"). `--nice -10` runs
shimd at a higher priority: what it needs when the CPU is not shared with other work. Prints one
line per round and the medians; leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.shimd_harness import Shimd


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--running", type=int, default=30)
    ap.add_argument("--created", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--nice", type=int, default=0)
    args = ap.parse_args()
    d = Shimd(direct=True)
    wrap = ["nice", "-n", str(args.nice)] if args.nice else None
    try:
        d.start(wrap=wrap)
        d.load_busybox()
        d.cli("network", "create", "restartnet")
        for i in range(args.running):
            extra = ["--network", "restartnet"] if i % 3 == 1 else ["-p", "127.0.0.1::80"] if i % 3 == 2 else []
            d.cli("run", "-d", *extra, "busybox", "sleep", "100000")
        for _ in range(args.created):
            d.cli("create", "busybox", "true")
        walls, cpus, restores = [], [], []
        for r in range(args.rounds):
            assert d.proc is not None
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            d.proc = None
            t0 = time.monotonic()
            d.start(wrap=wrap)
            wall = time.monotonic() - t0
            cpu = cpu_seconds(d.proc.pid)
            found = re.findall(r"restored (\d+) containers in ([0-9.]+) s", d.log_path.read_text())
            restore = float(found[-1][1]) if found else float("nan")
            walls.append(wall)
            cpus.append(cpu)
            restores.append(restore)
            print(
                f"round {r}: {found[-1][0] if found else '?'} containers: API up {wall:.3f} s after the kill, "
                f"shimd CPU {cpu:.2f} s, reconciliation {restore:.3f} s",
                flush=True,
            )
        load = open("/proc/loadavg").read().split()[:3]
        print(
            f"median of {args.rounds}: API up {statistics.median(walls):.3f} s (min {min(walls):.3f}), "
            f"CPU {statistics.median(cpus):.2f} s, reconciliation {statistics.median(restores):.3f} s; "
            f"nice {args.nice}; load average {' '.join(load)} on {os.cpu_count()} CPUs"
        )
    finally:
        d.destroy()


if __name__ == "__main__":
    main()
