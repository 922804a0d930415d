#!/usr/bin/env python3
"""Where the CPU of a burst of parallel `docker run -d` goes, by kind of process (issue 17).

    flock /tmp/shim-bench.lock .venv/bin/python scripts/burst_cpu.py [--bursts 3] [-k 20]
        [--pythonpath OLD_TREE] [--network NAME] [--pyspy FILE]

Starts a shimd of this checkout (or of OLD_TREE's `shim` package) on its own socket, roots and
bridge, then for each burst records the kernel's scheduler events system-wide (`perf record -k
mono` of sched_switch and the fork/exec/exit tracepoints) while K `docker run -d busybox sleep`
CLIs run at once, and charges every slice of CPU time to the thread that ran it. A process is
classed by its ancestry and what it exec'd: shimd (per thread), the docker CLIs (children of this
script), conmon, `runc create` (conmon's child), `runc init` (everything under it until the
container's own command), `runc start`/other runc (shimd's children), iptables, the container's
process, the kernel's threads, and the rest of the machine (other users' work: reported, not
ours). Prints a table of CPU ms per burst by kind (median over bursts), the wall time, and the
machine's total busy time. `--pyspy FILE` also samples shimd with py-spy over every burst (raw
folded stacks, `--gil` off, idle off). Everything made is removed; shimd is stopped and swept.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchd import DOCKER, Daemon  # scripts/benchd.py: run as a script, scripts/ is on the path

ROOT = Path(__file__).resolve().parent.parent
CLK = os.sysconf("SC_CLK_TCK")
EVENTS = "sched:sched_switch,sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit"
SWITCH = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*?==> next_comm=(.*?) next_pid=(\d+)")
FORK = re.compile(r"comm=(.*?) pid=(\d+) child_comm=(.*?) child_pid=(\d+)")
EXEC = re.compile(r"filename=(\S+) pid=(\d+)")


def classify(events: list[tuple[float, int, str, str, str]], shimd: int, me: int) -> dict[int, str]:
    """tgid → role, from fork/exec events (tgids known before the recording: "other")."""
    parent: dict[int, int] = {}
    exe: dict[int, str] = {}
    tgid_of: dict[int, int] = {}
    for _t, pid, _comm, ev, trace in events:
        if ev == "sched:sched_process_fork":
            m = FORK.search(trace)
            if m:
                child = int(m.group(4))
                tgid_of.setdefault(child, child)
                parent.setdefault(child, pid)  # pid = the forking task's tgid
        elif ev == "sched:sched_process_exec":
            m = EXEC.search(trace)
            if m:
                exe.setdefault(pid, m.group(1))
    roles: dict[int, str] = {}

    def role(p: int, depth: int = 0) -> str:
        if p in roles:
            return roles[p]
        if p == shimd:
            return "shimd"
        if p == me:
            return "bench"
        if p not in parent or depth > 30:
            return "other"
        up = role(parent[p], depth + 1)
        name = os.path.basename(exe.get(p, ""))
        r = "other"
        if up == "bench":
            r = "docker CLI" if name == "docker" or not name else "bench"
        elif up == "shimd":
            if name == "conmon":
                r = "conmon"
            elif "runc" in name:
                r = "runc by shimd (start, state, delete)"
            elif "iptables" in name or "xtables" in name:
                r = "iptables"
            elif name:
                r = f"shimd child: {name}"
            else:
                r = "shimd fork (before exec)"
        elif up == "conmon" and "runc" in name:
            r = "runc create"
        elif up == "conmon":
            r = "conmon" if name in ("", "conmon") else f"conmon child: {name}"
        elif up in ("runc create", "runc init"):
            r = "runc init"
        elif up.startswith("shimd child") or up in ("iptables", "runc by shimd (start, state, delete)"):
            r = up
        elif up == "docker CLI":
            r = "docker CLI"
        roles[p] = r
        return r

    for p in set(parent) | set(exe):
        role(p)
    return roles


def account(script: str, t0: float, t1: float, shimd: int, me: int) -> tuple[dict[str, float], float]:
    """CPU ms by kind in [t0, t1] (CLOCK_MONOTONIC), and the machine's busy ms."""
    events: list[tuple[float, int, str, str, str]] = []
    line_re = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
    switches: list[tuple[float, int, int, str, int, str]] = []
    for line in script.splitlines():
        m = line_re.match(line)
        if not m:
            continue
        comm, pid, _tid, cpu, ts, ev, trace = m.groups()
        t = float(ts)
        ev = ev.rstrip(":")
        events.append((t, int(pid), comm, ev, trace))
        if ev == "sched:sched_switch":
            s = SWITCH.search(trace)
            if s:
                switches.append((t, int(cpu), int(pid), s.group(1), int(s.group(2)), s.group(3)))
    roles = classify(events, shimd, me)
    # exec'd container commands: runc init's process after its exec is the container's
    last: dict[int, float] = {}
    by: dict[str, float] = collections.defaultdict(float)
    busy = 0.0
    for t, cpu, tgid, prev_comm, prev_tid, _next in switches:
        start = last.get(cpu)
        last[cpu] = t
        if start is None or prev_tid == 0:
            continue
        lo, hi = max(start, t0), min(t, t1)
        if hi <= lo:
            continue
        ms = (hi - lo) * 1000
        busy += ms
        r = roles.get(tgid)
        if tgid == shimd:
            k = "shimd: event loop (main thread)" if prev_tid == shimd else "shimd: other threads (pools, netns)"
        elif r == "runc init" and not prev_comm.startswith("runc"):
            k = "container process (after exec)"
        elif r:
            k = r
            if r == "other":
                k = "other: " + prev_comm
        elif re.match(r"(kworker|ksoftirqd|rcu|migration|kthreadd|jbd2|kdamond)", prev_comm):
            k = "kernel threads"
        else:
            k = "rest of the machine (not ours)"
        by[k] += ms
    return by, busy


