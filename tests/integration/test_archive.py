"""docker cp, archive HEAD/GET/PUT, export, diff and commit through a real shimd; hostile archives stay inside."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import tarfile
import urllib.parse

import pytest


@pytest.fixture
def box(shimd, unique):
    name = unique("box")
    shimd.cli("run", "-d", "--name", name, "busybox", "sleep", "300")
    yield name
    shimd.cli("rm", "-f", "-v", name, check=False)


@pytest.fixture
def stopped(shimd, unique):
    name = unique("stopped")
    shimd.cli("create", "--name", name, "busybox", "true")
    yield name
    shimd.cli("rm", "-f", "-v", name, check=False)


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                tar.addfile(ti)
    return buf.getvalue()


def _entry(name: str, typ=tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.linkname = linkname
    ti.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
    return ti


def _put(shimd, name: str, path: str, data: bytes):
    q = urllib.parse.urlencode({"path": path})
    return shimd.http(
        "PUT", f"/v1.41/containers/{name}/archive?{q}", body=data, headers={"Content-Type": "application/x-tar"}
    )


def test_cp_file_in_and_out(shimd, box, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_text("hello cp\n")
    shimd.cli("cp", str(src), f"{box}:/tmp/")
    assert shimd.cli("exec", box, "cat", "/tmp/hello.txt").stdout == "hello cp\n" if _has_exec(shimd, box) else True
    shimd.cli("cp", f"{box}:/tmp/hello.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hello cp\n"
    shimd.cli("cp", str(src), f"{box}:/tmp/renamed.txt")
    shimd.cli("cp", f"{box}:/tmp/renamed.txt", str(tmp_path / "r.txt"))
    assert (tmp_path / "r.txt").read_text() == "hello cp\n"


def _has_exec(shimd, box) -> bool:
    return shimd.cli("exec", box, "true", check=False).returncode == 0


def test_cp_directory_and_symlink(shimd, box, tmp_path):
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_text("deep\n")
    os.symlink("sub/f", d / "link")
    shimd.cli("cp", str(d), f"{box}:/tmp/")
    out = tmp_path / "out"
    shimd.cli("cp", f"{box}:/tmp/tree", str(out))
    assert (out / "sub" / "f").read_text() == "deep\n"
    assert os.readlink(out / "link") == "sub/f"
    # a symlink copied out stays a symlink; -L follows it
    shimd.cli("cp", f"{box}:/tmp/tree/link", str(tmp_path / "l1"))
    assert os.path.islink(tmp_path / "l1")
    shimd.cli("cp", "-L", f"{box}:/tmp/tree/link", str(tmp_path / "l2"))
    assert (tmp_path / "l2").read_text() == "deep\n"


def test_archive_head_stat_and_missing(shimd, box):
    status, headers, _ = shimd.http("HEAD", f"/v1.41/containers/{box}/archive?path=/etc")
    assert status == 200
    st = json.loads(base64.b64decode(headers["x-docker-container-path-stat"]))
    assert st["name"] == "etc" and st["mode"] & (1 << 31) and st["linkTarget"] == ""
    status, _, body = shimd.http("GET", f"/v1.41/containers/{box}/archive?path=/nosuchfile")
    assert status == 404
    assert json.loads(body)["message"] == f"Could not find the file /nosuchfile in container {box}"
    p = shimd.cli("cp", f"{box}:/nosuchfile", "/tmp/x-never", check=False)
    assert p.returncode != 0


def test_cp_into_stopped_container_and_volume(shimd, stopped, tmp_path, unique):
    f = tmp_path / "s.txt"
    f.write_text("stopped\n")
    shimd.cli("cp", str(f), f"{stopped}:/")
    shimd.cli("cp", f"{stopped}:/s.txt", str(tmp_path / "s2.txt"))
    assert (tmp_path / "s2.txt").read_text() == "stopped\n"
    vol, c = unique("cpv"), unique("cpc")
    try:
        shimd.cli("create", "--name", c, "-v", f"{vol}:/data", "busybox", "true")
        shimd.cli("cp", str(f), f"{c}:/data/")
        assert (open(os.path.join(shimd.data_root, "volumes", vol, "_data", "s.txt")).read()) == "stopped\n"
    finally:
        shimd.cli("rm", "-f", c, check=False)
        shimd.cli("volume", "rm", "-f", vol, check=False)
    # no rootfs left mounted for the stopped container
    with open("/proc/self/mountinfo") as mi:
        assert not any(stopped in line for line in mi)


def test_hostile_archives_stay_inside(shimd, box, tmp_path):
    marker = tmp_path / "escape"
    # 1. `..` climbing out, 2. an absolute name
    for name in (f"../../../../../../..{marker}", str(marker)):
        _status, _, _ = _put(shimd, box, "/tmp", _tar([(_entry(name), b"x")]))
        assert not marker.exists()
    # 3. a symlink in the container pointing at / and a write through it
    shimd.http(
        "PUT", f"/v1.41/containers/{box}/archive?path=/tmp", body=_tar([(_entry("root", tarfile.SYMTYPE, "/"), None)])
    )
    rel = str(marker).lstrip("/")
    _put(shimd, box, "/tmp", _tar([(_entry(f"root/{rel}"), b"x")]))
    assert not marker.exists()
    # 4. the destination itself through a symlink to the host's tmp_path (resolved in the container)
    _put(shimd, box, "/", _tar([(_entry("hostlink", tarfile.SYMTYPE, str(tmp_path)), None)]))
    _put(shimd, box, "/hostlink", _tar([(_entry("escape"), b"x")]))
    assert not marker.exists()
    # 5. a symlink entry followed by a file through it, in one archive
    _put(
        shimd,
        box,
        "/tmp",
        _tar([(_entry("evil", tarfile.SYMTYPE, str(tmp_path)), None), (_entry("evil/escape"), b"x")]),
    )
    assert not marker.exists()
    # 6. a hard link to a host file
    _put(shimd, box, "/tmp", _tar([(_entry("hl", tarfile.LNKTYPE, "../../../../etc/passwd"), None)]))
    assert os.stat("/etc/passwd").st_nlink == 1


def test_export_diff_commit(shimd, unique, tmp_path):
    name, image = unique("exp"), unique("committed")
    try:
        shimd.cli(
            "run",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "echo data > /newfile && rm /etc/group && mkdir -p /usr/added && touch /usr/added/x",
        )
        out = (
            subprocess.run(
                ["tar", "t"], input=shimd.cli("export", name, text=False).stdout, capture_output=True, check=True
            )
            .stdout.decode()
            .split()
        )
        assert "newfile" in out and "bin/busybox" in out and "etc/group" not in out
        diff = shimd.cli("diff", name).stdout.splitlines()
        assert "A /newfile" in diff and "D /etc/group" in diff and "A /usr/added" in diff and "C /usr" in diff
        shimd.cli("commit", "-c", "ENV COMMITTED=yes", "-m", "msg", "-a", "me", name, image)
        out = shimd.cli(
            "run", "--rm", image, "sh", "-c", "cat /newfile; echo $COMMITTED; ls /etc/group", check=False
        ).stdout
        assert out.startswith("data\nyes\n") and "group" not in out
        insp = json.loads(shimd.cli("image", "inspect", image).stdout)[0]
        assert insp["Author"] == "me" and insp["Comment"] == "msg"
    finally:
        shimd.cli("rm", "-f", name, check=False)
        shimd.cli("rmi", "-f", image, check=False)


def test_dockerpy_archive_export_commit(shimd, box, unique):
    c = shimd.client.containers.get(box)
    data = _tar([(_entry("py.txt"), b"from python\n")])
    assert c.put_archive("/tmp", data)
    stream, stat = c.get_archive("/tmp/py.txt")
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.extractfile("py.txt").read() == b"from python\n"
    assert stat["name"] == "py.txt" and stat["size"] == 12
    exported = b"".join(c.export())
    assert len(exported) > 100_000
    repo = unique("pycommit")
    img = c.commit(repository=repo, tag="v1")
    try:
        assert img.id.startswith("sha256:")
    finally:
        shimd.client.images.remove(img.id, force=True)
