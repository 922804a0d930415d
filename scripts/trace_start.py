#!/usr/bin/env python3
"""Trace one `docker run --rm` through a running shimd: the timeline of docs/PERFORMANCE.md.

    sudo scripts/trace_start.py --pid SHIMD_PID --host unix:///path/docker.sock [--run-args "busybox true"]

shimd's own threads are traced with strace (attached per thread, not following children, so runc
and conmon run at full speed): HTTP requests and answers, netlink messages, mounts, setns, renames
(the store's writes) and fsyncs. The processes started on the way (conmon, runc, iptables-*) come
from the kernel's sched_process_exec/exit trace events (a private tracefs instance, mono clock,
converted to wall time). Warm the daemon up first (a few runs) so its worker threads exist.
Prints one line per event, milliseconds from the first request.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

TRACEFS = "/sys/kernel/tracing/instances/shim-trace-start"
SYSCALLS = "fsync,fdatasync,syncfs,sync_file_range,sendto,recvfrom,sendmsg,mount,umount2,setns,unshare,rename,renameat2"
ID = re.compile(r"[0-9a-f]{64}")


def _tracefs(on: bool) -> None:
    if on:
        os.makedirs(TRACEFS, exist_ok=True)
        _w("trace_clock", "mono")
        for ev in ("sched_process_fork", "sched_process_exec", "sched_process_exit"):
            _w(f"events/sched/{ev}/enable", "1")
        _w("trace", "")
    _w("tracing_on", "1" if on else "0")


def _w(name: str, value: str) -> None:
    with open(os.path.join(TRACEFS, name), "w") as f:
        f.write(value)


def _kernel_events(offset: float, root: int) -> list[tuple[float, str]]:
    """exec and exit of the processes descended from shimd (`root`), by the fork events."""
    out = []
    names: dict[str, str] = {}
    mine = {str(root)} | set(os.listdir(f"/proc/{root}/task"))
    with open(os.path.join(TRACEFS, "trace")) as f:
        for line in f:
            m = re.search(r"\s(\d+\.\d+): sched_process_(exec|exit|fork): (.*)", line)
            if not m:
                continue
            t, kind, rest = float(m.group(1)) + offset, m.group(2), m.group(3)
            if kind == "fork":
                fork = re.search(r" pid=(\d+) child_comm=.* child_pid=(\d+)", rest)
                if fork and fork.group(1) in mine:
                    mine.add(fork.group(2))
                    if fork.group(1) in names:  # a thread or fork of a traced program: its name
                        names[fork.group(2)] = names[fork.group(1)]
                continue
            pid = re.search(r"pid=(\d+)", rest)
            if pid is None or pid.group(1) not in mine:
                continue
            if kind == "exec":
                fn = re.search(r"filename=(\S+)", rest)
                name = os.path.basename(fn.group(1)) if fn else "?"
                names[pid.group(1)] = name
                out.append((t, f"exec  {name} [{pid.group(1)}]"))
            elif pid.group(1) in names and "group_dead=true" in rest:
                out.append((t, f"exit  {names[pid.group(1)]} [{pid.group(1)}]"))
    return out


def _strace_events(path: str) -> list[tuple[float, str]]:
    out = []
    for line in open(path, errors="replace"):
        m = re.match(r"(\d+)\s+(\d+\.\d+) (.*)", line)
        if not m:
            continue
        t, rest = float(m.group(2)), ID.sub("ID", m.group(3))
        ev = None
        http = re.search(r'>, "((?:GET|POST|HEAD|DELETE|PUT|HTTP/1.1) [^\\]*)', rest)
        if http and rest.startswith(("recvfrom", "sendto")):
            ev = ("req   " if rest.startswith("recvfrom") else "resp  ") + http.group(1)
        elif rest.startswith("sendto(") and "StatusCode" in rest:
            ev = "resp  (wait body) " + (re.search(r'\{\\?"StatusCode[^}]*\}', rest) or re.search("", "")).group(0)
        elif re.match(r"(fsync|fdatasync|syncfs|sync_file_range)\(", rest):
            ev = "sync  " + rest[:100]
        elif re.match(r"(mount|umount2|setns|unshare)\(", rest):
            ev = "sys   " + rest[:110]
        elif rest.startswith(("sendto(", "sendmsg(")) and "NETLINK" in rest:
            ty = re.search(r"nlmsg_type=([A-Z_0-9x]+)", rest)
            ev = "nl    " + (ty.group(1) if ty else "?")
        elif rest.startswith("rename"):
            dst = re.findall(r'"([^"]+)"', rest)
            ev = "write " + (dst[-1] if dst else rest[:80])
        if ev:
            out.append((t, ev))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--run-args", default="busybox true")
    ap.add_argument("--raw", default="/tmp/trace_start.strace")
    a = ap.parse_args()
    tids = sorted(os.listdir(f"/proc/{a.pid}/task"), key=int)
    args = ["strace", "-ttt", "-s", "100", "-yy", "-e", f"trace={SYSCALLS}", "-e", "signal=none", "-o", a.raw]
    for tid in tids:
        args += ["-p", tid]
    offset = time.time() - time.monotonic()
    _tracefs(True)
    st = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached
        env = dict(os.environ, DOCKER_HOST=a.host)
        t0 = time.time()
        subprocess.run(["docker", "run", "--rm", *a.run_args.split()], env=env, check=True)
        t1 = time.time()
        time.sleep(0.5)  # the removal after the client's answer
    finally:
        st.terminate()
        st.wait()
        _tracefs(False)
    events = sorted(_kernel_events(offset, a.pid) + _strace_events(a.raw))
    events = [(t, e) for t, e in events if t >= t0 - 0.001]
    base = next((t for t, e in events if e.startswith("req")), t0)
    print(f"client wall time {1000 * (t1 - t0):.1f} ms (traced); {len(tids)} shimd threads traced")
    for t, e in events:
        if e.startswith("nl    NFNL") or ("iptables" in e and e.startswith("nl")):
            continue
        print(f"{1000 * (t - base):8.1f}  {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
