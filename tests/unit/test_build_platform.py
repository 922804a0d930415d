"""The build's platform specifiers, read as containerd's platforms.Parse."""

from __future__ import annotations

import pytest

from shim.engine.build import platform as pf
from shim.errors import InvalidParameter


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("linux", "linux/amd64"),
        ("linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64"),
        ("Linux/AMD64", "linux/amd64"),
        ("linux/arm64/v8", "linux/arm64/v8"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/armhf", "linux/arm/v7"),
        ("arm64", "linux/arm64"),
        ("windows/amd64", "windows/amd64"),
    ],
)
def test_parse(spec, want):
    assert str(pf.parse(spec, "amd64")) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "lin ux/a//b",
            '"lin ux" is an invalid component of "lin ux/a//b": platform specifier component must match '
            '"^[A-Za-z0-9_-]+$": invalid argument',
        ),
        ("linux/", '"" is an invalid component of "linux/"'),
        ("a/b/c/d", '"a/b/c/d": cannot parse platform specifier: invalid argument'),
        ("frobnix", '"frobnix": unknown operating system or architecture: invalid argument'),
    ],
)
def test_parse_errors(spec, message):
    with pytest.raises(InvalidParameter) as e:
        pf.parse(spec, "amd64")
    assert e.value.message.startswith(message)


def test_matches_and_message():
    amd64 = pf.image_platform({"os": "linux", "architecture": "amd64"})
    assert pf.matches(pf.parse("linux/amd64", "amd64"), amd64)
    assert pf.matches(pf.parse("linux", "amd64"), amd64)
    arm = pf.image_platform({"os": "linux", "architecture": "arm64", "variant": "v8"})
    assert pf.matches(pf.parse("linux/arm64", "amd64"), arm)
    assert not pf.matches(pf.parse("linux/arm64/v7", "amd64"), arm)
    want = pf.parse("linux/arm64", "amd64")
    assert not pf.matches(want, amd64)
    assert pf.mismatch("busybox", want, amd64) == (
        "image with reference busybox was found but its platform (linux/amd64) does not match the "
        "specified platform (linux/arm64)"
    )
