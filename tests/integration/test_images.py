"""Images through a real shimd with the real docker CLI and docker-py.

The session's busybox:latest (loaded by the shimd fixture) is shared: tests only add and
remove their own uniquely named tags and images, and prune only by their own label.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import docker
import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "build" / "busybox.tar"
FIXTURE_ID = (FIXTURE.parent / "busybox.tar.id").read_text().strip() if FIXTURE.exists() else ""


def rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o755
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def image_ids(shimd) -> set[str]:
    return set(shimd.cli("images", "-a", "-q", "--no-trunc").stdout.split())


def test_load_list_inspect(shimd):
    out = shimd.cli("load", "-i", str(FIXTURE)).stdout
    assert "Loaded image: busybox:latest" in out
    rows = shimd.cli("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}").stdout.splitlines()
    assert f"busybox latest {FIXTURE_ID[7:19]}" in rows
    info = json.loads(shimd.cli("image", "inspect", "busybox").stdout)[0]
    assert info["Id"] == FIXTURE_ID
    assert "busybox:latest" in info["RepoTags"]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
    assert info["GraphDriver"]["Name"] == "overlay2"
    assert shimd.cli("images", "--filter", "reference=busybox", "-q").stdout.split() == [FIXTURE_ID[7:19]]


def test_inspect_nosuch_exits_1(shimd, unique):
    res = shimd.cli("image", "inspect", unique("nosuch"), check=False)
    assert res.returncode == 1
    assert "No such image" in res.stderr


def test_tag_and_rmi(shimd, unique):
    name = unique("rectag")
    shimd.cli("tag", "busybox", f"{name}:1")
    shimd.cli("tag", "busybox", f"localhost:5000/{name}/x:2")
    assert shimd.cli("image", "inspect", "-f", "{{.Id}}", f"{name}:1").stdout.strip() == FIXTURE_ID
    out = shimd.cli("rmi", f"{name}:1", f"localhost:5000/{name}/x:2").stdout
    assert f"Untagged: {name}:1" in out and f"Untagged: localhost:5000/{name}/x:2" in out
    assert "Deleted" not in out  # busybox:latest still holds the image
    assert shimd.cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == FIXTURE_ID
    res = shimd.cli("rmi", f"{name}:1", check=False)
    assert res.returncode == 1 and "No such image" in res.stderr


def test_rmi_by_id_with_two_repositories_needs_force(shimd, unique):
    name = unique("multi")
    image_id = (
        shimd.cli(
            "import",
            "-c",
            'CMD ["sh"]',
            "-",
            f"{name}:a",
            input=rootfs_tar({"f": b"multi-" + name.encode()}),
            text=False,
        )
        .stdout.decode()
        .strip()
    )
    shimd.cli("tag", image_id, f"{name}-other:b")
    res = shimd.cli("rmi", image_id[7:19], check=False)
    assert res.returncode == 1
    assert (
        f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is referenced in multiple "
        "repositories" in res.stderr
    )
    out = shimd.cli("rmi", "-f", image_id[7:19]).stdout
    assert f"Untagged: {name}:a" in out and f"Untagged: {name}-other:b" in out and f"Deleted: {image_id}" in out


def test_save_load_roundtrip(shimd, tmp_path, unique):
    saved = shimd.cli("save", "busybox", text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert "manifest.json" in names and f"{FIXTURE_ID[7:]}.json" in names
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    out = shimd.cli("load", input=saved, text=False).stdout.decode()
    assert "Loaded image: busybox:latest" in out
    assert shimd.cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == FIXTURE_ID
    # Several names in one archive (GET /images/get?names=…).
    name = unique("saved")
    shimd.cli("tag", "busybox", f"{name}:1")
    try:
        path = tmp_path / "two.tar"
        shimd.cli("save", "-o", str(path), "busybox", f"{name}:1")
        with tarfile.open(path) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())
        assert sorted(manifest[0]["RepoTags"]) == sorted(["busybox:latest", f"{name}:1"])
    finally:
        shimd.cli("rmi", f"{name}:1")


def test_import_history_prune(shimd, unique):
    name = unique("recimport")
    label = unique("lbl")
    tar = rootfs_tar({"bin/hello": b"#!/bin/sh\necho hi\n"})
    out = (
        shimd.cli(
            "import",
            "-c",
            'CMD ["sh"]',
            "-c",
            "ENV IMPORTED=1",
            "-m",
            "imported by test",
            "-",
            f"{name}:2",
            input=tar,
            text=False,
        )
        .stdout.decode()
        .strip()
    )
    assert out.startswith("sha256:")
    info = json.loads(shimd.cli("image", "inspect", f"{name}:2").stdout)[0]
    assert info["Id"] == out and info["Config"]["Cmd"] == ["sh"] and "IMPORTED=1" in info["Config"]["Env"]
    assert info["Comment"] == "imported by test"
    hist = shimd.cli("history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", f"{name}:2").stdout
    assert f"{out} imported by test" in hist
    out2 = shimd.cli("rmi", f"{name}:2").stdout
    assert f"Untagged: {name}:2" in out2 and f"Deleted: {out}" in out2
    # An untagged import with our label, then prune by that label only.
    dangling = (
        shimd.cli("import", "-c", f"LABEL {label}=1", "-", input=rootfs_tar({"x": label.encode()}), text=False)
        .stdout.decode()
        .strip()
    )
    assert dangling in image_ids(shimd)
    pruned = shimd.cli("image", "prune", "-f", "--filter", f"label={label}=1").stdout
    assert f"deleted: {dangling}" in pruned
    assert dangling not in image_ids(shimd)
    assert FIXTURE_ID in image_ids(shimd)


def test_pull_of_a_hub_name_without_network_fails_cleanly(shimd, unique):
    # test daemons reach nothing but loopback (tests/shimd_harness.py): the Hub is unreachable
    res = shimd.cli("pull", unique("nosuch"), check=False, input="")
    assert res.returncode == 1 and 'Get "https://registry-1.docker.io/v2/"' in res.stderr


def test_docker_py(shimd, unique):
    client = shimd.client
    assert any("busybox:latest" in i.tags for i in client.images.list())
    img = client.images.get("busybox")
    assert img.id == FIXTURE_ID and img.attrs["Config"]["Cmd"] == ["sh"]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(unique("nosuch"))
    loaded = client.images.load(FIXTURE.read_bytes())
    assert [i.id for i in loaded] == [FIXTURE_ID]
    name = unique("pytag")
    assert img.tag(name, "v1")
    client.images.remove(f"{name}:v1")
    assert client.images.get("busybox").id == FIXTURE_ID


def test_hostile_load_fails_in_stream_and_leaves_nothing(shimd):
    before = image_ids(shimd)
    image_root = Path(shimd.data_root) / "image"
    layers_before = set(os.listdir(image_root / "layers"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("../../../../escaped-by-shim-test")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    status, _, body = shimd.http(
        "POST", "/v1.50/images/load?quiet=1", body=buf.getvalue(), headers={"Content-Type": "application/x-tar"}
    )
    # dockerd answers 200 and puts the failure in the stream (docker-py raises ImageLoadError then)
    assert status == 200, body
    last = json.loads(body.decode().strip().splitlines()[-1])
    assert "outside" in last["errorDetail"]["message"] and last["error"] == last["errorDetail"]["message"]
    assert image_ids(shimd) == before
    assert set(os.listdir(image_root / "layers")) == layers_before
    assert os.listdir(image_root / "tmp") == []
    assert not os.path.exists("/escaped-by-shim-test")


def test_versions_shape_list_and_inspect(shimd):
    _, _, body = shimd.http("GET", "/v1.41/images/json")
    item = next(i for i in json.loads(body) if "busybox:latest" in i["RepoTags"])
    assert item["VirtualSize"] == item["Size"] and item["Containers"] == -1
    _, _, body = shimd.http("GET", "/v1.44/images/json")
    assert all("VirtualSize" not in i for i in json.loads(body))
    _, _, body = shimd.http("GET", "/v1.41/images/busybox/json")
    assert "ContainerConfig" in json.loads(body)
    status, _, body = shimd.http("GET", "/v1.50/images/busybox:nope/json")
    assert status == 404 and json.loads(body) == {"message": "No such image: busybox:nope"}
    status, _, body = shimd.http("GET", "/v1.23/images/nosuch/json")
    assert status == 404 and body == b"No such image: nosuch:latest\n"
