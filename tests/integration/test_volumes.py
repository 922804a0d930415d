"""Volumes and mounts through a real shimd with the docker CLI and docker-py."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def cleanup(shimd):
    """Containers and volumes a test made, removed even when it fails."""
    made: dict[str, list[str]] = {"containers": [], "volumes": []}
    yield made
    for c in made["containers"]:
        shimd.cli("rm", "-f", "-v", c, check=False)
    for v in made["volumes"]:
        shimd.cli("volume", "rm", "-f", v, check=False)


def _mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(root)]


def test_named_volume_persists_between_containers(shimd, unique, cleanup):
    vol = unique("vol")
    cleanup["volumes"].append(vol)
    shimd.cli("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    out = shimd.cli("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f").stdout
    assert out == "kept\n"
    v = json.loads(shimd.cli("volume", "inspect", vol).stdout)[0]
    assert v["Mountpoint"] == os.path.join(shimd.data_root, "volumes", vol, "_data")
    assert (v["Driver"], v["Scope"]) == ("local", "local")


def test_volume_ls_rm_in_use_prune(shimd, unique, cleanup):
    vol, name = unique("vol"), unique("c")
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(name)
    shimd.cli("volume", "create", "--label", "t=1", vol)
    assert vol in shimd.cli("volume", "ls", "-q", "--filter", "label=t=1").stdout.split()
    shimd.cli("create", "--name", name, "-v", f"{vol}:/d", "busybox", "true")
    p = shimd.cli("volume", "rm", vol, check=False)
    assert p.returncode != 0 and f"remove {vol}: volume is in use" in p.stderr
    insp = json.loads(shimd.cli("inspect", name).stdout)[0]
    assert insp["Mounts"] == [
        {
            "Type": "volume",
            "Name": vol,
            "Source": v_path(shimd, vol),
            "Destination": "/d",
            "Driver": "local",
            "Mode": "z",
            "RW": True,
            "Propagation": "",
        }
    ]
    shimd.cli("rm", name)
    assert vol in shimd.cli("volume", "prune", "-a", "-f", "--filter", "label=t=1").stdout
    p = shimd.cli("volume", "inspect", vol, check=False)
    assert p.returncode != 0 and "no such volume" in p.stderr


def v_path(shimd, vol):
    return os.path.join(shimd.data_root, "volumes", vol, "_data")


def test_bind_read_only_and_created_source(shimd, tmp_path):
    (tmp_path / "in.txt").write_text("host\n")
    out = shimd.cli(
        "run",
        "--rm",
        "-v",
        f"{tmp_path}:/data:ro",
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; touch /data/x 2>&1 || echo refused",
    ).stdout
    assert out.startswith("host\n") and "refused" in out
    assert not (tmp_path / "x").exists()
    (tmp_path / "single").write_text("one file\n")
    assert (
        shimd.cli("run", "--rm", "-v", f"{tmp_path}/single:/etc/single:ro", "busybox", "cat", "/etc/single").stdout
        == "one file\n"
    )
    missing = tmp_path / "made" / "here"
    shimd.cli("run", "--rm", "-v", f"{missing}:/m", "busybox", "touch", "/m/ok")
    assert (missing / "ok").exists()
    p = shimd.cli(
        "run", "--rm", "--mount", f"type=bind,source={tmp_path}/nope,target=/x", "busybox", "true", check=False
    )
    assert p.returncode == 125
    assert f'invalid mount config for type "bind": bind source path does not exist: {tmp_path}/nope' in p.stderr


def test_bind_of_data_root_refused(shimd):
    p = shimd.cli("run", "--rm", "-v", f"{shimd.data_root}:/x", "busybox", "true", check=False)
    assert p.returncode == 125 and "data root" in p.stderr


def test_tmpfs_and_mount_tmpfs(shimd):
    out = shimd.cli(
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m",
        "--mount",
        "type=tmpfs,target=/t2",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /(scratch|t2) ' /proc/mounts",
    ).stdout
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.split()[2] == "tmpfs" for line in lines)
    assert "size=1024k" in out


def test_image_volume_copy_up_and_rm_v(shimd, unique, cleanup):
    base, name = unique("img"), unique("c")
    cleanup["containers"].append(name)
    # an image with content at a VOLUME path: commit a container that wrote it, with VOLUME set
    src = unique("src")
    cleanup["containers"].append(src)
    shimd.cli(
        "run",
        "--name",
        src,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /seed && echo image > /seed/f && chown 1000:1000 /seed/f && chmod 640 /seed/f",
    )
    shimd.cli("commit", "-c", "VOLUME /seed", src, base)
    try:
        out = shimd.cli("run", "--name", name, base, "sh", "-c", "stat -c '%u:%g %a' /seed/f; cat /seed/f").stdout
        assert out == "1000:1000 640\nimage\n"
        mounts = json.loads(shimd.cli("inspect", name).stdout)[0]["Mounts"]
        assert len(mounts) == 1 and mounts[0]["Destination"] == "/seed" and len(mounts[0]["Name"]) == 64
        anon = mounts[0]["Name"]
        shimd.cli("rm", "-v", name)
        assert anon not in shimd.cli("volume", "ls", "-q").stdout
        # nocopy leaves a fresh volume empty
        out = shimd.cli(
            "run", "--rm", "--mount", "type=volume,target=/seed,volume-nocopy", base, "ls", "-A", "/seed"
        ).stdout
        assert out == ""
    finally:
        shimd.cli("rmi", "-f", base, check=False)


def test_volumes_from_and_tmpfs_volume_driver(shimd, unique, cleanup):
    vol, a = unique("tv"), unique("a")
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(a)
    shimd.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m", vol)
    shimd.cli("run", "--name", a, "-v", f"{vol}:/v", "busybox", "sh", "-c", "echo x > /v/f")
    out = shimd.cli(
        "run",
        "--rm",
        "--volumes-from",
        f"{a}:ro",
        "busybox",
        "sh",
        "-c",
        "grep ' /v ' /proc/mounts; touch /v/g 2>/dev/null || echo ro",
    ).stdout
    assert "tmpfs" in out and out.strip().endswith("ro")
    # nothing of the volume stays mounted once no container runs
    assert _mounts_under(os.path.join(shimd.data_root, "volumes")) == []


def test_system_df_verbose(shimd, unique, cleanup):
    vol, name = unique("dfv"), unique("dfc")
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(name)
    shimd.cli("create", "--name", name, "-v", f"{vol}:/d", "busybox", "true")
    out = shimd.cli("system", "df", "-v").stdout
    assert vol in out and name in out and "busybox" in out
    status, _, body = shimd.http("GET", "/v1.41/system/df")
    df = json.loads(body)
    mine = next(v for v in df["Volumes"] if v["Name"] == vol)
    assert status == 200 and mine["UsageData"] == {"Size": 0, "RefCount": 1}


def test_bind_device_volume_and_existing_empty_volume_copy_up(shimd, unique, cleanup, tmp_path):
    bindvol, empty = unique("bdev"), unique("empty")
    cleanup["volumes"] += [bindvol, empty]
    (tmp_path / "from-host").write_text("via device\n")
    shimd.cli("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={tmp_path}", bindvol)
    out = shimd.cli(
        "run",
        "--rm",
        "-v",
        f"{bindvol}:/dev-data",
        "busybox",
        "sh",
        "-c",
        "cat /dev-data/from-host; echo back > /dev-data/written",
    ).stdout
    assert out == "via device\n" and (tmp_path / "written").read_text() == "back\n"
    assert _mounts_under(os.path.join(shimd.data_root, "volumes")) == []
    # a volume that exists but is empty is filled from the image too (dockerd's populateVolumes)
    shimd.cli("volume", "create", empty)
    out = shimd.cli("run", "--rm", "-v", f"{empty}:/etc", "busybox", "cat", "/etc/group").stdout
    assert "root" in out


def test_dockerpy_volumes(shimd, unique):
    c = shimd.client
    name = unique("py")
    v = c.volumes.create(name, labels={"py": "1"})
    try:
        assert c.volumes.get(name).attrs["Labels"] == {"py": "1"}
        assert name in [x.name for x in c.volumes.list(filters={"label": "py=1"})]
        res = c.volumes.prune(filters={"label": "py=1", "all": "true"})
        assert name in (res["VolumesDeleted"] or [])
    finally:
        try:
            v.remove(force=True)
        except Exception:
            pass


def test_volumes_and_mounts_survive_a_restart(shimd, unique, cleanup):
    vol, name = unique("rv"), unique("rc")
    cleanup["volumes"].append(vol)
    cleanup["containers"].append(name)
    shimd.cli("run", "-d", "--name", name, "-v", f"{vol}:/d", "busybox", "sh", "-c", "echo x > /d/f; sleep 300")
    shimd.restart(kill=True)
    assert json.loads(shimd.cli("inspect", name).stdout)[0]["Mounts"][0]["Name"] == vol
    p = shimd.cli("volume", "rm", vol, check=False)
    assert p.returncode != 0 and "volume is in use" in p.stderr
    assert shimd.cli("exec", name, "cat", "/d/f").stdout == "x\n"


def test_no_shim_mount_left(shimd):
    """Runs last in this module: after the runs above nothing of ours is mounted but running containers'.
    Looked at after a stop of the daemon, which waits for what `run --rm` removals release in the
    background (their rootfs mounts among it); running containers run on meanwhile."""
    shimd.restart()
    running = set(shimd.cli("ps", "-q", "--no-trunc").stdout.split())
    left = [m for m in _mounts_under(str(shimd.base)) if not any(cid in m for cid in running)]
    assert left == []
