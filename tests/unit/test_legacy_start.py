"""translate/legacy.py: which start bodies count, and what they become (dockerd 20.10 postContainersStart)."""

import pytest

from shim.errors import InvalidParameter
from shim.translate.legacy import BODY_ON_START, body_counts, check_content_type, start_host_config
from shim.translate.versions import Version

V121, V124, V141 = Version(1, 21), Version(1, 24), Version(1, 41)


@pytest.mark.parametrize(
    "length,chunked,counts",
    [
        (0, False, False),
        (2, False, False),
        (7, False, False),
        (8, False, True),
        (None, True, True),
        (None, False, False),
    ],
)
def test_body_counts(length, chunked, counts):
    assert body_counts(length, chunked) is counts


def test_from_124_any_counted_body_is_400():
    for v in (V124, V141):
        with pytest.raises(InvalidParameter, match=BODY_ON_START):
            start_host_config(v, 12, False, "application/json", b'{"Binds":[]}')
    with pytest.raises(InvalidParameter, match=BODY_ON_START):
        start_host_config(V141, None, True, "", b"{}")
    assert start_host_config(V141, 2, False, "application/json", b"{}") is None


def test_content_type():
    check_content_type("")
    check_content_type("application/json; charset=utf-8")
    with pytest.raises(InvalidParameter, match=r"Content-Type specified \(text/plain\) must be 'application/json'"):
        start_host_config(V121, 20, False, "text/plain", b'{"Binds":["/a:/b"]}')


def test_bare_and_wrapped_host_config():
    hc = start_host_config(V121, 40, False, "application/json", b'{"Binds":["/a:/b:ro"]}')
    assert hc == {"Binds": ["/a:/b:ro"], "NetworkMode": "default"}
    hc = start_host_config(V121, 40, False, "", b'{"HostConfig":{"NetworkMode":"none"}}')
    assert hc == {"NetworkMode": "none"}
    # dockerd 20.10 answers 500 here; a client's malformed body is a 400 in shimd (issue 16)
    with pytest.raises(InvalidParameter, match="invalid JSON"):
        start_host_config(V121, 40, False, "", b"{bad json")
