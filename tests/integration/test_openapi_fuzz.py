"""An OpenAPI-driven fuzz run (issue 16): schemathesis generates requests from the API description
shimd serves (GET /shim/openapi.yaml, Docker's Swagger 2.0 of API 1.56) and every answer must be
below 500.

It runs against a daemon of its own (its own bridge, data root and sockets; a TCP listener on
127.0.0.1 for schemathesis' HTTP client), with a bounded, seeded number of examples per operation
(`FUZZ_EXAMPLES`, default 8, both schema-valid and schema-invalid data) so that it fits in
`make test`. Operations that would reach outside the daemon are left out: starting containers
(a generated HostConfig could bind any host path), creating networks and connecting to them (a
generated subnet could shadow the host's routes), builds, registry traffic (an unreachable registry is
dockerd's 500, not the client's fault), and the daemon-wide
prunes that would remove the objects the run uses. What they accept is covered by the hostile
catalogue (test_hostile_input.py), which refuses such input without running it.
"""

from __future__ import annotations

import collections
import json
import os
import socket

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from tests.shimd_harness import Shimd

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))


@schemathesis.serializer("application/x-tar", "application/tar", "text/plain")
def _raw_body(_ctx, value) -> bytes:
    """Tar streams and plain text (archive PUT, image load, build contexts): the generated value as bytes."""
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else json.dumps(value, default=str)).encode()


SKIP = {
    ("POST", "/containers/{id}/start"),
    ("POST", "/containers/{id}/restart"),
    ("POST", "/containers/{id}/unpause"),
    ("POST", "/containers/{id}/attach"),
    ("GET", "/containers/{id}/attach/ws"),
    ("POST", "/exec/{id}/start"),
    ("POST", "/networks/create"),
    ("POST", "/networks/{id}/connect"),
    ("POST", "/build"),
    ("POST", "/build/prune"),
    ("POST", "/images/create"),
    ("POST", "/images/{name}/push"),
    ("GET", "/distribution/{name}/json"),  # asks a registry: unreachable here, dockerd's 500 then
    ("GET", "/images/search"),
    ("POST", "/auth"),
    ("POST", "/session"),
    ("POST", "/grpc"),
    ("POST", "/containers/prune"),
    ("POST", "/images/prune"),
    ("POST", "/volumes/prune"),
    ("POST", "/networks/prune"),
    ("GET", "/events"),  # streams until `until`: its filters are in the catalogue
    ("GET", "/containers/{id}/stats"),  # streams by default
    ("GET", "/containers/{id}/logs"),  # follow=true streams
}


# dockerd's own answers for what a daemon without the feature serves: 501 for managed plugins
# (shimd has no plugin runtime), 503 for swarm endpoints ("This node is not part of a swarm").
DELIBERATE = (501, 503)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fuzz_daemon():
    d = Shimd()
    port = _free_port()
    try:
        d.start(["--tls=false"], listen=["-H", f"unix://{d.socket}", "-H", f"tcp://127.0.0.1:{port}"])
        d.load_busybox()
        status, _, out = d.http("POST", "/containers/create?name=fuzz-target", {"Image": "busybox", "Cmd": ["true"]})
        assert status == 201, out
        d.fuzz_url = f"http://127.0.0.1:{port}"
        yield d
    finally:
        left = d.destroy()
    assert not left, "the fuzzed shimd left behind:\n" + "\n".join(left)


@pytest.fixture(scope="module")
def operations(fuzz_daemon):
    status, _, text = fuzz_daemon.http("GET", "/shim/openapi.yaml", via=fuzz_daemon.socket)
    assert status == 200
    schema = schemathesis.openapi.from_dict(yaml.safe_load(text))
    ops = []
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) not in SKIP:
            ops.append(op)
    return ops


STATS: collections.Counter[str] = collections.Counter()


def test_generated_requests_never_get_a_5xx(fuzz_daemon, operations):
    """Every operation shimd serves, schema-valid and schema-invalid data; the 5xx answers are
    collected (with the request that caused them) and reported together. 501 (plugins) and 503
    (swarm) are dockerd's deliberate answers of a daemon without those features, not faults."""
    session = requests.Session()
    failures: list[str] = []

    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            path_params = {"id": "fuzz-target"} if "{id}" in op.path and op.path.startswith("/containers") else None

            @seed(1616)
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy(mode, path_parameters=path_params))
            def run(case) -> None:
                try:
                    resp = case.call(base_url=fuzz_daemon.fuzz_url + "/v1.56", session=session, timeout=30)
                except requests.exceptions.ReadTimeout:
                    failures.append(f"{case.method} {case.formatted_path}: no answer in 30 s")
                    return
                except (requests.exceptions.ConnectionError, ValueError):
                    return  # a request the client itself could not send (a header value it refuses)
                STATS[str(resp.status_code) if resp.status_code in DELIBERATE else f"{resp.status_code // 100}xx"] += 1
                if resp.status_code >= 500 and resp.status_code not in DELIBERATE:
                    body = json.dumps(case.body, default=str)[:300]
                    failures.append(
                        f"{case.method} {case.formatted_path} query={case.query} body={body}"
                        f" -> {resp.status_code} {resp.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid (an operation without parameters or body)
    print(f"fuzz: {len(operations)} operations, answers by class {dict(STATS)}")
    assert not failures, f"{len(failures)} answers of 5xx:\n" + "\n".join(failures[:30])
