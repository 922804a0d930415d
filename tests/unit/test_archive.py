"""runtime/rootfs_io.py on plain directories (no mounts): resolution inside the container, stat, tar in and
out through volumes, hostile archives, overlay changes; translate's stat header."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile

import pytest

from shim.errors import Forbidden, InvalidParameter
from shim.runtime import rootfs_io as rio
from shim.translate import volumes as tr


@pytest.fixture
def fs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("box\n")
    (root / "data").mkdir()
    os.symlink("/", root / "rootlink")
    os.symlink("../etc/hostname", root / "data" / "rel")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "inside").write_text("vol\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    view = rio.ContainerView(str(root), [("/data/vol", str(vol), True), ("/ro", str(ro), False)])
    return tmp_path, root, vol, view


def _tar(*entries: tuple[str, bytes | None, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, link in entries:
            ti = tarfile.TarInfo(name)
            if link:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                tar.addfile(ti)
            else:
                ti.size = len(data or b"")
                tar.addfile(ti, io.BytesIO(data or b""))
    buf.seek(0)
    return buf


def test_resolve_stays_inside(fs):
    _tmp, _root, vol, view = fs
    assert view.resolve("/rootlink/etc/hostname", True) == "/etc/hostname"
    assert view.resolve("/../../../etc", True) == "/etc"
    assert view.host_of("/data/vol/inside")[0] == str(vol / "inside")
    assert view.host_of("/ro/x")[1] is False


def test_stat_symlink_and_header(fs):
    _, _, _, view = fs
    st = rio.stat_path(view, "/data/rel")
    assert st.name == "rel" and stat.S_ISLNK(st.mode) and st.link_target == "/etc/hostname"
    hdr = json.loads(base64.b64decode(tr.path_stat_header(st.name, st.size, st.mode, st.mtime_ns, st.link_target)))
    assert hdr["mode"] & (1 << 27) and hdr["linkTarget"] == "/etc/hostname"
    d = rio.stat_path(view, "/etc/")
    assert d.name == "etc" and tr.go_file_mode(d.mode) & (1 << 31)


def test_archive_out_includes_volume_content(fs):
    _, _, _, view = fs
    buf = io.BytesIO()
    rio.write_archive(view, "/data", buf)
    buf.seek(0)
    names = tarfile.open(fileobj=buf).getnames()
    assert names == ["data", "data/rel", "data/vol", "data/vol/inside"]


def test_extract_through_symlinks_and_into_volume(fs):
    _tmp, root, vol, view = fs
    (root / "tmp").mkdir()
    rio.extract_archive(view, "/rootlink/tmp", _tar(("a/b", b"x", "")), no_overwrite_dir_nondir=False, owner=None)
    assert (root / "tmp" / "a" / "b").read_bytes() == b"x"
    rio.extract_archive(view, "/data", _tar(("vol/new", b"v", "")), no_overwrite_dir_nondir=False, owner=(5, 6))
    assert (vol / "new").read_bytes() == b"v" and (vol / "new").stat().st_uid == 5


@pytest.mark.parametrize(
    "entries",
    [
        [("../../../../escape", b"x", "")],
        [("/escape", b"x", "")],
        [("out", None, "/"), ("out/" + "ESCAPE", b"x", "")],
        [("out", None, "../../../../.."), ("out/ESCAPE", b"x", "")],
    ],
)
def test_hostile_archives(fs, entries):
    tmp, _root, _, view = fs
    marker = "escape"
    entries = [(n.replace("ESCAPE", str(tmp / marker).lstrip("/")), d, link) for n, d, link in entries]
    try:
        rio.extract_archive(view, "/etc", _tar(*entries), no_overwrite_dir_nondir=False, owner=None)
    except InvalidParameter:
        pass
    assert not (tmp / marker).exists()
    assert not os.path.exists("/escape")


def test_read_only_and_not_dir_and_overwrite(fs):
    _, _, _, view = fs
    with pytest.raises(Forbidden, match="mounted volume is marked read-only"):
        rio.extract_archive(view, "/ro", _tar(("f", b"x", "")), no_overwrite_dir_nondir=False, owner=None)
    with pytest.raises(InvalidParameter, match="extraction point is not a directory"):
        rio.extract_archive(view, "/etc/hostname", _tar(("f", b"x", "")), no_overwrite_dir_nondir=False, owner=None)
    with pytest.raises(InvalidParameter, match="cannot overwrite directory"):
        rio.extract_archive(view, "/", _tar(("etc", b"x", "")), no_overwrite_dir_nondir=True, owner=None)


def test_changes_from_upper(tmp_path):
    lower, upper = tmp_path / "l", tmp_path / "u"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "group").write_text("g")
    (lower / "usr").mkdir()
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "group", stat.S_IFCHR | 0o600, 0)
    (upper / "newfile").write_text("n")
    (upper / "usr" / "added").mkdir(parents=True)
    got = rio.changes(str(upper), [str(lower)])
    assert ("/etc/group", 2) in got and ("/newfile", 1) in got and ("/usr/added", 1) in got and ("/usr", 0) in got


def test_changes_ignore_init_layer_mount_points(tmp_path):
    lower, upper = tmp_path / "l", tmp_path / "u"
    (lower / "etc").mkdir(parents=True)
    (upper / "etc").mkdir(parents=True)
    for f in ("hosts", "hostname", "resolv.conf"):
        (upper / "etc" / f).write_text("")
    (upper / "made").write_text("x")
    assert rio.changes(str(upper), [str(lower)]) == [("/made", 1)]
