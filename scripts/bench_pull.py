#!/usr/bin/env python3
"""The pull benchmark of docs/PERFORMANCE.md: `docker pull` of a 5-layer image (busybox plus
16+12+8+4 MiB of incompressible data: 41 MiB of blobs) from a local docker-registry, shimd
against a reference dockerd in one interleaved run (../shared/bench/bench.py --pull-image), then
10 pulls of the image already present, per engine, interleaved round by round.

    scripts/bench_pull.py --reference unix:///run/ref-docker/docker.sock [--rounds 7] [--output FILE]

Starts its own registry (tests/registry_harness.py) and its own shimd (tests/shimd_harness.py);
the reference dockerd is started by the caller (../shared/bench/reference-dockerd.sh start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.registry_harness import Registry, build_archive  # noqa: E402
from tests.shimd_harness import FIXTURE, Shimd  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench" / "bench.py"


def pull_present(host: str, ref: str, n: int = 10) -> float:
    env = dict(os.environ, DOCKER_HOST=host)
    start = time.monotonic()
    for _ in range(n):
        subprocess.run(["docker", "pull", "-q", ref], env=env, check=True, capture_output=True)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True, help="DOCKER_HOST of the reference dockerd")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--output", default="")
    a = ap.parse_args()
    reg = Registry("plain").start()
    shim = Shimd()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tar = build_archive(Path(tmp) / "big.tar", [16 << 20, 12 << 20, 8 << 20, 4 << 20], tag="bench:big")
            reg.seed("bench:big", tar)
        ref = f"{reg.addr}/bench:big"
        shim.start()
        shim.load_busybox()
        targets = ["--target", f"dockerd={a.reference}:containerd", "--target", f"shim={shim.docker_host}:conmon"]
        cmd = [sys.executable, str(BENCH), *targets, "--only", "pull", "--pull-image", ref]
        cmd += ["--pull-rounds", str(a.rounds), "--image-archive", str(FIXTURE)]
        if a.output:
            cmd += ["--output", a.output]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        # 10 pulls of an image already there, interleaved (the order alternates each round)
        hosts = {"dockerd": a.reference, "shim": shim.docker_host}
        for h in hosts.values():
            subprocess.run(["docker", "pull", "-q", ref], env=dict(os.environ, DOCKER_HOST=h), check=True)
        times: dict[str, list[float]] = {k: [] for k in hosts}
        for r in range(a.rounds):
            order = list(hosts) if r % 2 == 0 else list(reversed(hosts))
            for name in order:
                times[name].append(pull_present(hosts[name], ref))
        med = {k: statistics.median(v) for k, v in times.items()}
        print("\n10 pulls of the present image (s), median of", a.rounds, "rounds:")
        for k, v in times.items():
            print(f"  {k}: median {med[k]:.3f}  samples {' '.join(f'{x:.3f}' for x in v)}")
        print(f"  ratio shim/dockerd: {med['shim'] / med['dockerd']:.2f}")
        for h in hosts.values():
            subprocess.run(["docker", "rmi", "-f", ref], env=dict(os.environ, DOCKER_HOST=h), capture_output=True)
    finally:
        shim.destroy()
        reg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
