"""Reference normalisation and dockerd's ID/name/prefix lookup."""

from __future__ import annotations

import pytest

from shim.engine import refs
from shim.errors import InvalidParameter

HEX_A = "a" * 63 + "1"
HEX_B = "ab" + "0" * 62


@pytest.mark.parametrize(
    "given,canonical,familiar",
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:c", "localhost:5000/a/b:c", "localhost:5000/a/b:c"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest"),
        ("busybox@sha256:" + "c" * 64, "docker.io/library/busybox@sha256:" + "c" * 64, "busybox@sha256:" + "c" * 64),
    ],
)
def test_normalise(given, canonical, familiar):
    ref = refs.parse_image_ref(given).with_default_tag()
    assert ref.canonical == canonical
    assert ref.familiar == familiar


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("Busybox", "repository name must be lowercase"),
        ("busybox:", "invalid reference format"),
        ("bad name", "invalid reference format"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("x:" + "t" * 200, "invalid reference format"),
    ],
)
def test_invalid(bad, msg):
    with pytest.raises(InvalidParameter, match=msg):
        refs.parse_image_ref(bad)


def test_uppercase_tag_is_fine():
    assert refs.parse_image_ref("busybox:V1").tag == "V1"


def test_parse_repo_tag():
    assert refs.parse_repo_tag("docker.io/library/rectag", "1").familiar == "rectag:1"
    assert refs.parse_repo_tag("recimport:1", "").familiar == "recimport:1"  # import puts the tag in repo
    assert refs.parse_repo_tag("x", None).familiar == "x:latest"
    with pytest.raises(InvalidParameter):
        refs.parse_repo_tag("x", "bad tag")


ENTRIES = [(HEX_A, ["/one", "one"]), ("sha256:" + HEX_B, ["two"])]


def test_lookup_order():
    assert refs.lookup(HEX_A, ENTRIES) == HEX_A
    assert refs.lookup("sha256:" + HEX_A, ENTRIES) == HEX_A
    assert refs.lookup("one", ENTRIES) == HEX_A
    assert refs.lookup("two", ENTRIES) == "sha256:" + HEX_B
    assert refs.lookup("aaa", ENTRIES) == HEX_A
    assert refs.lookup("sha256:ab", ENTRIES) == "sha256:" + HEX_B


def test_lookup_name_beats_prefix():
    entries = [(HEX_A, []), (HEX_B, ["aaa"])]
    assert refs.lookup("aaa", entries) == HEX_B


def test_lookup_ambiguous_and_missing():
    with pytest.raises(refs.RefAmbiguous, match="Multiple IDs found with provided prefix: a"):
        refs.lookup("a", ENTRIES)
    with pytest.raises(refs.RefNotFound):
        refs.lookup("nosuch", ENTRIES)
    with pytest.raises(refs.RefNotFound):
        refs.lookup("", ENTRIES)
    with pytest.raises(refs.RefNotFound):
        refs.lookup("c", ENTRIES)


@pytest.mark.parametrize(
    "pattern,ref,ok",
    [
        ("busybox", "docker.io/library/busybox:latest", True),
        ("busybox:latest", "docker.io/library/busybox:latest", True),
        ("busy*", "docker.io/library/busybox:latest", True),
        ("busybox:1*", "docker.io/library/busybox:latest", False),
        ("alpine", "docker.io/library/busybox:latest", False),
        ("*", "docker.io/user/app:v1", False),  # * does not cross "/" (path.Match)
        ("*/*", "docker.io/user/app:v1", True),
    ],
)
def test_familiar_match(pattern, ref, ok):
    assert refs.familiar_match(pattern, ref) is ok
