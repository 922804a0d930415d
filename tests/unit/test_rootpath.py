"""runtime/rootpath.py: the one resolver of paths inside a container root (overlay, cp, tar extraction).

Hostile trees: links to `/`, `..` chains, loops, links into and out of volumes. Whatever the
links say, a resolved path is inside the root or inside one of the container's mounts.
"""

from __future__ import annotations

import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.errors import Forbidden, InvalidParameter
from shim.runtime import overlay, rootfs_io, tarsafe
from shim.runtime.rootpath import ContainerView, secure_join


@pytest.fixture
def tree(tmp_path):
    """rootfs with hostile links, a volume mounted at /data/vol, a read-only bind at /ro."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "data").mkdir()
    os.symlink("/", root / "rootlink")
    os.symlink("../../../../../..", root / "up")
    os.symlink("/data/vol/inside", root / "tovol")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "inside").write_text("vol\n")
    os.symlink("/etc", vol / "etclink")  # the container's /etc, not the host's
    os.symlink("../../..", vol / "escape")
    ro = tmp_path / "ro"
    ro.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("original")
    view = ContainerView(str(root), [("/data/vol", str(vol), True), ("/ro", str(ro), False)])
    return tmp_path, root, vol, outside, view


def test_links_resolve_inside_the_container(tree):
    _, root, vol, _, view = tree
    assert view.resolve("/rootlink/etc/passwd") == "/etc/passwd"
    assert view.resolve("/up/up/etc") == "/etc"
    assert view.resolve("/../../etc/../../etc") == "/etc"
    assert view.resolve("/tovol") == "/data/vol/inside"
    assert view.host_path("/tovol") == str(vol / "inside")
    # a link inside the volume is the container's: /etc is the rootfs's, `..` stops at /
    assert view.host_path("/data/vol/etclink/passwd") == str(root / "etc" / "passwd")
    assert view.resolve("/data/vol/escape") == "/"
    assert view.host_path("/data/vol/escape") == str(root)


def test_last_component_and_missing_paths(tree):
    _, root, _, _, view = tree
    assert view.resolve("/rootlink", follow_last=False) == "/rootlink"
    assert view.resolve("/rootlink", follow_last=True) == "/"
    assert view.host_path("/new/dir/file") == str(root / "new" / "dir" / "file")  # taken literally
    assert view.resolve("/etc/passwd/below") == "/etc/passwd/below"  # under a file: literal too


def test_loops_and_callers_dotdot_are_refused(tree):
    _, _, _, _, view = tree
    with pytest.raises(InvalidParameter, match="too many levels of symbolic links"):
        view.resolve("/loop1")
    with pytest.raises(InvalidParameter, match="outside of"):
        view.host_of("/data/vol/../../../etc")


def test_mount_table(tree):
    _, root, vol, _, view = tree
    assert view.host_of("/data/vol") == (str(vol), True, True)
    assert view.host_of("/data/volume") == (str(root / "data" / "volume"), True, False)  # not a prefix match
    assert view.host_of("/ro/x")[1] is False
    assert ContainerView(str(root), readonly_rootfs=True).host_of("/etc")[1] is False


def test_overlay_uses_the_resolver(tree):
    _, root, _, outside, _ = tree
    assert secure_join(str(root), "/rootlink/up/etc/passwd") == str(root / "etc" / "passwd")
    os.symlink("/", root / "etc" / "escape")
    overlay.setup_working_dir(str(root), "/etc/escape/../../work/dir")
    assert (root / "work" / "dir").is_dir()
    assert sorted(os.listdir(outside)) == ["keep"]
    assert overlay.resolve_user(str(root), "root").uid == 0


def _tar(*entries: tuple[str, str, bytes | str]) -> io.BytesIO:
    """(name, kind, payload): kind file | sym | lnk | dir."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            else:
                ti.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                ti.linkname = str(payload)
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


