#!/usr/bin/env python3
"""The tail of `docker run --rm busybox true`: from the container's exit to the CLI's own exit.

    scripts/bench_exit.sh OLD_DIR [-n 30]        (starts `old` and `new` shimd targets, then this)
    .venv/bin/python scripts/bench_exit.py --target NAME=DIR [--target ...] [-n 30]

Each DIR is a shimd target as scripts/lib/shimd-targets.sh makes it (DIR/s.sock, DIR/exec, DIR/pid).
Runs alternate between the targets (interleaved: the machine's load falls on all of them alike).
Per run: the CLI's wall time; `exit → CLI exit`, from conmon's exit file appearing in
`<exec-root>/exits` (inotify, in this process) to the CLI's exit (it exits on the
`/wait?condition=removed` body); shimd's CPU time (utime+stime, /proc/PID/stat) over the whole run,
which load does not inflate as it does wall time (its mean: the counters tick every 10 ms).
Medians and quartiles per target.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import select
import statistics
import struct
import subprocess
import threading
import time
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")
IN_CLOSE_WRITE, IN_MOVED_TO = 0x8, 0x80
ID = re.compile(rb"[0-9a-f]{64}")
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class ExitSeen:
    """When a container's exit file appears in the exits dir (monotonic time, by container ID)."""

    def __init__(self, exit_dir: str) -> None:
        os.makedirs(exit_dir, exist_ok=True)
        self.fd = _libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if _libc.inotify_add_watch(self.fd, exit_dir.encode(), IN_CLOSE_WRITE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", exit_dir)
        self.seen: dict[bytes, float] = {}
        self._stop = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd, self._stop[0]], [], [])
            t = time.monotonic()
            if self._stop[0] in ready:
                return
            data = os.read(self.fd, 65536)
            i = 0
            while i + 16 <= len(data):
                _wd, _mask, _cookie, size = struct.unpack_from("iIII", data, i)
                name = data[i + 16 : i + 16 + size].rstrip(b"\0")
                i += 16 + size
                if ID.fullmatch(name):
                    self.seen.setdefault(name, t)

    def close(self) -> None:
        os.write(self._stop[1], b"x")
        self._thread.join()
        os.close(self.fd)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class Target:
    def __init__(self, name: str, d: str) -> None:
        self.name, self.dir = name, d
        self.pid = int(Path(d, "pid").read_text().strip())
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{d}/s.sock")
        self.exits = ExitSeen(os.path.join(d, "exec", "exits"))
        self.wall: list[float] = []
        self.tail: list[float] = []
        self.cpu: list[float] = []

    def run_once(self, record: bool) -> None:
        before = set(self.exits.seen)
        c0, t0 = cpu_s(self.pid), time.monotonic()
        subprocess.run(["docker", "run", "--rm", "busybox", "true"], env=self.env, check=True, capture_output=True)
        t1 = time.monotonic()
        cpu = cpu_s(self.pid) - c0
        new = [t for k, t in self.exits.seen.items() if k not in before]
        if record and len(new) == 1:
            self.wall.append(t1 - t0)
            self.tail.append(t1 - new[0])
            self.cpu.append(cpu)


def quartiles(xs: list[float]) -> str:
    if len(xs) < 4:
        return f"{1000 * statistics.median(xs):.1f}" if xs else "-"
    q = statistics.quantiles(xs, n=4)
    return f"{1000 * q[1]:.1f} ({1000 * q[0]:.1f}–{1000 * q[2]:.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", required=True, help="NAME=DIR")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    targets = [Target(*spec.split("=", 1)) for spec in a.target]
    try:
        for _ in range(a.warmup):
            for t in targets:
                t.run_once(record=False)
        for i in range(a.n):
            for t in targets if i % 2 == 0 else reversed(targets):
                t.run_once(record=True)
    finally:
        for t in targets:
            t.exits.close()
    print(f"load average {os.getloadavg()[0]:.2f} at the end; n={a.n}, median (quartiles), ms")
    print("| target | run --rm wall | exit → CLI exit | shimd CPU per run (mean: clock ticks) |")
    print("|---|---:|---:|---:|")
    for t in targets:
        cpu = 1000 * statistics.fmean(t.cpu) if t.cpu else 0.0
        print(f"| {t.name} | {quartiles(t.wall)} | {quartiles(t.tail)} | {cpu:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
