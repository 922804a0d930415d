"""API 1.51–1.56 against a real shimd: the CLI's negotiation, each version's shapes on the wire,
compose v1's capped version, the endpoints of features shimd has no part of."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest


@pytest.fixture(scope="module")
def box(shimd):
    name = "cur-" + __import__("uuid").uuid4().hex[:8]
    shimd.cli("network", "create", name + "-net")
    shimd.cli(
        "run", "-d", "--name", name, "--network", name + "-net", "--network-alias", "web", "busybox", "sleep", "300"
    )
    yield name
    shimd.cli("rm", "-f", name, check=False)
    shimd.cli("network", "rm", name + "-net", check=False)


def get(shimd, path, **kw):
    status, _headers, body = shimd.http("GET", path, **kw)
    assert status == 200, (path, status, body[:300])
    return json.loads(body) if body.strip() else None


def test_docker_version_negotiates_1_50_against_1_56(shimd):
    v = json.loads(shimd.cli("version", "--format", "{{json .}}").stdout)
    assert v["Client"]["ApiVersion"] == "1.50" and v["Server"]["ApiVersion"] == "1.56"
    assert v["Server"]["MinAPIVersion"] == "1.12"


@pytest.mark.parametrize("minor", range(51, 57))
def test_every_new_version_answers(shimd, minor):
    assert get(shimd, f"/v1.{minor}/version")["ApiVersion"] == "1.56"


def test_container_inspect_shapes_by_version(shimd, box):
    old, v151, v152 = (get(shimd, f"/v{v}/containers/{box}/json") for v in ("1.44", "1.51", "1.52"))
    short = old["Id"][:12]
    net = box + "-net"
    assert short in old["NetworkSettings"]["Networks"][net]["Aliases"]
    assert v152["NetworkSettings"]["Networks"][net]["Aliases"] == ["web"]
    assert "IPAddress" in v151["NetworkSettings"] and "IPAddress" not in v152["NetworkSettings"]
    assert "GwPriority" not in old["NetworkSettings"]["Networks"][net]
    assert v152["NetworkSettings"]["Networks"][net]["GwPriority"] == 0


def test_list_health_and_image_containers_by_version(shimd, box):
    flt = quote(json.dumps({"name": [box]}))
    assert "Health" not in get(shimd, f"/v1.51/containers/json?filters={flt}")[0]
    assert get(shimd, f"/v1.52/containers/json?filters={flt}")[0]["Health"] == {"Status": "none", "FailingStreak": 0}
    ref = quote(json.dumps({"reference": ["busybox:latest"]}))
    assert get(shimd, f"/v1.50/images/json?filters={ref}")[0]["Containers"] == -1
    assert get(shimd, f"/v1.51/images/json?filters={ref}")[0]["Containers"] >= 1


def test_image_inspect_1_52_is_the_oci_config(shimd):
    old, new = get(shimd, "/v1.51/images/busybox:latest/json"), get(shimd, "/v1.52/images/busybox:latest/json")
    assert "Env" in old["Config"] and "WorkingDir" in old["Config"]
    assert all(v not in (None, "", [], {}) for v in new["Config"].values())
    assert "ContainerConfig" in get(shimd, "/v1.44/images/busybox:latest/json")
    assert "ContainerConfig" not in old


def test_events_content_types_by_version(shimd):
    q = "since=0&until=1"  # a window in the past: the answer ends at once
    assert shimd.http("GET", f"/v1.51/events?{q}", timeout=10)[1]["content-type"] == "application/json"
    assert shimd.http("GET", f"/v1.52/events?{q}", timeout=10)[1]["content-type"] == "application/jsonl"
    seq = shimd.http("GET", f"/v1.52/events?{q}", headers={"Accept": "application/json-seq"}, timeout=10)
    assert seq[1]["content-type"] == "application/json-seq"


def test_events_legacy_fields_below_1_52(shimd):
    name = "ev-" + __import__("uuid").uuid4().hex[:8]
    shimd.cli("create", "--name", name, "busybox", "true")
    flt = quote(json.dumps({"container": [name], "event": ["create"]}))
    try:
        for v, legacy in (("1.51", True), ("1.52", False)):
            _, _, body = shimd.http(
                "GET",
                f"/v{v}/events?since=0&until=9999999999&filters={flt}".replace(
                    "9999999999", str(int(__import__("time").time()) + 1)
                ),
                timeout=20,
            )
            ev = json.loads(body.splitlines()[0])
            assert ev["Action"] == "create" and (("status" in ev and "id" in ev and "from" in ev) == legacy)
    finally:
        shimd.cli("rm", name, check=False)


def test_network_status_and_system_df_usage(shimd, box):
    net = get(shimd, f"/v1.52/networks/{box}-net")
    (subnet,) = net["Status"]["IPAM"]["Subnets"].values()
    assert subnet["IPsInUse"] >= 4 and subnet["DynamicIPsAvailable"] > 0
    assert "Status" not in get(shimd, f"/v1.51/networks/{box}-net")
    df = get(shimd, "/v1.52/system/df?verbose=1")
    assert {"ImageUsage", "ContainerUsage", "VolumeUsage"} <= set(df) and "Images" not in df
    assert df["ContainerUsage"]["ActiveCount"] >= 1
    assert "BuilderSize" in get(shimd, "/v1.41/system/df") and "BuilderSize" not in get(shimd, "/v1.42/system/df")


def test_stats_os_type(shimd, box):
    assert "os_type" not in get(shimd, f"/v1.51/containers/{box}/stats?stream=0")
    assert get(shimd, f"/v1.52/containers/{box}/stats?stream=0")["os_type"] == "linux"


def test_attestations_of_an_image_without_any(shimd):
    assert get(shimd, "/v1.55/images/busybox:latest/attestations") == []
    status, _, _ = shimd.http("GET", "/v1.55/images/nosuchimage:x/attestations")
    assert status == 404


def test_compose_v1_is_offered_1_44(shimd):
    ua = {"User-Agent": "docker-compose/1.29.2 docker-py/6.1.3 Linux/6.1.0"}
    _status, headers, body = shimd.http("GET", "/version", headers=ua)
    assert json.loads(body)["ApiVersion"] == "1.44" and headers["api-version"] == "1.44"
    assert "ContainerConfig" in get(shimd, "/v1.44/images/busybox:latest/json", headers=ua)
    _status, headers, _ = shimd.http("GET", "/version")
    assert headers["api-version"] == "1.56"


def test_swarm_leave_as_sdks_tear_down(shimd):
    status, _, body = shimd.http("POST", "/v1.56/swarm/leave?force=true")
    assert (status, json.loads(body)) == (503, {"message": "This node is not part of a swarm"})
    # docker-py's leave(force=True) accepts exactly this answer as "not in a swarm"
    assert shimd.client.swarm.leave(force=True) is True


def test_openapi_description_is_served(shimd):
    status, _headers, body = shimd.http("GET", "/shim/openapi.yaml")
    assert status == 200 and b'swagger: "2.0"' in body and b'version: "1.56"' in body
