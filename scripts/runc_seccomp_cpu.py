#!/usr/bin/env python3
"""runc's own cost per start under seccomp filter variants, alternated (issue 17, fourth pass: x32).

    flock -o /tmp/shim-bench.lock .venv/bin/python scripts/runc_seccomp_cpu.py [-n 100]

Starts a private shimd of this checkout (scripts/benchd.py), runs `docker run -d busybox sleep 60`
and copies the bundle's config.json exactly as shimd wrote it, then stops the daemon. The copy
gets the container's rootfs (`docker export`, extracted), its hosts/hostname/resolv.conf files, a
network namespace of its own (runc makes it; the daemon's netns is gone) and `true` as its
command. Variants of `linux.seccomp`, everything else identical:
  as-written  what shimd writes on this host (without SCMP_ARCH_X32 where the kernel runs no x32)
  +x32        the same with SCMP_ARCH_X32 put back (what shimd wrote before: Docker's three)
  x86_64      SCMP_ARCH_X86_64 alone (for reference only: it would kill every i386 syscall)
  none        no filter (for reference)
Then N rounds; each round runs `runc run` once per variant in a shuffled order, its CPU
(utime + stime of runc and everything it waited for: `runc init` with the filter compile, from
wait4's rusage) and wall time. Prints medians and means per variant, and the load average.
Everything made is removed (runc state, cgroups, the work directory).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchd import Daemon  # scripts/benchd.py: run as a script, scripts/ is on the path

CGROUP_PARENT = "/shimbench-x32"


def capture(work: Path) -> dict[str, Any]:
    """config.json as shimd wrote it for `docker run -d busybox sleep 60`, made runnable alone."""
    (work / "daemon").mkdir()
    d = Daemon(work / "daemon", "", "shx32b0", "172.30.86.1/24")
    try:
        cid = d.run_d()
        spec: dict[str, Any] = json.loads((d.work / "exec" / "containers" / cid / "config.json").read_text())
        export = work / "rootfs.tar"
        d.docker("export", "-o", str(export), cid)
        files = work / "files"
        files.mkdir()
        for m in spec["mounts"]:
            if m["type"] == "bind" and m["source"].startswith(str(d.work)):
                dest = files / os.path.basename(m["source"])
                shutil.copyfile(m["source"], dest)
                m["source"] = str(dest)
    finally:
        d.stop()
    rootfs = work / "rootfs"
    rootfs.mkdir()
    with tarfile.open(export) as t:
        t.extractall(rootfs, filter="tar")
    export.unlink()
    spec["root"]["path"] = str(rootfs)
    spec["process"]["args"] = ["true"]
    for ns in spec["linux"]["namespaces"]:
        ns.pop("path", None)
    return spec


def variants(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    written = spec["linux"]["seccomp"]
    out = {"as-written": spec}
    plus = copy.deepcopy(spec)
    arches = plus["linux"]["seccomp"]["architectures"]
    if "SCMP_ARCH_X32" not in arches:
        arches.append("SCMP_ARCH_X32")
    out["+x32"] = plus
    only = copy.deepcopy(spec)
    only["linux"]["seccomp"]["architectures"] = written["architectures"][:1]
    out["x86_64"] = only
    none = copy.deepcopy(spec)
    del none["linux"]["seccomp"]
    out["none"] = none
    return out


def run_once(root: Path, bundle: Path, name: str) -> tuple[float, float]:
    """One `runc run` of `bundle`: (CPU ms of runc and what it waited for, wall ms)."""
    with open(bundle / "runc.err", "w+b") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            ["runc", "--root", str(root), "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, ru = os.wait4(p.pid, 0)
        wall = (time.perf_counter() - t0) * 1000
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"runc run {bundle.name} exited {p.returncode}: {err.read().decode()}")
    return (ru.ru_utime + ru.ru_stime) * 1000, wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100, help="rounds (each runs every variant once)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="runc-seccomp-cpu-", dir="/tmp"))
    root = work / "runc"
    try:
        spec = capture(work)
        print("as written by shimd:", spec["linux"]["seccomp"]["architectures"])
        bundles = {}
        for i, (label, v) in enumerate(variants(spec).items()):
            b = work / f"bundle{i}"
            b.mkdir()
            (b / "config.json").write_text(json.dumps(v))
            bundles[label] = b
        cpu: dict[str, list[float]] = {k: [] for k in bundles}
        wall: dict[str, list[float]] = {k: [] for k in bundles}
        load0 = open("/proc/loadavg").read().split()[:3]
        for r in range(-2, args.n):  # two warm-up rounds, not counted
            order = list(bundles)
            random.shuffle(order)
            for label in order:
                v = json.loads((bundles[label] / "config.json").read_text())
                v["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/x32b-{r}-{bundles[label].name}"
                (bundles[label] / "config.json").write_text(json.dumps(v))
                c, w = run_once(root, bundles[label], f"x32b-{r}-{bundles[label].name}")
                if r >= 0:
                    cpu[label].append(c)
                    wall[label].append(w)
        load1 = open("/proc/loadavg").read().split()[:3]
        print(f"{args.n} rounds, load {' '.join(load0)} -> {' '.join(load1)}")
        print(f"{'variant':12} {'cpu median':>11} {'cpu mean':>9} {'wall median':>12} {'wall mean':>10}  (ms)")
        for label in bundles:
            print(
                f"{label:12} {statistics.median(cpu[label]):11.1f} {statistics.fmean(cpu[label]):9.1f}"
                f" {statistics.median(wall[label]):12.1f} {statistics.fmean(wall[label]):10.1f}"
            )
    finally:
        sweep(root, CGROUP_PARENT)
        shutil.rmtree(work, ignore_errors=True)


def sweep(root: Path, cgroup_parent: str) -> None:
    """What the runs left: every container still in runc's `root`, and the cgroups under
    `cgroup_parent` in every hierarchy (also used by scripts/runc_spec_cpu.py)."""
    for state in root.iterdir() if root.exists() else []:
        subprocess.run(["runc", "--root", str(root), "delete", "-f", state.name], capture_output=True)
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        parent = ctrl / cgroup_parent.lstrip("/")
        if parent.is_dir():
            for leaf in parent.iterdir():
                if leaf.is_dir():
                    leaf.rmdir()
            parent.rmdir()


if __name__ == "__main__":
    main()
