import pytest

from shim.api.params import parse_bool, parse_filters
from shim.errors import InvalidParameter


@pytest.mark.parametrize(
    "raw,expected",
    [("1", True), ("true", True), ("True", True), ("0", False), ("false", False), ("False", False), (None, False)],
)
def test_three_boolean_spellings(raw, expected):
    assert parse_bool(raw) is expected


def test_bad_boolean():
    with pytest.raises(InvalidParameter):
        parse_bool("maybe")


def test_filters_both_shapes_agree():
    assert parse_filters('{"label":{"a=b":true,"c":true},"status":{"exited":true}}') == {
        "label": ["a=b", "c"],
        "status": ["exited"],
    }
    assert parse_filters('{"label":["a=b","c"],"status":["exited"]}') == {"label": ["a=b", "c"], "status": ["exited"]}


def test_filters_map_false_values_are_dropped():
    assert parse_filters('{"dangling":{"true":true,"false":false}}') == {"dangling": ["true"]}


@pytest.mark.parametrize("raw", ["{bad", "[1]", '{"a": 3}'])
def test_malformed_filters_are_400(raw):
    with pytest.raises(InvalidParameter):
        parse_filters(raw)
