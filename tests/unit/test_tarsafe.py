"""Safe tar extraction: hostile archives never touch the host and leave nothing behind."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import uuid

import pytest

from shim.errors import InvalidParameter
from shim.runtime import tarsafe


def make_tar(entries, gz: bool = False) -> io.BytesIO:
    """entries: (name, kind, payload) with kind file|dir|sym|lnk|chr."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                ti.size = len(data)
                ti.mode = 0o644
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
            elif kind == "lnk":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = payload
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return io.BytesIO(gzip.compress(raw) if gz else raw)


@pytest.fixture
def outside(tmp_path):
    """A host directory next to the target that no extraction may write into."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "keep").write_text("original")
    return d


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dest"
    d.mkdir()
    return d


def listing(d) -> list[str]:
    return sorted(os.path.relpath(os.path.join(r, n), d) for r, ds, fs in os.walk(d) for n in ds + fs)


def assert_host_untouched(outside):
    assert listing(outside) == ["keep"]
    assert (outside / "keep").read_text() == "original"


def test_normal_archive(dest):
    size = tarsafe.extract(
        make_tar(
            [
                ("./", "dir", None),
                ("bin", "dir", None),
                ("bin/busybox", "file", "BB"),
                ("bin/sh", "sym", "/bin/busybox"),
                ("bin/ash", "lnk", "bin/busybox"),
                ("etc/passwd", "file", "root"),
            ]
        ),
        str(dest),
    )
    assert (dest / "bin/busybox").read_text() == "BB"
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"  # link targets are kept as given
    assert os.stat(dest / "bin/ash").st_ino == os.stat(dest / "bin/busybox").st_ino
    assert (dest / "etc/passwd").read_text() == "root"  # parent made on the fly
    assert size == 2 + 4 + len("/bin/busybox")


def test_gzip_archive(dest):
    tarsafe.extract(make_tar([("a", "file", "x")], gz=True), str(dest))
    assert (dest / "a").read_text() == "x"


def test_dotdot_escape_refused(dest, outside):
    with pytest.raises(InvalidParameter, match="outside"):
        tarsafe.extract(make_tar([("ok", "file", "1"), ("../outside/pwn", "file", "x")]), str(dest))
    assert listing(dest) == []
    assert_host_untouched(outside)


def test_dotdot_inside_is_fine(dest):
    tarsafe.extract(make_tar([("a/../b", "file", "x")]), str(dest))
    assert listing(dest) == ["b"]


def test_absolute_path_lands_inside_the_target(dest):
    # dockerd: filepath.Join(dest, Clean(name)); testcontainers' copy_into_container relies on it
    target = f"/tmp/shim-tarsafe-{uuid.uuid4().hex}"
    tarsafe.extract(make_tar([(target, "file", "x"), ("/../../up", "file", "y")]), str(dest))
    assert not os.path.exists(target)
    assert (dest / target.lstrip("/")).read_text() == "x"
    assert (dest / "up").read_text() == "y"


def test_relative_dotdot_past_the_target_refused(dest):
    with pytest.raises(InvalidParameter, match="is outside of"):
        tarsafe.extract(make_tar([("a/../../x", "file", "x")]), str(dest))
    assert listing(dest) == []


def test_symlink_to_root_then_write_through_it(dest, outside):
    # "escape" -> "/" and then a file "escape/<outside>/pwn": chroot semantics keep it inside dest.
    rel_outside = str(outside).lstrip("/")
    tarsafe.extract(make_tar([("escape", "sym", "/"), (f"escape/{rel_outside}/pwn", "file", "x")]), str(dest))
    assert_host_untouched(outside)
    assert (dest / rel_outside / "pwn").read_text() == "x"


def test_relative_symlink_out_then_write_through_it(dest, outside):
    tarsafe.extract(make_tar([("up", "sym", "../outside"), ("up/pwn", "file", "x")]), str(dest))
    assert_host_untouched(outside)
    assert (dest / "outside/pwn").read_text() == "x"  # ".." stops at the target's root


def test_symlink_chain(dest, outside):
    tarsafe.extract(
        make_tar(
            [
                ("a", "sym", "b"),
                ("b", "sym", "c/../../.."),
                ("c", "dir", None),
                ("a/outside/pwn", "file", "x"),
            ]
        ),
        str(dest),
    )
    assert_host_untouched(outside)
    assert (dest / "outside/pwn").read_text() == "x"


def test_symlink_loop_refused(dest):
    with pytest.raises(InvalidParameter, match="symbolic links"):
        tarsafe.extract(make_tar([("a", "sym", "b"), ("b", "sym", "a"), ("a/x", "file", "x")]), str(dest))
    assert listing(dest) == []


def test_existing_symlink_in_target_is_confined(dest, outside):
    os.symlink(str(outside), dest / "link")  # e.g. a container rootfs with a hostile link (docker cp)
    tarsafe.extract(make_tar([("link/pwn", "file", "x")]), str(dest))
    assert_host_untouched(outside)


def test_hardlink_to_host_file_refused(dest):
    with pytest.raises(InvalidParameter):
        tarsafe.extract(make_tar([("passwd", "lnk", "/etc/passwd")]), str(dest))
    assert listing(dest) == []


def test_hardlink_dotdot_refused(dest, outside):
    with pytest.raises(InvalidParameter):
        tarsafe.extract(make_tar([("k", "lnk", "../outside/keep")]), str(dest))
    assert listing(dest) == []
    assert os.stat(outside / "keep").st_nlink == 1


def test_hardlink_through_symlink_stays_inside(dest, outside):
    with pytest.raises(InvalidParameter):
        tarsafe.extract(make_tar([("s", "sym", "/"), ("k", "lnk", f"s{outside}/keep")]), str(dest))
    assert os.stat(outside / "keep").st_nlink == 1
    assert listing(dest) == []


def test_failure_rolls_back_everything(dest):
    with pytest.raises(InvalidParameter):
        tarsafe.extract(
            make_tar(
                [
                    ("d", "dir", None),
                    ("d/f", "file", "x"),
                    ("g/h", "file", "y"),
                    ("../up", "file", "z"),
                ]
            ),
            str(dest),
        )
    assert listing(dest) == []


def test_corrupt_archive_is_invalid_parameter(dest):
    good = make_tar([("a", "file", "x" * 5000)]).getvalue()
    with pytest.raises(InvalidParameter):
        tarsafe.extract(io.BytesIO(good[:1024]), str(dest))
    assert listing(dest) == []


def test_file_over_directory_replaces_it(dest):
    tarsafe.extract(make_tar([("x/y", "file", "1"), ("x", "file", "2")]), str(dest))
    assert (dest / "x").read_text() == "2"
