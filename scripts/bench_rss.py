#!/usr/bin/env python3
"""Daemon memory with exact attribution: idle, and with N running `sleep` containers.

bench.py's daemon_rss adds every process *named* containerd / containerd-shim-runc-v2 / conmon on
the host to a target, so on a shared machine another engineer's dockerd or shimd is counted too.
Here a target's processes are: whoever listens on its socket, every process whose command line
holds the target's MARKER (its exec root: dockerd's containerd and shims carry
`<exec-root>/containerd/...`, shim's conmons `-b <exec-root>/containers/<id>`), and their
descendants in the daemon's PID namespace (container workloads excluded).

    bench_rss.py --target dockerd=unix:///run/ref/docker.sock:/run/ref/exec \\
                 --target shim=unix:///tmp/x/shim.sock:/tmp/x/exec [--containers 20] [--rounds 3]

Targets are measured round by round in rotating order; medians are reported (stdout, --output).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections import defaultdict


def parse_target(text: str) -> tuple[str, str, str]:
    name, rest = text.split("=", 1)
    if not rest.startswith("unix://"):
        raise SystemExit(f"target {text!r}: expected NAME=unix:///SOCK:MARKER")
    sock, _, marker = rest[len("unix://") :].partition(":")
    if not marker:
        raise SystemExit(f"target {text!r}: missing :MARKER (the daemon's exec root)")
    return name, sock, marker


def socket_owners(path: str) -> set[int]:
    out = subprocess.run(["ss", "-xlp"], capture_output=True, text=True, timeout=15).stdout
    pids: set[int] = set()
    for line in out.splitlines():
        if any(tok == path for tok in line.split()[:6]):
            pids.update(int(p) for p in re.findall(r"pid=(\d+)", line))
    pids.discard(1)
    return pids


def proc_table() -> dict[int, dict]:
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            ns = os.readlink(f"/proc/{d}/ns/pid")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        table[int(d)] = {"ppid": ppid, "argv": argv, "comm": comm, "ns": ns}
    return table


def daemon_pids(sock: str, marker: str) -> tuple[set[int], dict]:
    table = proc_table()
    owners = {p for p in socket_owners(sock) if p in table}
    if not owners:
        raise RuntimeError(f"nobody listens on {sock}")
    home_ns = table[min(owners)]["ns"]
    roots = set(owners)
    for pid, p in table.items():
        if pid != os.getpid() and any(marker in a for a in p["argv"]):
            roots.add(pid)
    children = defaultdict(list)
    for pid, p in table.items():
        children[p["ppid"]].append(pid)
    result: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in result or pid not in table or table[pid]["ns"] != home_ns:
            continue
        result.add(pid)
        stack.extend(children[pid])
    return result, table


def measure(sock: str, marker: str) -> dict:
    pids, table = daemon_pids(sock, marker)
    rss = pss = 0
    by_name: dict[str, list] = defaultdict(lambda: [0, 0])
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                r = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{pid}/smaps_rollup") as f:
                p = next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
        except OSError:
            continue
        if not r:
            continue
        rss += r
        pss += p
        argv0 = table[pid]["argv"][0] if table[pid]["argv"] else table[pid]["comm"]
        name = os.path.basename(argv0)
        if name.startswith("python"):
            name = os.path.basename(table[pid]["argv"][1]) if len(table[pid]["argv"]) > 1 else name
        by_name[name][0] += 1
        by_name[name][1] += r
    return {"rss": rss / 1024, "pss": pss / 1024, "by_name": {k: (n, r / 1024) for k, (n, r) in by_name.items()}}


def docker(sock: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "-H", f"unix://{sock}", *args], capture_output=True, text=True, timeout=timeout)


def run_containers(sock: str, names: list[str], image: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(len(names)) as ex:
        results = list(
            ex.map(lambda n: docker(sock, "run", "-d", "--name", n, "--pull=never", image, "sleep", "1000"), names)
        )
    bad = [r.stderr.strip() for r in results if r.returncode != 0]
    if bad:
        raise RuntimeError(f"docker run failed: {bad[0]}")


def remove_containers(sock: str, names: list[str]) -> None:
    docker(sock, "rm", "-f", *names)


def fmt(x: float) -> str:
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", required=True, help="NAME=unix:///SOCK:MARKER")
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before each reading")
    ap.add_argument("--image", default="busybox:latest")
    ap.add_argument("--output", help="also write the markdown here")
    a = ap.parse_args()
    targets = [parse_target(t) for t in a.target]
    run = secrets.token_hex(3)
    samples: dict[str, dict[str, list[float]]] = {t[0]: defaultdict(list) for t in targets}
    detail: dict[str, dict] = {}
    t_start = time.time()
    for rnd in range(a.rounds):
        order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
        for name, sock, marker in order:
            names = [f"benchrss-{run}-{rnd}-{i}" for i in range(a.containers)]
            time.sleep(a.settle)
            idle = measure(sock, marker)
            try:
                run_containers(sock, names, a.image)
                time.sleep(a.settle)
                busy = measure(sock, marker)
            finally:
                remove_containers(sock, names)
            s = samples[name]
            s["rss_idle"].append(idle["rss"])
            s["rss_n"].append(busy["rss"])
            s["pss_idle"].append(idle["pss"])
            s["pss_n"].append(busy["pss"])
            s["rss_per_ctr"].append((busy["rss"] - idle["rss"]) / a.containers)
            s["pss_per_ctr"].append((busy["pss"] - idle["pss"]) / a.containers)
            detail[name] = {"idle": idle["by_name"], "busy": busy["by_name"]}
            print(
                f"[bench_rss] round {rnd + 1} {name}: idle {idle['rss']:.1f} MiB, "
                f"{a.containers} running {busy['rss']:.1f} MiB RSS",
                file=sys.stderr,
            )
    n = a.containers
    rows = [
        ("rss_idle", "daemon tree RSS, idle"),
        ("rss_n", f"daemon tree RSS with {n} running containers"),
        ("rss_per_ctr", "(rss_n - rss_idle) / n"),
        ("pss_idle", "daemon tree PSS, idle"),
        ("pss_n", f"daemon tree PSS with {n} running containers"),
        ("pss_per_ctr", "(pss_n - pss_idle) / n"),
    ]
    base = targets[0][0]
    lines = [
        "# Daemon memory (exact attribution)",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t_start))}; "
        f"{a.rounds} rounds, {n} running `{a.image} sleep 1000` containers, settle {a.settle} s",
        "- a target = its socket's listener + processes whose argv holds its exec root + their "
        "descendants in the daemon's PID namespace (scripts/bench_rss.py)",
        "",
        "Medians, MiB.",
        "",
        "| metric | "
        + " | ".join(t[0] for t in targets)
        + " | "
        + " | ".join(f"{t[0]}/{base}" for t in targets[1:])
        + " | what |",
        "|---|" + "---:|" * (2 * len(targets) - 1) + "---|",
    ]
    for key, what in rows:
        meds = [statistics.median(samples[t[0]][key]) for t in targets]
        ratios = [f"{m / meds[0]:.2f}" if meds[0] else "-" for m in meds[1:]]
        lines.append(f"| {key} | " + " | ".join(fmt(m) for m in meds) + " | " + " | ".join(ratios) + f" | {what} |")
    lines += ["", "Processes in the last round (count × name: RSS MiB):", ""]
    for name, d in detail.items():
        for when in ("idle", "busy"):
            parts = ", ".join(f"{c}×{k} {r:.1f}" for k, (c, r) in sorted(d[when].items()))
            lines.append(f"- {name} {'idle' if when == 'idle' else f'with {n}'}: {parts}")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
