"""The daemon itself, driven by the real docker CLI, docker-py and raw HTTP."""

import json
import os
import time

import pytest

from tests.shimd_harness import Shimd


def test_docker_version_speaks_1_50_without_downgrade(shimd):
    out = shimd.cli("version").stdout
    assert "API version:      1.56 (minimum version 1.12)" in out
    assert "downgraded" not in out


def test_docker_info_prints_without_errors(shimd):
    res = shimd.cli("info")
    assert "Storage Driver: overlay2" in res.stdout and "Docker Root Dir: " + shimd.data_root in res.stdout
    assert "ERROR" not in res.stderr and "error" not in res.stdout.lower().replace("errors", "")
    counts = json.loads(shimd.cli("info", "--format", "{{json .}}").stdout)
    assert counts["NCPU"] == os.cpu_count() and counts["Images"] >= 1


def test_docker_py_version_and_info(shimd):
    assert shimd.client.version()["ApiVersion"] == "1.56"
    assert shimd.client.info()["OSType"] == "linux"


@pytest.mark.parametrize("prefix", ["", "/v1.12", "/v1.24", "/v1.41", "/v1.50", "/v1.51", "/v1.56"])
def test_every_supported_prefix_answers(shimd, prefix):
    status, headers, body = shimd.http("GET", prefix + "/version")
    assert status == 200 and json.loads(body)["ApiVersion"] == "1.56"
    assert headers["api-version"] == "1.56" and headers["ostype"] == "linux"


def test_out_of_range_prefixes_are_refused(shimd):
    status, headers, body = shimd.http("GET", "/v1.57/version")
    assert status == 400
    assert json.loads(body)["message"] == "client version 1.57 is too new. Maximum supported API version is 1.56"
    status, headers, body = shimd.http("GET", "/v1.11/version")
    assert status == 400 and headers["content-type"].startswith("text/plain")
    assert body.decode().startswith("client version 1.11 is too old")


def test_pinned_client_version_too_new_is_an_error(shimd):
    env_res = shimd.cli("version", check=False)
    assert env_res.returncode == 0
    import subprocess

    res = subprocess.run(
        ["docker", "version"], capture_output=True, text=True, env={**shimd.env(), "DOCKER_API_VERSION": "1.99"}
    )
    assert res.returncode != 0
    assert "client version 1.99 is too new. Maximum supported API version is 1.56" in res.stderr


def test_bounded_events_query_ends(shimd, unique):
    tag = unique("evt")
    since = int(time.time()) - 1
    shimd.cli("tag", "busybox", f"{tag}:1")
    shimd.cli("rmi", f"{tag}:1")
    # `until` is whole seconds (as the CLI sends it): events of the current second come after it.
    time.sleep(1.1)
    res = shimd.cli(
        "events",
        "--since",
        str(since),
        "--until",
        "0s",
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
        timeout=20,
    )
    lines = res.stdout.splitlines()
    # moby names the image by its ID (not the removed tag) in untag events.
    assert f"tag {tag}:1" in lines and any(line.startswith("untag sha256:") for line in lines)


def test_two_daemons_side_by_side_and_restart_keeps_identity(shimd):
    other = Shimd()
    try:
        other.start()
        a = json.loads(shimd.http("GET", "/info")[2])["ID"]
        b = json.loads(other.http("GET", "/info")[2])["ID"]
        assert a != b
        other.restart(kill=True)
        assert json.loads(other.http("GET", "/info")[2])["ID"] == b
        other.stop()
        assert not os.path.exists(other.socket) and not os.path.exists(other.pidfile)
    finally:
        other.destroy()


def test_conflicting_flag_and_config_key_refuses_to_start(tmp_path):
    d = Shimd()
    try:
        (d.base / "daemon.json").write_text(json.dumps({"data-root": str(tmp_path / "x")}))
        with pytest.raises(RuntimeError, match="specified both as a flag and in the configuration file"):
            d.start()
    finally:
        d.destroy()
