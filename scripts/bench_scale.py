#!/usr/bin/env python3
"""How shimd's costs grow with the number of running containers (issue 17, "Scale").

    flock /tmp/shim-bench.lock .venv/bin/python scripts/bench_scale.py [--counts 10,100,500]
        [--reference unix:///run/ref-docker/docker.sock] [--output docs/bench-scale-latest.md]

Starts a shimd of this checkout on its own socket, roots and bridge (a /21, so 500 containers get
addresses), and with 10, 100 and 500 running `busybox sleep` containers measures:
- `docker ps` and `docker run --rm busybox true` (CLI wall time, medians), and `docker ps` right
  after a `docker run --rm` (the first list after a change: what the kept renderings must redo),
- the CLI's own floor: `docker ps` against a static socket that answers with the body shimd just
  sent (a Go process parsing N rows of JSON and formatting a table costs the same on any engine),
- shimd's RSS and its open files, and the conmons' total RSS,
- shimd's CPU while idle over --idle seconds (utime+stime from /proc/PID/stat), in % of one core,
- restart: SIGTERM until shimd has exited, then a new shimd until its first /_ping answer and
  until a complete container list (every running container listed as running).
With --reference, the same ps/run/RSS/idle figures for that dockerd (no restart: it is not ours),
taken interleaved at each count (the dockerd's filler containers use --network none: its bridge
is a /24). Every container made is removed at the end, shimd stopped and swept, even on failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABEL = "shim.bench.scale"
CLK = os.sysconf("SC_CLK_TCK")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 120.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def api(sock: str, method: str, url: str, body: object = None, timeout: float = 120.0) -> tuple[int, bytes]:
    conn = UnixHTTP(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, url, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Target:
    def __init__(self, name: str, host: str, pid: int, filler_net: str) -> None:
        self.name, self.host, self.pid, self.filler_net = name, host, pid, filler_net

    @property
    def sock(self) -> str:
        return self.host.removeprefix("unix://")

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DOCKER_HOST=self.host)
        return subprocess.run(["docker", *args], env=env, check=check, capture_output=True, text=True)

    def running(self) -> int:
        status, body = api(self.sock, "GET", f'/containers/json?filters={{"label":["{LABEL}"]}}')
        return len(json.loads(body)) if status == 200 else -1

    def start_one(self) -> None:
        hc = {"NetworkMode": self.filler_net, "AutoRemove": False}
        body = {"Image": "busybox", "Cmd": ["sleep", "100000"], "Labels": {LABEL: "1"}, "HostConfig": hc}
        status, out = api(self.sock, "POST", "/containers/create", body)
        if status != 201:
            raise RuntimeError(f"{self.name}: create {status} {out[:200]!r}")
        cid = json.loads(out)["Id"]
        status, out = api(self.sock, "POST", f"/containers/{cid}/start")
        if status != 204:
            raise RuntimeError(f"{self.name}: start {status} {out[:200]!r}")

    def fill_to(self, n: int) -> None:
        missing = n - self.running()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: self.start_one(), range(max(0, missing))))
        if self.running() != n:
            raise RuntimeError(f"{self.name}: {self.running()} running, wanted {n}")

    def remove_all(self) -> None:
        out = self.docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        for i in range(0, len(out), 50):
            self.docker("rm", "-f", *out[i : i + 50], check=False)


def timed(fn, n: int, before=None) -> float:  # type: ignore[no-untyped-def]
    """Median seconds of `fn()`, each run after an untimed `before()` when given."""
    samples = []
    for _ in range(n):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def task_cpu_ns(pid: int) -> int:
    """CPU time of all of a process's threads in ns (schedstat: exact, where utime is in ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total