def _utime_stime(pid: int) -> tuple[float, float]:
    """A process's user and system CPU seconds (all its threads, /proc/PID/stat)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) / CLK, int(f[12]) / CLK


def burst(d: Daemon, k: int, tag: str, tmp: Path, pyspy: str) -> tuple[dict[str, float], float, float]:
    data = tmp / f"perf-{tag}.data"
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-a", "-k", "mono", "-e", EVENTS, "-o", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spy = None
    if pyspy:
        spy = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/py-spy"),
                "record",
                "-r",
                "500",
                "-f",
                "raw",
                "-o",
                f"{pyspy}.{tag}",
                "-p",
                str(d.proc.pid),
                "--threads",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    prof = None
    if os.environ.get("BURST_PERF_PROFILE"):
        out = f"{os.environ['BURST_PERF_PROFILE']}.{tag}"  # on-CPU stacks of shimd (and children)
        prof = subprocess.Popen(
            ["perf", "record", "-q", "-g", "-F", "2000", "-p", str(d.proc.pid), "-o", out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    time.sleep(1.0)  # perf's buffers mapped, py-spy attached
    u0, s0 = _utime_stime(d.proc.pid)
    names = [f"burst{tag}-{i}" for i in range(k)]
    t0 = time.monotonic()
    procs = [
        subprocess.Popen(
            [DOCKER, "-H", d.host, "run", "-d", "--pull=never", "--name", n, "busybox", "sleep", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in names
    ]
    errs = [p.stderr.read() for p in procs if (p.stderr and p.wait() != 0) or False]
    for p in procs:
        p.wait()
    t1 = time.monotonic()
    u1, s1 = _utime_stime(d.proc.pid)
    time.sleep(0.2)
    perf.send_signal(signal.SIGINT)
    perf.wait()
    if prof is not None:
        prof.send_signal(signal.SIGINT)
        prof.wait()
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait()
    if errs:
        raise SystemExit(f"burst {tag}: {len(errs)} failed: {errs[0][:300]!r}")
    d.docker("rm", "-f", *names)
    out = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "comm,pid,tid,cpu,time,event,trace"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data.unlink()
    by, busy = account(out, t0, t1, d.proc.pid, os.getpid())
    by["(shimd user, /proc stat)"] = (u1 - u0) * 1000
    by["(shimd system, /proc stat)"] = (s1 - s0) * 1000
    return by, busy, t1 - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--pythonpath", default="", help="a tree whose `shim` package runs instead (a before)")
    ap.add_argument("--pyspy", default="", help="py-spy raw output prefix (one file per burst)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shimburst-", dir="/tmp"))
    d = Daemon(tmp, os.path.abspath(a.pythonpath) if a.pythonpath else "", "shburst0", "172.30.91.1/24")
    try:
        burst(d, a.k, "warm", tmp, "")
        results = [burst(d, a.k, str(i), tmp, a.pyspy) for i in range(a.bursts)]
    finally:
        d.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    load = open("/proc/loadavg").read().split()[:3]
    kinds = sorted(
        {k for by, _, _ in results for k in by}, key=lambda k: -statistics.median(r[0].get(k, 0) for r in results)
    )
    print(f"{a.bursts} bursts of {a.k} x `docker run -d busybox sleep 1000`, load average {' '.join(load)}")
    print(f"wall s: {' '.join(f'{w:.3f}' for _, _, w in results)}")
    print("| kind | CPU ms per burst (median) | per start | each burst |")
    print("|---|---:|---:|---|")
    for kind in kinds:
        vals = [r[0].get(kind, 0.0) for r in results]
        med = statistics.median(vals)
        print(f"| {kind} | {med:.0f} | {med / a.k:.1f} | {' '.join(f'{v:.0f}' for v in vals)} |")
    ours = [sum(v for k, v in by.items() if not k.startswith(("rest of", "("))) for by, _, _ in results]
    each = " ".join(f"{v:.0f}" for v in ours)
    print(f"| **ours, total** | {statistics.median(ours):.0f} | {statistics.median(ours) / a.k:.1f} | {each} |")
    cap = statistics.median(w * 1000 * (os.cpu_count() or 1) for _, _, w in results)
    busy = statistics.median(b for _, b, _ in results)
    print(f"| machine busy / capacity (cores x wall) | {busy:.0f} / {cap:.0f} | | |")


if __name__ == "__main__":
    main()
