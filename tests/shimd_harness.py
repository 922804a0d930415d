"""A real shimd on a private socket, data root and exec root, for integration tests.

Shared by tests/integration and compat's own harness-free runs: it knows how to start,
restart (gracefully or with SIGKILL) and tear down a daemon, and how to sweep anything a
failed test left behind (containers through the API, then stray monitors and mounts
under the private roots) so no test leaks into the machine.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIMD = ROOT / ".venv" / "bin" / "shimd"
DOCKER = "/usr/local/bin/docker"
FIXTURE = ROOT / "fixtures" / "build" / "busybox.tar"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Shimd:
    def __init__(self, base: str | None = None, *, direct: bool = False) -> None:
        """`direct`: clients talk to the daemon's own socket even with the response check on (the
        fault tests SIGKILL the daemon mid-request: a proxy stopped first would cut them instead)."""
        self.base = Path(base or tempfile.mkdtemp(prefix="shimtest-", dir="/tmp"))
        self.socket = str(self.base / "docker.sock")
        self.data_root = str(self.base / "data")
        self.exec_root = str(self.base / "exec")
        self.pidfile = str(self.base / "shimd.pid")
        self.log_path = self.base / "shimd.log"
        # Clients reach the daemon through compat/apicheck/proxy.py when the response check is on
        # (APICHECK_RECORD_DIR, set by the pytest plugin): every answer is then checked against
        # Docker's API description. `socket` stays the daemon's own.
        self.record_dir = "" if direct else os.environ.get("APICHECK_RECORD_DIR", "")
        self.api_socket = str(self.base / "api.sock") if self.record_dir else self.socket
        self.docker_host = f"unix://{self.api_socket}"
        self._proxy: subprocess.Popen | None = None
        # Our own default bridge and subnet: daemons of concurrent test runs never share one.
        self.bridge = "sht" + os.urandom(4).hex()
        self.bip = _free_bip()
        self.proc: subprocess.Popen | None = None
        self._client = None

    # --- lifecycle -------------------------------------------------------
    # Registry traffic for anything but loopback goes to this dead proxy (nothing listens on the
    # discard port): a test that pulls a Hub name by mistake fails at once, and never reaches out.
    # (Loopback registries are never proxied, by Go's and shim's rules; nor are our test bridges.)
    HERMETIC_PROXY = "http://127.0.0.1:9"

    def start(
        self,
        extra_args: list[str] | None = None,
        *,
        listen: list[str] | None = None,
        wrap: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`listen` replaces `-H unix://<socket>` (the socket must still come up, e.g. via fd://);
        `wrap` goes before shimd (e.g. systemd-socket-activate); `env` adds to shimd's environment."""
        config = self.base / "daemon.json"
        if not config.exists():  # private and empty: never pick up the machine's /etc/shim/daemon.json
            config.write_text("{}")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                *(wrap or []),
                str(SHIMD),
                *(listen if listen is not None else ["-H", f"unix://{self.socket}"]),
                "--data-root",
                self.data_root,
                "--exec-root",
                self.exec_root,
                "--pidfile",
                self.pidfile,
                "--config-file",
                str(self.base / "daemon.json"),
                "--log-level",
                "debug",
                *_network_args(self, extra_args or []),
                *(extra_args or []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self._daemon_env(env),
        )
        log.close()
        self._env = env
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shimd exited with {self.proc.returncode}:\n{self.log_path.read_text()[-4000:]}")
            try:
                status, _, _ = self.http("GET", "/_ping", timeout=2, via=self.socket)
                if status == 200:
                    self._start_proxy()
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("shimd did not answer /_ping within 30 s")

    def _start_proxy(self) -> None:
        if not self.record_dir or (self._proxy is not None and self._proxy.poll() is None):
            return
        record = Path(self.record_dir) / f"shimd-{self.base.name}.jsonl"
        self._proxy = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "compat.apicheck.proxy",
                "--listen",
                self.api_socket,
                "--upstream",
                self.socket,
                "--record",
                str(record),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / "apicheck-proxy.log", "ab"),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Ready when it accepts a connection: its socket file exists from bind() on, but a connect
        # before its listen() is refused (a loaded machine can hold the proxy between the two).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _accepts(self.api_socket):
                return
            if self._proxy.poll() is not None:
                break
            time.sleep(0.02)
        log = (self.base / "apicheck-proxy.log").read_text()[-2000:]
        raise RuntimeError(f"the apicheck proxy did not start: {log}")

    def _stop_proxy(self) -> None:
        if self._proxy is not None and self._proxy.poll() is None:
            self._proxy.terminate()
            try:
                self._proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proxy.kill()
                self._proxy.wait()
        self._proxy = None

    def stop(self, kill: bool = False) -> None:
        self._stop_proxy()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._client = None

    def _daemon_env(self, env: dict[str, str] | None) -> dict[str, str]:
        # PYTHONDONTWRITEBYTECODE dropped: the daemon runs as an installed one, its bytecode cached
        # (this environment may forbid writing it, which makes every start compile shim again)
        drop = ("http_proxy", "https_proxy", "no_proxy", "pythondontwritebytecode")
        out = {k: v for k, v in os.environ.items() if k.lower() not in drop}
        # the test bridges (10.213.0.0/16, ours) are reached directly: registries may listen there
        out.update(HTTP_PROXY=self.HERMETIC_PROXY, HTTPS_PROXY=self.HERMETIC_PROXY, NO_PROXY="10.213.0.0/16")
        out.update(env or {})
        return out

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start(env=getattr(self, "_env", None))

    def load_busybox(self) -> None:
        if not FIXTURE.exists():
            raise RuntimeError(f"{FIXTURE} is missing: run `make fixtures`")
        self.cli("load", "-q", "-i", str(FIXTURE))

    # --- clients ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_HOST"] = self.docker_host
        env["DOCKER_CONFIG"] = str(self.base / "docker-config")
        return env

    def cli(
        self, *args: str, input: str | bytes | None = None, check: bool = True, timeout: float = 120, text: bool = True
    ) -> subprocess.CompletedProcess:
        res = subprocess.run(
            [DOCKER, *args], input=input, capture_output=True, text=text, env=self.env(), timeout=timeout
        )
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
        return res

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.docker_host, timeout=120)
        return self._client

    def http(
        self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 60, via: str = ""
    ) -> tuple[int, dict, bytes]:
        conn = UnixHTTPConnection(via or self.api_socket, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    # --- cleanup ---------------------------------------------------------
    def remove_all_containers(self) -> None:
        try:
            status, _, body = self.http("GET", "/containers/json?all=1", timeout=10)
        except OSError:
            return
        if status != 200:
            return
        for c in json.loads(body):
            try:
                self.http("DELETE", f"/containers/{c['Id']}?force=1&v=1", timeout=30)
            except OSError:
                pass

    def sweep(self) -> None:
        """Last resort after the daemon stopped: stray processes and mounts under our roots."""
        base = str(self.base)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if base in cmd and int(pid_dir.name) != os.getpid():
                try:
                    os.kill(int(pid_dir.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        runc_root = Path(self.exec_root) / "runc"
        if runc_root.exists():
            for c in runc_root.iterdir():
                subprocess.run(["runc", "--root", str(runc_root), "delete", "-f", c.name], capture_output=True)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(base)), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        _sweep_network(self.exec_root, self.bridge)

    def leftovers(self) -> list[str]:
        """What a daemon whose containers are all removed should not hold any more.

        Checked after a graceful stop, before the sweep: mounts under our roots, container
        monitors or processes naming them, veths on our bridge, pinned network namespaces.
        """
        base = str(self.base)
        found = []
        with open("/proc/self/mountinfo") as f:
            found += [f"mount {line.split()[4]}" for line in f if line.split()[4].startswith(base)]
        for pid_dir in Path("/proc").iterdir():
            if pid_dir.name.isdigit() and int(pid_dir.name) != os.getpid():
                try:
                    cmd = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if base in cmd:
                    found.append(f"process {pid_dir.name}: {cmd[:120]}")
        links = subprocess.run(
            ["ip", "-o", "link", "show", "master", self.bridge], capture_output=True, text=True
        ).stdout
        found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if line.strip()]
        netns = Path(self.exec_root) / "netns"
        if netns.exists():
            found += [f"netns {p}" for p in netns.iterdir()]
        return found

    def destroy(self) -> list[str]:
        """Remove every container, stop the daemon, sweep; returns what was left before the sweep."""
        left: list[str] = []
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.remove_all_containers()
                self.stop()
                left = self.leftovers()
            self.stop()
        finally:
            self.sweep()
            shutil.rmtree(self.base, ignore_errors=True)
        return left


def _accepts(path: str) -> bool:
    """Whether a Unix socket at `path` is listening (a connect succeeds)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def _free_bip() -> str:
    """10.213.N.1/24 with N (0-99) not routed on the host yet (tests own 10.213.0.0/16)."""
    import random

    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    candidates = list(range(100))
    random.shuffle(candidates)
    for n in candidates:
        if f"10.213.{n}." not in routes:
            return f"10.213.{n}.1/24"
    return f"10.213.{candidates[0]}.1/24"


def _network_args(d: Shimd, extra: list[str]) -> list[str]:
    if any(a in ("-b", "--bridge") or a.startswith("--bridge=") for a in extra):
        return []
    return ["--bridge", d.bridge, "--bip", d.bip]


def _sweep_network(exec_root: str, bridge: str) -> None:
    """A daemon that died without cleaning up: remove its links and iptables chains."""
    import asyncio
    import threading

    try:
        from shim.runtime.iptables import Firewall
        from shim.runtime.netlink import Netlink
    except ImportError:
        return

    async def sweep() -> None:
        nl = Netlink(exec_root, bridge)
        try:
            for name, _, _ in await nl.our_links():
                await nl.delete_link(name)
        finally:
            nl.close()
        await Firewall(bridge).remove_all()

    t = threading.Thread(target=lambda: asyncio.run(sweep()))
    t.start()
    t.join()