def ps_cpu(tg: Target, n: int) -> tuple[float, float]:
    """Mean CPU seconds per `docker ps`: of the CLI (its process tree, from getrusage) and of the
    engine's process (0 without a pid). CPU time is what a loaded machine does not distort."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    e0 = task_cpu_ns(tg.pid) if tg.pid else 0
    for _ in range(n):
        tg.docker("ps")
    e1 = task_cpu_ns(tg.pid) if tg.pid else 0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return cli / n, (e1 - e0) / 1e9 / n


def recorded(sock: str, path: str) -> bytes:
    """One answer of the engine as raw HTTP/1.1, its body with a Content-Length (not chunked)."""
    conn = UnixHTTP(sock)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        head += [f"{k}: {v}" for k, v in resp.getheaders() if k.lower() not in ("content-length", "transfer-encoding")]
        return ("\r\n".join([*head, f"Content-Length: {len(body)}", "", ""])).encode() + body
    finally:
        conn.close()


class StaticSocket:
    """A Unix socket answering every request with a recorded answer: `/_ping` with the engine's,
    anything else with its list; HEAD without the body."""

    def __init__(self, path: str, ping: bytes, listing: bytes) -> None:
        self.path, self.ping, self.listing = path, ping, listing
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        # one connection at a time, in this thread: the CLI makes one, and a thread started per
        # connection put milliseconds of scheduling before the first answer on a loaded machine
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                method, target = head.split(b" ", 2)[:2]
                answer = self.ping if target.split(b"?")[0].endswith(b"/_ping") else self.listing
                if method == b"HEAD":
                    answer = answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
                conn.sendall(answer)

    def close(self) -> None:
        self.srv.close()
        Path(self.path).unlink(missing_ok=True)


def cli_floor(tg: Target, work: str, n: int) -> float:
    """Median seconds of `docker ps` against a static socket serving `tg`'s answers (API 1.50:
    the CLI's own)."""
    static = StaticSocket(
        f"{work}/static.sock", recorded(tg.sock, "/_ping"), recorded(tg.sock, "/v1.50/containers/json")
    )
    try:
        env = dict(os.environ, DOCKER_HOST=f"unix://{static.path}")
        return timed(lambda: subprocess.run(["docker", "ps"], env=env, check=True, capture_output=True), n)
    finally:
        static.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mib(names: tuple[str, ...], marker: str) -> float:
    """Total RSS of the processes named `names` whose command line holds `marker`."""
    total = 0.0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "comm").read_text().strip() not in names or marker not in (p / "cmdline").read_text():
                continue
            total += rss_mib(int(p.name))
        except OSError:
            continue
    return total


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def idle_cpu(pid: int, seconds: float) -> float:
    before, t = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_ticks(pid) - before) / CLK / (time.monotonic() - t)


class Shimd:
    def __init__(self, work: str, bridge: str, bip: str, pythonpath: str = "") -> None:
        self.work, self.bridge, self.bip, self.pythonpath = work, bridge, bip, pythonpath
        self.sock = f"{work}/s.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        Path(work, "daemon.json").write_text("{}")

    def start(self) -> float:
        """Start shimd; seconds until /_ping answers."""
        args = [str(ROOT / ".venv/bin/shimd"), "-H", f"unix://{self.sock}", "--data-root", f"{self.work}/data"]
        args += ["--exec-root", f"{self.work}/exec", "--pidfile", f"{self.work}/pid"]
        args += ["--config-file", f"{self.work}/daemon.json", "--bridge", self.bridge, "--bip", self.bip]
        t = time.perf_counter()
        with open(f"{self.work}/log", "ab") as log:
            env = dict(os.environ, PYTHONPATH=self.pythonpath) if self.pythonpath else None
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True, env=env)
        while True:
            try:
                if api(self.sock, "GET", "/_ping", timeout=5)[0] == 200:
                    return time.perf_counter() - t
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("shimd exited: " + Path(self.work, "log").read_text()[-2000:])
            if time.perf_counter() - t > 60:
                raise RuntimeError("shimd did not answer in 60 s")
            time.sleep(0.005)

    def stop(self) -> float:
        assert self.proc is not None
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return time.perf_counter() - t


def restart(shimd: Shimd, target: Target, n: int) -> tuple[float, float, float]:
    """(stop s, start to /_ping s, start to a complete list s)."""
    stop = shimd.stop()
    t = time.perf_counter()
    ping = shimd.start()
    target.pid = shimd.proc.pid if shimd.proc else 0
    while True:
        status, body = api(shimd.sock, "GET", "/containers/json")
        if status == 200 and sum(1 for c in json.loads(body) if c.get("State") == "running") >= n:
            return stop, ping, time.perf_counter() - t
        if time.perf_counter() - t > 60:
            raise RuntimeError("the list was not complete 60 s after the restart")
        time.sleep(0.005)


