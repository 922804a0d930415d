"""docker-compose v1 (1.29.2) and docker compose v2 (2.40.3, with DOCKER_BUILDKIT=0) build a
service with `build:` against a real shimd, and `up` runs it.

The clients come from scripts/install-clients.sh: installed once per machine from PyPI into a
cache every checkout shares (~/.cache/shim-clients), then used offline; `make install` runs it,
and so does this module when the cache is missing. A client that cannot be installed fails the
module: it is not skipped.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DOCKERFILE = """\
FROM busybox
ARG GREETING=unset
COPY msg.txt /msg.txt
RUN echo "run saw $GREETING" >> /msg.txt
CMD ["sh", "-c", "cat /msg.txt; exec sleep 300"]
"""

COMPOSE_FILE = """\
services:
  app:
    build:
      context: .
      args:
        GREETING: hello-arg
    labels:
      shim.test: compose-build
"""


@pytest.fixture(scope="module")
def clients() -> dict[str, Path]:
    r = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-clients.sh")], capture_output=True, text=True, timeout=900
    )
    if r.returncode != 0:
        pytest.fail(f"scripts/install-clients.sh failed ({r.returncode}):\n{r.stderr[-3000:]}")
    cache = Path(r.stdout.strip().splitlines()[-1])
    return {
        "v1": cache / "compose-v1-1.29.2" / "bin" / "docker-compose",
        "v2": cache / "compose-v2.40.3" / "docker-compose",
    }


@pytest.fixture
def project(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "msg.txt").write_text("from-context\n")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    return tmp_path


# (client, extra environment, the built image's name: v1 joins with `_`, v2 with `-`)
CASES = {
    "v1-cli-build": ("v1", {}, "{p}_app"),  # compose v1 shells out to `docker build` by default
    "v1-docker-py-build": ("v1", {"COMPOSE_DOCKER_CLI_BUILD": "0"}, "{p}_app"),  # POST /build from docker-py
    "v2-classic": ("v2", {"DOCKER_BUILDKIT": "0"}, "{p}-app"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_compose_builds_a_service_and_up_runs_it(shimd, clients, project, case):
    which, extra, image_fmt = CASES[case]
    name = "cb" + uuid.uuid4().hex[:8]
    image = image_fmt.format(p=name)
    env = dict(shimd.env(), COMPOSE_PROJECT_NAME=name, **extra)
    before = set(shimd.cli("ps", "-aq").stdout.split())

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [str(clients[which]), *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, f"compose {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r

    try:
        up = compose("up", "-d", "--build")
        built = up.stdout + up.stderr
        assert "Step 3/" in built and "RUN echo" in built and f"Successfully tagged {image}:latest" in built
        cid = _one(shimd, name)
        state = json.loads(shimd.cli("inspect", cid).stdout)[0]
        assert state["State"]["Running"] and state["Config"]["Image"].startswith(image)
        assert state["Config"]["Labels"]["shim.test"] == "compose-build"
        logs = shimd.cli("logs", cid).stdout
        assert logs.splitlines()[:2] == ["from-context", "run saw hello-arg"]
        assert set(shimd.cli("ps", "-aq").stdout.split()) - before == {cid}  # no build container left

        (project / "msg.txt").write_text("changed\n")  # a changed source: rebuilt, the RUN step too
        again = compose("up", "-d", "--build")
        assert "changed" in shimd.cli("logs", _one(shimd, name)).stdout
        assert "Recreat" in again.stdout + again.stderr
    finally:
        r = subprocess.run(
            [str(clients[which]), "down", "-t", "1", "--rmi", "local"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert r.returncode == 0, r.stderr
    assert set(shimd.cli("ps", "-aq").stdout.split()) == before
    assert shimd.cli("image", "inspect", image, check=False).returncode != 0  # --rmi local removed it


def _one(shimd, project: str) -> str:
    ids = shimd.cli("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
    assert len(ids) == 1, ids
    return ids[0]
