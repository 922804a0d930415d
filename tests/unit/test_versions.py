import pytest

from shim.errors import InvalidParameter
from shim.translate.versions import MAX_VERSION, MIN_VERSION, Version, check_supported, errors_as_text


@pytest.mark.parametrize("text,expected", [("1.12", Version(1, 12)), ("1.50", Version(1, 50)), ("1.9", Version(1, 9))])
def test_parse(text, expected):
    assert Version.parse(text) == expected


def test_ordering_is_numeric_not_lexical():
    assert Version.parse("1.9") < Version.parse("1.12") < Version.parse("1.50")
    assert Version.parse("1.41").ge("1.24") and Version.parse("1.23").lt("1.24")


@pytest.mark.parametrize("bad", ["1", "v1.41", "1.x", "", "1.41.0"])
def test_parse_rejects_garbage(bad):
    with pytest.raises(InvalidParameter):
        Version.parse(bad)


def test_range_messages_are_dockerds():
    assert (Version(1, 12), Version(1, 56)) == (MIN_VERSION, MAX_VERSION)
    with pytest.raises(InvalidParameter) as e:
        check_supported(Version(1, 57))
    assert str(e.value) == "client version 1.57 is too new. Maximum supported API version is 1.56"
    with pytest.raises(InvalidParameter) as e:
        check_supported(Version(1, 11))
    assert str(e.value) == (
        "client version 1.11 is too old. Minimum supported API version is 1.12, "
        "please upgrade your client to a newer version"
    )
    check_supported(Version(1, 12))
    check_supported(Version(1, 50))


def test_plain_text_errors_below_1_24():
    assert errors_as_text(Version(1, 23)) and not errors_as_text(Version(1, 24))