def sweep(work: str, bridge: str) -> None:
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and work in (p / "cmdline").read_text():
                os.kill(int(p.name), signal.SIGKILL)
        except OSError:
            continue
    mounts = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines() if f" {work}" in ln]
    for m in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", m], check=False, capture_output=True)
    code = "import sys; sys.path.insert(0, 'tests'); from shimd_harness import _sweep_network; "
    code += f"_sweep_network({work + '/exec'!r}, {bridge!r})"
    subprocess.run([str(ROOT / ".venv/bin/python"), "-c", code], cwd=ROOT, check=False, capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)
    subprocess.run(["rm", "-rf", work], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10,100,500")
    ap.add_argument("--samples", type=int, default=7, help="samples of ps and run per count")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    ap.add_argument("--reference", help="a dockerd's DOCKER_HOST to measure beside shimd")
    ap.add_argument("--bridge", default="shbscale0")
    ap.add_argument("--bip", default="172.30.80.1/21")
    ap.add_argument("--pythonpath", default="", help="dir of a `shim` package to run")
    ap.add_argument("--output")
    a = ap.parse_args()
    counts = [int(x) for x in a.counts.split(",")]
    work = tempfile.mkdtemp(prefix="shimscale-", dir="/tmp")
    shimd = Shimd(work, a.bridge, a.bip, a.pythonpath)
    rows: list[dict[str, object]] = []
    targets: list[Target] = []
    load = [os.getloadavg()[0]]
    try:
        shimd.start()
        assert shimd.proc is not None
        shim = Target("shimd", f"unix://{shimd.sock}", shimd.proc.pid, "bridge")
        shim.docker("load", "-q", "-i", str(ROOT / "fixtures/build/busybox.tar"))
        targets.append(shim)
        if a.reference:
            pid = int(Path("/run/ref-docker/dockerd.pid").read_text()) if "ref-docker" in a.reference else 0
            targets.append(Target("dockerd", a.reference, pid, "none"))
        for n in counts:
            for tg in targets:
                tg.fill_to(n)
            for tg in targets:
                tg.docker("run", "--rm", "busybox", "true")  # warm
                ps = timed(lambda tg=tg: tg.docker("ps"), a.samples)
                run = timed(lambda tg=tg: tg.docker("run", "--rm", "busybox", "true"), a.samples)
                after = timed(
                    lambda tg=tg: tg.docker("ps"), a.samples, lambda tg=tg: tg.docker("run", "--rm", "busybox", "true")
                )
                row: dict[str, object] = {"target": tg.name, "n": n, "ps_ms": 1000 * ps, "run_rm_ms": 1000 * run}
                row["ps_after_run_ms"] = 1000 * after
                time.sleep(2.0)  # the last removal's background work (trash, links) is not the list's
                cli_cpu, engine_cpu = ps_cpu(tg, 3 * a.samples)
                row["ps_cli_cpu_ms"], row["ps_engine_cpu_ms"] = 1000 * cli_cpu, 1000 * engine_cpu
                if tg is shim:
                    row["cli_floor_ms"] = 1000 * cli_floor(tg, work, a.samples)
                if tg.pid:
                    time.sleep(2.0)  # the removals' background work settles
                    row["idle_cpu_pct"] = idle_cpu(tg.pid, a.idle)
                    row["rss_mib"] = rss_mib(tg.pid)
                    row["fds"] = len(os.listdir(f"/proc/{tg.pid}/fd"))
                if tg is shim:
                    row["conmon_rss_mib"] = tree_rss_mib(("conmon",), work)
                    stop, ping, full = restart(shimd, shim, n)
                    row.update(stop_s=stop, restart_ping_s=ping, restart_list_s=full)
                row["load"] = os.getloadavg()[0]
                rows.append(row)
                print(json.dumps(row), flush=True)
        load.append(os.getloadavg()[0])
    finally:
        for tg in targets:
            try:
                tg.remove_all()
            except Exception as e:
                print(f"cleanup of {tg.name}: {e}", file=sys.stderr)
        if shimd.proc is not None and shimd.proc.poll() is None:
            shimd.stop()
        sweep(work, a.bridge)
    report = render(rows, load, " ".join(sys.argv[1:]))
    print(report)
    if a.output:
        Path(a.output).write_text(report)
    return 0


def render(rows: list[dict[str, object]], load: list[float], args: str) -> str:
    def f(v: object, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "–"

    out = [
        f"`scripts/bench_scale.py {args}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average {load[0]:.1f} at the start, {load[-1]:.1f} at the end",
        "",
        "| target | running | `docker ps` ms | `ps` CPU ms: CLI / engine | `ps` after a `run --rm` ms "
        "| `ps` on a static socket ms "
        "| `run --rm` ms | RSS MiB | fds "
        "| idle CPU % of a core "
        "| conmons' RSS MiB | stop s | restart: /_ping s | restart: full list s | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out.extend(
        f"| {r['target']} | {r['n']} | {f(r['ps_ms'], '.1f')} "
        f"| {f(r.get('ps_cli_cpu_ms'), '.1f')} / {f(r.get('ps_engine_cpu_ms'), '.2f')} "
        f"| {f(r.get('ps_after_run_ms'), '.1f')} "
        f"| {f(r.get('cli_floor_ms'), '.1f')} | {f(r['run_rm_ms'], '.1f')} "
        f"| {f(r.get('rss_mib'), '.1f')} | {f(r.get('fds'), 'd')} | {f(r.get('idle_cpu_pct'), '.2f')} "
        f"| {f(r.get('conmon_rss_mib'), '.0f')} | {f(r.get('stop_s'), '.2f')} "
        f"| {f(r.get('restart_ping_s'), '.2f')} | {f(r.get('restart_list_s'), '.2f')} | {f(r['load'], '.1f')} |"
        for r in rows
    )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
