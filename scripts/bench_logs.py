#!/usr/bin/env python3
"""Log benchmarks beside bench.py's `logs` group, interleaved over several engines (stdlib only).

follow_latency  `docker logs -f -t` of a container printing a line every 20 ms: arrival time at
                the client minus the line's timestamp (the monitor's stamp when it read the
                container's pipe): the write-to-client latency of a follower, in ms.
read_rotated    `docker logs NAME | wc -c` of a container that wrote --bytes with
                max-size=10m max-file=3 (what is kept), MiB/s.
read_unrotated  the same without log options, MiB/s.
read_busy       read_unrotated while another container writes at full speed with
                max-size=10m max-file=3, MiB/s.

scripts/bench_logs.py --target shim=unix:///tmp/x/docker.sock --target dockerd=unix:///run/ref-docker/docker.sock
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from datetime import UTC, datetime

DOCKER = "/usr/local/bin/docker"
LINE = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
# a busy writer is measured in its steady state: shimd's unclaimed early attach (runtime/conmon.py)
# drains a new container's output for its first 10 s
SETTLE = 11


def cli(host: str, *args: str, timeout: float = 600) -> str:
    p = subprocess.run([DOCKER, "-H", host, *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout


def stamp_ns(text: str) -> int:
    """RFC3339Nano (`2026-12-05T01:09:21.123456789Z`) to unix ns."""
    whole, frac = text.rstrip("Z").split(".")
    secs = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return int(secs) * 10**9 + int(frac.ljust(9, "0")[:9])


def follow_latency(host: str, name: str, lines: int) -> list[float]:
    script = f"sleep 1; i=0; while [ $i -lt {lines} ]; do echo x$i; usleep 20000; i=$((i+1)); done"
    cli(host, "run", "-d", "--name", name, "busybox", "sh", "-c", script)
    out: list[float] = []
    with subprocess.Popen([DOCKER, "-H", host, "logs", "-f", "-t", name], stdout=subprocess.PIPE, bufsize=0) as p:
        assert p.stdout is not None
        while True:
            raw = p.stdout.readline()
            if not raw:
                break
            now = time.time_ns()
            out.append((now - stamp_ns(raw.split(b" ", 1)[0].decode())) / 1e6)
    return out


def read_rate(host: str, name: str) -> float:
    t0 = time.perf_counter()
    p1 = subprocess.Popen([DOCKER, "-H", host, "logs", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p2 = subprocess.run(["wc", "-c"], stdin=p1.stdout, capture_output=True, text=True)
    p1.wait()
    dt = time.perf_counter() - t0
    return int(p2.stdout.split()[0]) / 2**20 / dt


def produce(host: str, name: str, nbytes: int, *opts: str) -> None:
    cli(host, "run", "-d", "--name", name, *opts, "busybox", "sh", "-c", f"yes {LINE} | head -c {nbytes}")
    cli(host, "wait", name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", required=True, help="NAME=unix:///path (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lines", type=int, default=150, help="lines per follow_latency round")
    ap.add_argument("--bytes", type=int, default=50 * 2**20)
    a = ap.parse_args()
    targets = [t.split("=", 1) for t in a.target]
    res: dict[str, dict[str, list[float]]] = {n: {} for n, _ in targets}
    rot = ("--log-opt", "max-size=10m", "--log-opt", "max-file=3")
    for r in range(a.rounds):
        order = targets if r % 2 == 0 else targets[::-1]
        for tname, host in order:
            names = [f"benchlogs-{r}-{k}" for k in ("f", "rot", "plain", "busy", "busy2")]
            try:
                res[tname].setdefault("follow_latency_ms", []).extend(follow_latency(host, names[0], a.lines))
                produce(host, names[1], a.bytes, *rot)
                res[tname].setdefault("read_rotated_MiBps", []).append(read_rate(host, names[1]))
                produce(host, names[2], a.bytes)
                res[tname].setdefault("read_unrotated_MiBps", []).append(read_rate(host, names[2]))
                cli(host, "run", "-d", "--name", names[3], *rot, "busybox", "sh", "-c", f"yes {LINE}")
                time.sleep(SETTLE)
                res[tname].setdefault("read_busy_MiBps", []).append(read_rate(host, names[2]))
                subprocess.run([DOCKER, "-H", host, "rm", "-f", names[3]], capture_output=True)
                cli(host, "run", "-d", "--name", names[4], "busybox", "sh", "-c", f"yes {LINE}")
                time.sleep(SETTLE)
                res[tname].setdefault("read_busy_norot_MiBps", []).append(read_rate(host, names[2]))
            finally:
                subprocess.run([DOCKER, "-H", host, "rm", "-f", *names], capture_output=True)
            print(f"round {r} {tname}: " + ", ".join(f"{k}={statistics.median(v):.2f}" for k, v in res[tname].items()))
    base = targets[0][0]
    print(f"\n| metric | {' | '.join(n for n, _ in targets)} | ratio {targets[-1][0]}/{base} |")
    print("|---|" + "---:|" * (len(targets) + 1))
    for metric in res[base]:
        meds = [statistics.median(res[n][metric]) for n, _ in targets]
        extra = ""
        if metric == "follow_latency_ms":
            extra = (
                " (p90 " + " / ".join(f"{statistics.quantiles(res[n][metric], n=10)[-1]:.1f}" for n, _ in targets) + ")"
            )
        print(f"| {metric}{extra} | {' | '.join(f'{m:.2f}' for m in meds)} | {meds[-1] / meds[0]:.2f} |")


if __name__ == "__main__":
    main()
