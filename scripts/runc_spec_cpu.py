#!/usr/bin/env python3
"""runc's CPU per start, phase by phase, for shim's spec, dockerd's spec and a minimal spec (issue 17).

    flock -o /tmp/shim-bench.lock .venv/bin/python scripts/runc_spec_cpu.py [-n 100] [--reference]
        [--only NAME,...]

Bundles, all on the busybox rootfs and with `true` as the command:
  shim          config.json exactly as a private shimd of this checkout writes it for
                `docker run -d busybox sleep 60` (scripts/runc_seccomp_cpu.py `capture`), joining a
                network namespace made beforehand, as under shimd (shimd makes and wires it)
  shim-nofilter the same without `linux.seccomp` (what the filter costs)
  dockerd       (--reference) the reference dockerd 20.10's config.json for the same command, taken
                from its containerd's bundle (reference-dockerd.sh under its lock); runc makes the
                network namespace, as under dockerd. Its prestart hook (`libnetwork-setkey`, which
                re-executes dockerd) is dropped: it can't run without that dockerd.
  minimal       `runc spec`'s default (no seccomp, runc makes every namespace)

Each round runs every bundle once in a shuffled order, the way conmon and shimd drive runc:
`runc create` (its CPU from wait4's rusage: the runc parent and nsexec's first two stages, which
it reaps), then `runc init`'s CPU up to the exec fifo (its threads' schedstat, read while it
waits: its Go start, mounts, pivot_root, the seccomp compile), the start as shimd does it (read
the exec fifo to EOF), the container's exit (this script is the subreaper, as conmon is; the
init's wait4 rusage minus the part read before = `true`), and `runc delete`. Prints medians of
each phase per bundle, the load average and the host's mount count (every runc process reads
/proc/self/mountinfo: docs/PERFORMANCE.md, "the host's mount count").
Everything made is removed: runc state, cgroups, the network namespace, the work directory.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import fcntl
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from runc_seccomp_cpu import capture, sweep  # scripts/: run as a script, scripts/ is on the path

CGROUP_PARENT = "/shimbench-runcspec"
REF = "/work/shared/bench/reference-dockerd.sh"
REF_LOCK = "/tmp/shim-compat-reference.lock"
PR_SET_CHILD_SUBREAPER = 36
PHASES = ("create", "init", "true", "delete", "total", "create_wall")


def reference_spec(image_tar: Path) -> dict[str, Any]:
    """The reference dockerd's config.json for `docker run -d busybox sleep 60` (started and
    stopped here, under its lock, unless it already runs: then only the container is removed)."""
    env = dict(os.environ, REF_IMAGE_TAR=str(image_tar))
    sock = "unix:///run/ref-docker/docker.sock"
    with open(REF_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_running = subprocess.run(["docker", "-H", sock, "version"], capture_output=True).returncode == 0
        subprocess.run([REF, "start"], env=env, check=True, capture_output=True)
        try:
            run = ["docker", "-H", sock, "run", "-d", "busybox", "sleep", "60"]
            cid = subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()
            try:
                found = list(Path("/run/ref-docker/exec").glob(f"containerd/**/moby/{cid}/config.json"))
                spec: dict[str, Any] = json.loads(found[0].read_text())
            finally:
                subprocess.run(["docker", "-H", sock, "rm", "-f", cid], capture_output=True)
        finally:
            if not was_running:
                subprocess.run([REF, "stop"], capture_output=True)
    return spec


def runnable_reference(spec: dict[str, Any], shim: dict[str, Any]) -> dict[str, Any]:
    """dockerd's spec on shim's rootfs and files (same busybox, same contents), hook dropped."""
    spec = copy.deepcopy(spec)
    spec["root"] = {"path": shim["root"]["path"]}
    files = {os.path.basename(m["source"]): m["source"] for m in shim["mounts"] if m["type"] == "bind"}
    for m in spec["mounts"]:
        if m["type"] == "bind" and os.path.basename(m["source"]) in files:
            m["source"] = files[os.path.basename(m["source"])]
    spec["process"]["args"] = ["true"]
    spec.pop("hooks", None)
    return spec


def minimal_spec(work: Path, shim: dict[str, Any]) -> dict[str, Any]:
    d = work / "runc-spec"
    d.mkdir()
    subprocess.run(["runc", "spec"], cwd=d, check=True)
    spec: dict[str, Any] = json.loads((d / "config.json").read_text())
    spec["root"] = {"path": shim["root"]["path"]}
    spec["process"].update(args=["true"], terminal=False)
    return spec


def _cpu_of(pid: int) -> float:
    """CPU ms of every thread of `pid` so far (schedstat: ns, unlike /proc/PID/stat's ticks)."""
    return sum(int((t / "schedstat").read_text().split()[0]) for t in Path(f"/proc/{pid}/task").iterdir()) / 1e6


def _ru_ms(ru: Any) -> float:
    return float(ru.ru_utime + ru.ru_stime) * 1000


def timed_delete(root: Path, name: str) -> float:
    p = subprocess.Popen(
        ["runc", "--root", str(root), "delete", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"runc delete {name}: {p.stderr.read().decode() if p.stderr else ''}")
    return _ru_ms(ru)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100, help="rounds (each runs every bundle once)")
    ap.add_argument("--reference", action="store_true", help="also dockerd 20.10's spec (reference-dockerd.sh)")
    ap.add_argument("--only", default="", help="comma-separated bundle names")
    args = ap.parse_args()
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")
    work = Path(tempfile.mkdtemp(prefix="runc-spec-cpu-", dir="/tmp"))
    root = work / "runc"
    netns = f"runcspec{os.getpid()}"
    try:
        shim = capture(work)
        subprocess.run(["ip", "netns", "add", netns], check=True)
        for ns in shim["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{netns}"
        nofilter = copy.deepcopy(shim)
        del nofilter["linux"]["seccomp"]
        specs = {"shim": shim, "shim-nofilter": nofilter}
        if args.reference:
            ref = reference_spec(Path(__file__).resolve().parent.parent / "fixtures/build/busybox.tar")
            specs["dockerd"] = runnable_reference(ref, shim)
        specs["minimal"] = minimal_spec(work, shim)
        if args.only:
            specs = {k: v for k, v in specs.items() if k in args.only.split(",")}
        bundles: dict[str, Path] = {}
        for i, (label, spec) in enumerate(specs.items()):
            b = work / f"bundle{i}"
            b.mkdir()
            (b / "config.json").write_text(json.dumps(spec))
            bundles[label] = b
        res: dict[str, dict[str, list[float]]] = {k: {p: [] for p in PHASES} for k in bundles}
        load0 = open("/proc/loadavg").read().split()[:3]
        for r in range(-2, args.n):  # two warm-up rounds, not counted
            order = list(bundles)
            random.shuffle(order)
            for label in order:
                b = bundles[label]
                spec = json.loads((b / "config.json").read_text())
                name = f"rs-{r}-{b.name}"
                spec["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{name}"
                (b / "config.json").write_text(json.dumps(spec))
                out = _start_and_delete(root, b, name)
                if r >= 0:
                    for p in PHASES:
                        res[label][p].append(out[p])
        load1 = open("/proc/loadavg").read().split()[:3]
        mounts = sum(1 for _ in open("/proc/self/mountinfo"))
        print(f"{args.n} rounds, load {' '.join(load0)} -> {' '.join(load1)}, {mounts} mounts on the host")
        print(f"medians, ms CPU (create_wall: ms wall)\n{'bundle':14}" + "".join(f"{p:>12}" for p in PHASES))
        for label in bundles:
            print(f"{label:14}" + "".join(f"{statistics.median(res[label][p]):12.2f}" for p in PHASES))
    finally:
        sweep(root, CGROUP_PARENT)
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _start_and_delete(root: Path, bundle: Path, name: str) -> dict[str, float]:
    out = _create_start_exit(root, bundle, name)
    out["delete"] = timed_delete(root, name)
    out["total"] = out["create"] + out["init"] + out["true"] + out["delete"]
    return out


def _create_start_exit(root: Path, bundle: Path, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    pidfile = bundle / "pid"
    with open(bundle / "runc.err", "w+b") as err:
        t0 = time.perf_counter()
        cmd = ["runc", "--root", str(root), "create", "--bundle", str(bundle), "--pid-file", str(pidfile), name]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        out["create_wall"] = (time.perf_counter() - t0) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"runc create {bundle.name}: {err.read().decode()}")
    out["create"] = _ru_ms(ru)
    init = int(pidfile.read_text())
    out["init"] = _cpu_of(init)  # blocked on the exec fifo: all init did before the user's process
    with open(root / name / "exec.fifo", "rb") as fifo:  # shimd's execfifo.py instead of `runc start`
        fifo.read()
    os.unlink(root / name / "exec.fifo")
    _, _status, ru = os.wait4(init, 0)  # ours: this process is the subreaper, as conmon is
    out["true"] = _ru_ms(ru) - out["init"]
    return out


if __name__ == "__main__":
    main()
