"""A private shimd for the benchmark scripts (scripts/shimd_cpu.py, scripts/burst_cpu.py).

Own socket, data and exec roots, bridge and subnet under one work directory; stopped and swept
(processes, runc state, mounts, veths, the bridge, the directory) also after a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class Daemon:
    """A shimd of this checkout (or of `pythonpath`'s `shim` package) on its own socket, roots and
    bridge under `work`, busybox loaded; stop() removes what it made and `work` itself."""

    def __init__(self, work: Path, pythonpath: str, bridge: str, bip: str) -> None:
        self.work = work
        self.bridge = bridge
        self.host = f"unix://{self.work}/s.sock"
        (self.work / "daemon.json").write_text("{}")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        args = [str(ROOT / ".venv/bin/shimd"), "-H", self.host, "--data-root", str(self.work / "data")]
        args += ["--exec-root", str(self.work / "exec"), "--pidfile", str(self.work / "pid")]
        args += ["--config-file", str(self.work / "daemon.json"), "--bridge", bridge, "--bip", bip]
        self.log = open(self.work / "log", "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(300):
            if self.docker("version", check=False).returncode == 0:
                break
            time.sleep(0.1)
        self.docker("load", "-q", "-i", str(ROOT / "fixtures/build/busybox.tar"))

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([DOCKER, "-H", self.host, *args], capture_output=True, check=check, timeout=120)

    def run_d(self) -> str:
        return self.docker("run", "-d", "--pull=never", "busybox", "sleep", "60").stdout.decode().strip()

    def stop(self) -> None:
        try:
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *[i.decode() for i in ids], check=False)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        finally:
            self.log.close()
            self._sweep()

    def _sweep(self) -> None:
        for p in Path("/proc").iterdir():
            if p.name.isdigit() and int(p.name) != os.getpid():
                try:
                    if str(self.work) in (p / "cmdline").read_bytes().decode(errors="replace"):
                        os.kill(int(p.name), 9)
                except OSError:
                    pass
        runc_root = self.work / "exec" / "runc"
        for c in runc_root.iterdir() if runc_root.exists() else []:
            subprocess.run(["runc", "--root", str(runc_root), "delete", "-f", c.name], capture_output=True)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(str(self.work))), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        sys.path.insert(0, str(ROOT / "tests"))
        from shimd_harness import _sweep_network  # type: ignore[import-not-found]

        _sweep_network(str(self.work / "exec"), self.bridge)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
