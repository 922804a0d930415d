"""Client-side helpers for the compat suite: the docker CLI, docker-py and raw HTTP over the
engine's Unix socket. Engine-agnostic: only what a user of the Docker API can see."""

import base64
import http.client
import io
import json
import os
import re
import socket
import struct
import subprocess
import tarfile
import time
import urllib.parse

DOCKER = os.environ.get("COMPAT_DOCKER_CLI", "/usr/local/bin/docker")
V = "/v1.41"  # the API version dockerd 20.10 speaks; shim answers it too


def version_tuple(v):
    return tuple(int(x) for x in str(v).split("."))


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def message(self):
        """The error message whatever the shape (JSON above 1.23, plain text at or below)."""
        try:
            return json.loads(self.body)["message"]
        except Exception:
            return self.text.rstrip("\n")

    def __repr__(self):
        return f"<Resp {self.status} {self.headers.get('content-type')} {self.body[:300]!r}>"


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Hijacked:
    """A hijacked attach/exec connection: raw socket after the HTTP response headers."""

    def __init__(self, sock, status, headers, rest):
        self.sock, self.status, self.headers, self.buf = sock, status, headers, rest

    def send(self, data):
        self.sock.sendall(data)

    def close_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def read_all(self, timeout=20):
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def read_until(self, needle, timeout=20):
        """Read until the demultiplexed output contains needle (or timeout); returns raw bytes."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while needle not in b"".join(demux(data, lenient=True)) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def demux(data, lenient=False):
    """Split stdcopy frames: returns (stdout, stderr) bytes."""
    out, err = [], []
    i = 0
    while i + 8 <= len(data):
        kind, size = data[i], struct.unpack(">I", data[i + 4 : i + 8])[0]
        if kind not in (0, 1, 2, 3) or data[i + 1 : i + 4] != b"\0\0\0":
            raise ValueError(f"not a stdcopy frame at {i}: {data[i : i + 8]!r}")
        payload = data[i + 8 : i + 8 + size]
        if len(payload) < size and not lenient:
            raise ValueError("truncated frame")
        (err if kind == 2 else out).append(payload)
        i += 8 + size
    if i != len(data) and not lenient:
        raise ValueError(f"trailing bytes after frames: {data[i:]!r}")
    return b"".join(out), b"".join(err)


def make_tar(files):
    """files: {name: bytes | ("dir",) | ("symlink", target)} -> tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if isinstance(content, tuple) and content[0] == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif isinstance(content, tuple) and content[0] == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, content[1]
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(content), 0o644
                t.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def tar_names(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.getnames()


class Engine:
    def __init__(self, docker_host, prefix):
        self.docker_host = docker_host
        self.socket = docker_host[len("unix://") :]
        self.prefix = prefix
        self._scenario = 0
        self.scenario_prefix = f"{prefix}-s0"
        self._seq = 0
        self._client = None
        self.version_info = self.http("GET", "/version").json()
        self.api_version = self.version_info["ApiVersion"]
        self.min_api = self.version_info.get("MinAPIVersion", "1.12")
        self.server_version = self.version_info.get("Version", "")
        env = os.environ.get("COMPAT_ENGINE", "")
        if env in ("shim", "dockerd"):
            self.engine = env
        else:
            pname = (self.version_info.get("Platform") or {}).get("Name", "")
            self.engine = "shim" if "shim" in pname.lower() else "dockerd"
        # what the CLI 28.2 negotiates with this engine
        self.cli_api = min(self.api_version, "1.50", key=version_tuple)

    # ---- names -----------------------------------------------------------
    def begin_scenario(self):
        self._scenario += 1
        self.scenario_prefix = f"{self.prefix}-s{self._scenario}"

    def name(self, tag="x"):
        """A unique lower-case name owned by the running scenario (removed after it)."""
        self._seq += 1
        return f"{self.scenario_prefix}-{tag}{self._seq}"

    def shared_name(self, tag="x"):
        """A unique name for module-scoped objects (removed by their fixture or at session end)."""
        self._seq += 1
        return f"{self.prefix}-m-{tag}{self._seq}"

    # ---- clients ----------------------------------------------------------
    def cli(self, *args, input=None, check=False, timeout=30, env=None, binary=False):
        e = dict(os.environ, DOCKER_HOST=self.docker_host)
        e.pop("DOCKER_API_VERSION", None)
        e.pop("DOCKER_CONTEXT", None)
        if env:
            e.update(env)
        if binary:
            p = subprocess.run([DOCKER, *args], input=input, capture_output=True, env=e, timeout=timeout)
        else:
            p = subprocess.run([DOCKER, *args], input=input, capture_output=True, text=True, env=e, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def out(self, *args, **kw):
        """Run a docker command that must succeed; return its stdout stripped."""
        return self.cli(*args, check=True, **kw).stdout.strip()

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.docker_host, timeout=60)
        return self._client

    def http(self, method, path, body=None, headers=None, timeout=60, chunked=False):
        """Raw HTTP over the socket; path as sent (include /vX.Y when it matters)."""
        conn = UnixConn(self.socket, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            if chunked:
                conn.putrequest(method, path)
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                if body:
                    conn.send(b"%x\r\n%s\r\n" % (len(body), body))
                conn.send(b"0\r\n\r\n")
            else:
                conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def stream(self, method, path, body=None, headers=None, timeout=60):
        """Start a request and return (conn, response) with the body unread."""
        conn = UnixConn(self.socket, timeout=timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        return conn, conn.getresponse()

    def hijack(self, method, path, body=b"", headers=None, upgrade=True, timeout=30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.socket)
        hdrs = {"Host": "localhost", "Content-Length": str(len(body))}
        if body:
            hdrs["Content-Type"] = "application/json"
        if upgrade:
            hdrs.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        hdrs.update(headers or {})
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        s.sendall(req.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers_out = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers_out[k.strip().lower()] = v.strip()
        return Hijacked(s, status, headers_out, rest)

    # ---- convenience -------------------------------------------------------
    def inspect(self, name, kind="container"):
        p = self.cli(kind, "inspect", name)
        if p.returncode != 0:
            raise AssertionError(f"docker {kind} inspect {name}: {p.stderr}")
        return json.loads(p.stdout)[0]

    def run_d(self, *args, name=None):
        """docker run -d --name NAME ARGS...; returns the name."""
        name = name or self.name("c")
        self.out("run", "-d", "--name", name, *args)
        return name

    def wait_for(self, predicate, timeout=20, interval=0.1, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

    def state(self, name):
        r = self.http("GET", f"{V}/containers/{name}/json")
        return r.json()["State"] if r.status == 200 else None

    # ---- cleanup ------------------------------------------------------------
    def sweep_registry_leftovers(self):
        """References to the registry area's repositories left by an interrupted earlier run
        (digest references on a shared image, images only such references named): removed, so
        that areas checking the engine's busybox or image list see the engine as loaded."""
        ours = re.compile(r"^127\.0\.0\.1:\d+/cmp[a-z0-9]{6}-")
        try:
            r = self.http("GET", f"{V}/images/json?all=1&digests=1", timeout=30)
            if r.status != 200:
                return
            for img in r.json():
                names = (img.get("RepoTags") or []) + (img.get("RepoDigests") or [])
                stale = [n for n in names if ours.match(n)]
                for n in stale:
                    self.http("DELETE", f"{V}/images/{urllib.parse.quote(n, safe='')}?force=1")
                if stale and len(stale) == len([n for n in names if n != "<none>:<none>" and n != "<none>@<none>"]):
                    self.http("DELETE", f"{V}/images/{img['Id']}?force=1")
        except (OSError, http.client.HTTPException, ValueError):
            pass

    def cleanup(self, prefix):
        """Force-remove every container, image tag, volume and network named with prefix."""
        flt = urllib.parse.quote(json.dumps({"name": [prefix]}))
        try:
            r = self.http("GET", f"{V}/containers/json?all=1&filters={flt}", timeout=30)
            if r.status == 200:
                for c in r.json():
                    if any(n.lstrip("/").startswith(prefix + "-") for n in c.get("Names") or []):
                        self.http("DELETE", f"{V}/containers/{c['Id']}?force=1&v=1", timeout=60)
            r = self.http("GET", f"{V}/images/json?all=1", timeout=30)
            if r.status == 200:
                for img in r.json():
                    labels = img.get("Labels") or {}
                    ours = [t for t in img.get("RepoTags") or [] if prefix + "-" in t]
                    for t in ours:
                        self.http("DELETE", f"{V}/images/{urllib.parse.quote(t, safe='')}?force=1")
                    if (labels.get("cmp.run", "") + "-").startswith(prefix + "-"):
                        self.http("DELETE", f"{V}/images/{img['Id']}?force=1")
            r = self.http("GET", f"{V}/networks?filters={flt}", timeout=30)
            if r.status == 200:
                for n in r.json():
                    if n.get("Name", "").startswith(prefix + "-"):
                        self.http("DELETE", f"{V}/networks/{n['Id']}")
            r = self.http("GET", f"{V}/volumes?filters={flt}", timeout=30)
            if r.status == 200:
                for v in r.json().get("Volumes") or []:
                    if v.get("Name", "").startswith(prefix + "-"):
                        self.http("DELETE", f"{V}/volumes/{v['Name']}?force=1")
        except (OSError, http.client.HTTPException, ValueError):
            pass

    def reset_client(self):
        """Drop docker-py's pooled connections (after the engine restarted)."""
        self.close()
        self._client = None

    def close(self):
        if self._client is not None:
            self._client.close()


def stat_header(resp_headers):
    raw = resp_headers.get("x-docker-container-path-stat")
    return json.loads(base64.b64decode(raw)) if raw else None


RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


def run_in_pty(argv, script, env, timeout=30, rows=25, cols=90):
    """Run argv on a pseudo-terminal, type script (bytes) once it prints something (or after 1.5 s),
    and return (exit code, everything it printed)."""
    import fcntl
    import pty
    import select
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # child: the docker CLI on the pty
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    start = time.monotonic()
    sent = False
    status = None
    while time.monotonic() - start < timeout:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            out += chunk
            if not chunk:
                break
        if not sent and (out or time.monotonic() - start > 1.5):
            time.sleep(0.3)  # let the shell print its prompt
            os.write(fd, script)
            sent = True
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid:
            status = st
            break
    if status is None:
        if time.monotonic() - start >= timeout:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out


# `sh -c LISTEN_ONCE sh PORT` in a busybox container: one connection on PORT answered with "bound"
# (nc -e runs echo on the socket), read by a client in the same container. A server that can't bind
# ends at once: "server exited N", exit 3, nc's message on stderr, so a failure can't be mistaken
# for a client's. Shared by compat/test_security.py and tests/integration/test_spec_defaults.py.
LISTEN_ONCE = r"""
port=$1
nc -l -p "$port" -e echo bound &
srv=$!
i=0
until netstat -ltn | grep -q ":$port "; do
  if ! kill -0 $srv 2>/dev/null; then wait $srv; echo "server exited $?"; exit 3; fi
  i=$((i+1)); [ $i -lt 400 ] || { echo "not listening"; exit 4; }
  sleep 0.05
done
echo "client got: $(nc 127.0.0.1 "$port" </dev/null)"
wait $srv
echo "server exited $?"
"""
