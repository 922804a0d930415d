"""docker build against a real shimd: stopping a build (POST /build/cancel, a client that goes away),
ADD of a URL, a large context, and the query parameters that shape RUN (network, hosts, shm,
resources, platform). What is asserted is what a user (or the machine afterwards) sees."""

from __future__ import annotations

import http.server
import io
import json
import os
import random
import socket
import tarfile
import threading
from pathlib import Path

import pytest

from tests.shimd_harness import UnixHTTPConnection
from tests.waiting import wait_for


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            raw = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(raw)
            tar.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def _lines(raw: bytes) -> list[dict]:
    return [json.loads(x) for x in raw.decode().splitlines() if x.strip()]


def _build(shimd, dockerfile: str, *args: str, check: bool = True):
    return shimd.cli("build", "--no-cache", *args, "-", input=dockerfile, check=check, timeout=300)


def _images(shimd) -> set[str]:
    return set(shimd.cli("images", "-aq", "--no-trunc").stdout.split())


def _containers(shimd) -> set[str]:
    return set(shimd.cli("ps", "-aq", "--no-trunc").stdout.split())


def _processes_with(token: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if token in cmd:
                found.append(f"{pid}: {cmd[:100]}")
    return found


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


class _Build:
    """A raw POST /build whose stream is read line by line (to act in the middle of it)."""

    def __init__(self, shimd, query: str, body: bytes) -> None:
        self.conn = UnixHTTPConnection(shimd.socket, timeout=120)
        self.conn.request("POST", f"/build?{query}", body=body, headers={"Content-Type": "application/x-tar"})
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        self.seen: list[dict] = []

    def until(self, needle: str) -> str:
        """Read messages until a stream text contains `needle`; returns the text read so far."""
        while True:
            line = self.resp.readline()
            assert line, f"the stream ended before {needle!r}: {self.seen}"
            if line.strip():
                self.seen.append(json.loads(line))
            text = "".join(m.get("stream", "") for m in self.seen)
            if needle in text:
                return text

    def rest(self) -> list[dict]:
        self.seen += _lines(self.resp.read())
        self.conn.close()
        return self.seen

    def close(self) -> None:
        # a client that goes away: the socket is shut and closed without reading further
        sock = self.conn.sock
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


def _running_build(shimd, query: str) -> tuple[_Build, str, str]:
    """A build whose only step is a long RUN; (build, intermediate container's short ID, its token)."""
    token = str(random.randint(100000, 999999))
    body = _tar({"Dockerfile": f"FROM busybox\nRUN echo started-$((1 + 1)) && sleep {token}\n"})
    b = _Build(shimd, query, body)
    text = b.until("started-2")
    short = text.split(" ---> Running in ", 1)[1][:12]
    return b, short, f"sleep {token}"


def _nothing_left(shimd, short: str, token: str, images_before: set[str], containers_before: set[str]) -> None:
    wait_for(lambda: _containers(shimd) == containers_before, "the intermediate container's removal", interval=0.2)
    wait_for(lambda: not _processes_with(token), f"no process left running {token!r}", interval=0.2)
    wait_for(lambda: not os.listdir(Path(shimd.data_root) / "builder"), "the build's workspace to go", interval=0.2)
    assert not _processes_with(short), "a monitor of the intermediate container is left"
    assert not [m for m in _mounts_under(shimd.base.as_posix()) if short in m or "/builder/" in m]
    assert _images(shimd) == images_before  # the RUN step committed nothing


def test_build_cancel_stops_the_build_and_leaves_nothing(shimd):
    images, containers = _images(shimd), _containers(shimd)
    build_id = "b2-" + str(random.randint(0, 1 << 30))
    b, short, token = _running_build(shimd, f"buildid={build_id}&rm=1")
    assert _containers(shimd) - containers  # the RUN container exists while the step runs
    status, _, _ = shimd.http("POST", f"/build/cancel?id={build_id}")
    assert status == 200
    rest = b.rest()
    assert rest[-1]["error"] == "Build cancelled"
    assert not any("aux" in m for m in rest) and "Successfully built" not in json.dumps(rest)
    _nothing_left(shimd, short, token, images, containers)
    # as dockerd: an unknown ID is no error, a missing one is
    assert shimd.http("POST", "/build/cancel?id=no-such-build")[0] == 200
    status, _, raw = shimd.http("POST", "/build/cancel")
    assert (status, json.loads(raw)["message"]) == (500, "build ID not provided")


def test_client_that_disconnects_mid_run_stops_the_build(shimd):
    """The RUN is silent (sleep): the daemon must notice the client left without a write failing."""
    images, containers = _images(shimd), _containers(shimd)
    b, short, token = _running_build(shimd, "rm=1")
    assert _processes_with(token)
    b.close()
    _nothing_left(shimd, short, token, images, containers)


@pytest.fixture
def http_server(tmp_path):
    """A file server on 127.0.0.1 (ADD fetches in the daemon, on the host's network)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "file.txt").write_text("hello-url\n")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", root
    finally:
        srv.shutdown()
        srv.server_close()


def test_add_url_fetches_and_unreachable_is_a_clear_error(shimd, http_server):
    base, root = http_server
    mtime = 1_600_000_000
    os.utime(root / "file.txt", (mtime, mtime))
    out = _build(
        shimd,
        f"FROM busybox\nADD {base}/file.txt /dir/\nADD {base}/file.txt /named\n"
        "RUN cat /dir/file.txt && stat -c '%a %u %Y' /dir/file.txt /named\n",
    ).stdout
    # dockerd's downloadSource: 0600, root-owned, mtime from Last-Modified
    assert f"hello-url\n600 0 {mtime}\n600 0 {mtime}\n" in out
    # the content's checksum is the cache key: unchanged, a cache hit; changed, a new layer
    df = f"FROM busybox\nADD {base}/file.txt /f\nRUN cat /f\n"
    shimd.cli("build", "-", input=df, timeout=300)
    assert "Using cache" in shimd.cli("build", "-", input=df, timeout=300).stdout.split("Step 2/3")[1]
    (root / "file.txt").write_text("changed\n")
    again = shimd.cli("build", "-", input=df, timeout=300).stdout
    assert "changed" in again and "Using cache" not in again.split("Step 2/3")[1]

    missing = _build(shimd, f"FROM busybox\nADD {base}/missing.txt /x\n", check=False)
    assert missing.returncode == 1
    assert f"ADD failed: failed to GET {base}/missing.txt with status 404" in missing.stderr
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = _build(shimd, f"FROM busybox\nADD http://127.0.0.1:{port}/x.txt /x\n", check=False)
    assert refused.returncode == 1
    assert (
        f'ADD failed: Get "http://127.0.0.1:{port}/x.txt": dial tcp 127.0.0.1:{port}: connect: connection refused'
        in refused.stderr
    )


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def test_large_context_is_streamed_not_held_in_memory(shimd, tmp_path):
    """300 MiB of context (a sparse file) through the CLI: shimd's peak RSS grows by far less."""
    size = 300 << 20
    with open(tmp_path / "big.bin", "wb") as f:
        f.truncate(size)
    (tmp_path / "small.txt").write_text("small\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY small.txt /small.txt\nRUN wc -c /small.txt\n")
    pid = shimd.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS
    before = _rss_kib(pid, "VmRSS")
    out = shimd.cli("build", "-q", str(tmp_path), timeout=600).stdout.strip()
    assert out.startswith("sha256:")
    peak = _rss_kib(pid, "VmHWM")
    grown_mib = (peak - before) / 1024
    print(f"shimd RSS {before / 1024:.0f} MiB, peak during the 300 MiB build {peak / 1024:.0f} MiB (+{grown_mib:.0f})")
    assert grown_mib < 64, f"shimd's peak RSS grew by {grown_mib:.0f} MiB for a 300 MiB context"
    wait_for(
        lambda: not os.listdir(Path(shimd.data_root) / "builder"),
        "the removal of the spool and the unpacked context",
        interval=0.2,
    )


NET_DEV = "RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '; echo\n"


def test_network_mode_none_and_host_in_run(shimd):
    none = _build(shimd, "FROM busybox\n" + NET_DEV, "--network", "none").stdout
    assert "\nlo \n" in none
    host = _build(shimd, "FROM busybox\n" + NET_DEV, "--network", "host").stdout
    assert shimd.bridge in host  # the host's interfaces, the daemon's own bridge among them
    default = _build(shimd, "FROM busybox\n" + NET_DEV).stdout
    assert "\neth0 lo \n" in default
    bogus = _build(shimd, "FROM busybox\nRUN true\n", "--network", "nosuchnet-b2", check=False)
    assert bogus.returncode != 0 and "network nosuchnet-b2 not found" in bogus.stderr


def test_extra_hosts_shm_size_and_resources_in_run(shimd):
    out = _build(
        shimd,
        "FROM busybox\nRUN grep myhost /etc/hosts; df -k /dev/shm | tail -1; cd /sys/fs/cgroup; "
        "cat memory/memory.limit_in_bytes cpu/cpu.shares cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us "
        "cpuset/cpuset.cpus\n",
        *("--add-host", "myhost:10.1.2.3", "--shm-size", "64m", "--memory", "64m", "--cpu-shares", "512"),
        *("--cpu-quota", "50000", "--cpu-period", "100000", "--cpuset-cpus", "0"),
    ).stdout
    lines = [x.split() for x in out.splitlines()]
    assert ["10.1.2.3", "myhost"] in lines
    assert ["shm", "65536", "0", "65536", "0%", "/dev/shm"] in lines
    text = out.split("/dev/shm\n", 1)[1]
    assert text.split()[:5] == ["67108864", "512", "50000", "100000", "0"]


def test_platform(shimd):
    df = "FROM busybox\nRUN uname -m\n"
    assert "x86_64" in _build(shimd, df, "--platform", "linux/amd64").stdout
    assert "x86_64" in _build(shimd, df, "--platform", "linux").stdout
    other = _build(shimd, df, "--platform", "linux/arm64", check=False)
    assert other.returncode == 1
    assert "Step 1/2 : FROM busybox" in other.stdout
    msg = "image with reference busybox was found but its platform (linux/amd64) does not match the specified platform"
    assert f"{msg} (linux/arm64)" in other.stderr
    in_file = _build(shimd, "FROM --platform=linux/arm64/v8 busybox\nRUN true\n", check=False)
    assert f"{msg} (linux/arm64/v8)" in in_file.stderr
    bad = _build(shimd, df, "--platform", "lin ux/a", check=False)
    assert '"lin ux" is an invalid component of "lin ux/a"' in bad.stderr
    windows = _build(shimd, df, "--platform", "windows/amd64", check=False)
    assert windows.returncode == 1 and "operating system is not supported" in windows.stderr
    # FROM scratch takes the asked architecture (nothing runs)
    built = shimd.cli("build", "-q", "--platform", "linux/arm64", "-", input="FROM scratch\nLABEL a=b\n").stdout.strip()
    assert shimd.cli("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", built).stdout.strip() == "linux/arm64"
    shimd.cli("rmi", built)


def test_from_pulls_the_platform_asked_for(shimd, unique):
    """FROM of an image not in the store goes through the registry pull with the build's platform;
    a local image of another platform is replaced by a pull of the one asked for."""
    from tests.registry_harness import Registry

    reg = Registry("plain").start()
    made: list[str] = []
    try:
        name = unique("multi")
        reg.seed(f"{name}-src:1")
        reg.seed_multiarch(f"{name}:1", f"{name}-src:1")
        ref = f"{reg.addr}/{name}:1"
        made.append(ref)

        def platform_of(image: str) -> str:
            return shimd.cli("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", image).stdout.strip()

        arm = shimd.cli("build", "-q", "--platform", "linux/arm64", "-", input=f"FROM {ref}\nLABEL a=b\n")
        made.append(arm.stdout.strip())
        assert platform_of(ref) == "linux/arm64"  # the arm64 manifest of the index was pulled
        assert platform_of(arm.stdout.strip()) == "linux/arm64"
        amd = shimd.cli("build", "-q", "-", input=f"FROM --platform=linux/amd64 {ref}\nRUN echo amd > /p\n")
        made.append(amd.stdout.strip())
        assert platform_of(ref) == "linux/amd64"  # asked for amd64: pulled again, the tag moved
        assert platform_of(amd.stdout.strip()) == "linux/amd64"
    finally:
        for image in reversed(made):
            shimd.cli("rmi", "-f", image, check=False)
        reg.stop()
