"""shimd's restart with N running containers, this checkout against another tree's `shim`, alternated on
one held daemon (issue 17; docs/PERFORMANCE.md "Issue 17, fourth pass: restart at 500").

    flock -o /tmp/shim-bench.lock .venv/bin/python scripts/restart_ab.py --pythonpath DIR [--running 500] [--rounds 4]

One private shimd (scripts/bench_scale.py's: own socket, roots and a /21 bridge) gets `--running`
busybox containers running; then, `--rounds` times, it is stopped with SIGTERM and started on the
other tree's code (`--pythonpath DIR`, e.g. `git archive <rev> shim | tar -x -C DIR`), then on this
checkout's. Per restart: seconds until the first /_ping answer and until a complete list (every
container running), shimd's CPU (utime+stime of /proc/PID/stat, all threads) at both, and its
waited children's CPU (`runc list` and the like) 1 s after the list. CPU is what a loaded machine
distorts least. Every container is removed at the end and shimd stopped and swept, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale as bs


def cpu(pid: int) -> tuple[float, float]:
    """(own, waited children's) CPU seconds."""
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / bs.CLK, (int(f[13]) + int(f[14])) / bs.CLK


def restart(shimd: bs.Shimd, n: int, pythonpath: str) -> dict[str, object]:
    shimd.stop()
    shimd.pythonpath = pythonpath
    t = time.perf_counter()
    ping = shimd.start()
    assert shimd.proc is not None
    cpu_ping = cpu(shimd.proc.pid)[0]
    while True:
        status, body = bs.api(shimd.sock, "GET", "/containers/json")
        if status == 200 and sum(1 for c in json.loads(body) if c.get("State") == "running") >= n:
            break
        if time.perf_counter() - t > 60:
            raise RuntimeError("the list was not complete 60 s after the restart")
        time.sleep(0.005)
    full = time.perf_counter() - t
    cpu_full = cpu(shimd.proc.pid)[0]
    time.sleep(1.0)
    children = cpu(shimd.proc.pid)[1]
    return {
        "code": pythonpath or "this checkout",
        "ping_s": round(ping, 3),
        "list_s": round(full, 3),
        "cpu_ping_s": cpu_ping,
        "cpu_list_s": cpu_full,
        "children_cpu_s": children,
        "load": os.getloadavg()[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pythonpath", required=True, help="dir of the other `shim` package")
    ap.add_argument("--running", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--bridge", default="shbrab0")
    ap.add_argument("--bip", default="172.30.88.1/21")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="shimrestart-", dir="/tmp")
    shimd = bs.Shimd(work, a.bridge, a.bip)
    target = None
    try:
        shimd.start()
        assert shimd.proc is not None
        target = bs.Target("shimd", f"unix://{shimd.sock}", shimd.proc.pid, "bridge")
        target.docker("load", "-q", "-i", str(bs.ROOT / "fixtures/build/busybox.tar"))
        target.fill_to(a.running)
        print(f"{a.running} running; uptime: {os.getloadavg()}", flush=True)
        for _ in range(a.rounds):
            for pythonpath in (a.pythonpath, ""):
                print(json.dumps(restart(shimd, a.running, pythonpath)), flush=True)
    finally:
        if target is not None:
            shimd.pythonpath = ""
            try:
                if shimd.proc is None or shimd.proc.poll() is not None:
                    shimd.start()
                target.remove_all()
            except Exception as e:
                print(f"cleanup: {e}", file=sys.stderr)
        if shimd.proc is not None and shimd.proc.poll() is None:
            shimd.stop()
        bs.sweep(work, a.bridge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