@pytest.mark.parametrize(
    "entries",
    [
        [("x", "sym", "/"), ("x/OUT", "file", "pwned")],
        [("x", "sym", "../../../../.."), ("x/OUT", "file", "pwned")],
        [("x", "sym", "/data/vol/escape"), ("x/OUT", "file", "pwned")],
        [("OUT", "lnk", "../../../../OUTFILE")],
        [("d", "dir", ""), ("d/../../../../OUT", "file", "pwned")],
        [("x", "sym", "/data/vol/escape/.."), ("x/../OUT", "file", "pwned")],
    ],
)
def test_hostile_uploads_stay_in_the_container(tree, entries):
    _, _, _, outside, view = tree
    target = str(outside).lstrip("/")
    entries = [(n.replace("OUTFILE", target + "/keep").replace("OUT", target + "/x"), k, p) for n, k, p in entries]
    try:
        tarsafe.extract_into(_tar(*entries), view, "/etc")
    except InvalidParameter:
        pass
    assert sorted(os.listdir(outside)) == ["keep"] and (outside / "keep").read_text() == "original"
    assert not os.path.exists("/x")


def test_uploads_follow_links_into_volumes_and_respect_read_only(tree):
    _, root, vol, _, view = tree
    tarsafe.extract_into(_tar(("tovoldir", "sym", "/data/vol"), ("tovoldir/new", "file", "n")), view, "/")
    assert (vol / "new").read_text() == "n" and not (root / "data" / "vol").exists()
    with pytest.raises(Forbidden, match="read-only"):
        tarsafe.extract_into(_tar(("x", "sym", "/ro"), ("x/f", "file", "f")), view, "/etc")
    assert os.listdir(tree[0] / "ro") == []
    assert not (root / "etc" / "x").exists()  # rolled back with the rest


def test_hardlinks_resolve_in_the_container(tree):
    _, root, vol, _, view = tree
    # a hard link names an entry relative to the extraction directory, as dockerd's archive
    tarsafe.extract_into(_tar(("etc/h", "lnk", "/data/vol/inside")), view, "/")
    assert os.path.samefile(root / "etc" / "h", vol / "inside")
    tarsafe.extract_into(_tar(("etc/h3", "lnk", "tovol")), view, "/")  # the link itself, not followed
    assert os.path.islink(root / "etc" / "h3")
    with pytest.raises(InvalidParameter, match="no such entry"):
        tarsafe.extract_into(_tar(("h2", "lnk", "/nonexistent")), view, "/etc")
    with pytest.raises(InvalidParameter, match="outside of"):  # a link name may not climb out either
        tarsafe.extract_into(_tar(("h4", "lnk", "../tovol")), view, "/etc")


def test_cp_extraction_point_checks(tree):
    _, _, _, _, view = tree
    with pytest.raises(InvalidParameter, match="extraction point is not a directory"):
        rootfs_io.extract_archive(
            view, "/etc/passwd", _tar(("f", "file", "x")), no_overwrite_dir_nondir=False, owner=None
        )


# A random tree of directories and links (to `/`, `..` chains, each other, absolute paths);
# every path resolved in it must stay inside the root.
NAMES = st.sampled_from(["a", "b", "c", "..", ".", "etc", "x"])
LINK_TARGETS = st.lists(NAMES, min_size=0, max_size=6).flatmap(
    lambda parts: st.sampled_from(["/" + "/".join(parts), "/".join(parts) or "."])
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    links=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "a/x", "b/x"]), LINK_TARGETS), max_size=6),
    path=st.lists(NAMES, max_size=8).map(lambda p: "/" + "/".join(p)),
)
def test_random_link_trees_never_escape(tmp_path_factory, links, path):
    root = tmp_path_factory.mktemp("root")
    for d in ("a", "b", "c"):
        (root / d).mkdir()
    for name, target in links:
        p = root / name
        if not os.path.lexists(p):
            os.symlink(target, p)
    view = ContainerView(str(root))
    try:
        host = view.host_path(path)
    except InvalidParameter:  # a loop
        return
    assert os.path.commonpath([str(root), host]) == str(root)
    resolved = view.resolve(path)
    assert resolved.startswith("/") and ".." not in resolved.split("/")
