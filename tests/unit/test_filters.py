"""shim/filters.py: dockerd's filters.Args — both query shapes, accepted keys, matchers, typed values."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim import filters as flt
from shim.errors import InvalidParameter
from shim.filters import Filters
from shim.times import parse_rfc3339_nano

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz!-", min_size=1, max_size=8)
VALUES = st.lists(st.text(max_size=12), max_size=4, unique=True)


@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_both_shapes_parse_to_the_same_filters(fields):
    """The CLI's map of value->true and docker-py's map of lists are the same question."""
    as_lists = Filters.parse(json.dumps(fields))
    as_bools = Filters.parse(json.dumps({k: dict.fromkeys(v, True) for k, v in fields.items()}))
    assert as_lists == as_bools == fields
    for key, values in fields.items():
        assert as_lists.get(key) == values and as_lists.has(key)


@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_roundtrip_through_to_dict(fields):
    f = Filters(fields)
    assert Filters(f.to_dict()) == f and len(f) == len(fields) and sorted(f.keys()) == sorted(fields)


def test_shapes_and_strictness():
    assert Filters.parse(None) == {} and Filters.parse("") == {}
    assert Filters.parse('{"dangling":{"true":true,"false":false}}') == {"dangling": ["true"]}
    assert Filters.parse('{"label":["a","a"]}').get("label") == ["a"]  # a set, as dockerd's
    assert Filters.parse('{"label":[]}').has("label") and Filters.parse('{"label":[]}').get("label") == []
    assert Filters().get("nothing") == [] and not Filters().has("nothing")
    # dockerd's FromJSON: neither a map of booleans nor a map of lists of strings
    for bad in ("{bad", "[1]", '{"a": 3}', '"x"', '{"label":"a=b"}', '{"id":[5]}', '{"a":{"x":"yes"}}', "[" * 5000):
        with pytest.raises(InvalidParameter, match="invalid filter"):
            Filters.parse(bad)


def test_of_keeps_a_filters_and_wraps_a_mapping():
    f = Filters({"a": ["1"]})
    assert Filters.of(f) is f
    assert Filters.of({"a": ["1"]}) == f and Filters.of(None) == {}
    f.add("a", "2")
    f.add("b", "x")
    assert f == {"a": ["1", "2"], "b": ["x"]}


def test_validate_uses_dockerds_wording():
    Filters({"label": ["a"]}).validate(flt.VOLUME_LIST)
    with pytest.raises(InvalidParameter) as e:
        Filters({"label": ["a"], "bogus": ["1"]}).validate(flt.VOLUME_LIST)
    assert str(e.value) == "Invalid filter 'bogus'"


def test_every_matcher_is_true_without_values():
    f = Filters({"empty": []})
    for key in ("empty", "absent"):
        assert f.exact(key, "x") and f.match(key, "x") and f.fuzzy(key, "x") and f.substring(key, "x")
        assert f.labels({}, key) and f.not_labels({}, key)


def test_matchers():
    f = Filters({"name": ["^/we", "b[ad"], "id": ["abc"], "driver": ["local"]})
    assert f.match("name", "/web") and not f.match("name", "/nope")
    assert f.match("name", "/ab[adx")  # an invalid expression is looked for as text
    assert f.fuzzy("id", "abcdef") and not f.fuzzy("id", "xabc")
    assert f.substring("id", "xabcx") and not f.substring("id", "ab")
    assert f.exact("driver", "local") and not f.exact("driver", "loc")


def test_labels_are_anded_and_label_not_drops_on_any():
    f = Filters({"label": ["a", "b=2"], "label!": ["x", "y=1"]})
    assert f.labels({"a": "", "b": "2"}) and not f.labels({"a": ""}) and not f.labels({"a": "", "b": "3"})
    assert f.not_labels({"a": ""}) and not f.not_labels({"x": "anything"}) and not f.not_labels({"y": "1"})
    assert f.not_labels({"y": "2"})


@pytest.mark.parametrize(
    "values, expected",
    [(["true"], True), (["1"], True), (["TRUE"], True), (["false"], False), (["0"], False), ([], None)],
)
def test_bool(values, expected):
    assert Filters({"dangling": values}).bool("dangling") is expected
    assert Filters().bool("dangling") is None


@pytest.mark.parametrize("values", [["maybe"], ["true", "false"], ["1", "maybe", "0"]])
def test_bool_refuses_as_dockerd(values):
    with pytest.raises(InvalidParameter) as e:
        Filters({"dangling": values}).bool("dangling")
    assert str(e.value) == f"Invalid filter 'dangling=[{' '.join(values)}]'"


def test_until_uses_dockerds_timestamp_grammar():
    now = parse_rfc3339_nano("2020-01-02T03:04:05Z")
    assert Filters().until(now) is None
    assert Filters({"until": ["10m"]}).until(now) == now - 600 * 10**9
    assert Filters({"until": ["2020-01-01T00:00:00Z"]}).until(now) == parse_rfc3339_nano("2020-01-01T00:00:00Z")
    assert Filters({"until": ["1577836800.5"]}).until(now) == 1577836800_500_000_000
    assert Filters({"until": ["1h", "2h"]}).times("until", now) == [now - 3600 * 10**9, now - 7200 * 10**9]
    with pytest.raises(InvalidParameter, match="more than one until filter specified"):
        Filters({"until": ["1h", "2h"]}).until(now)
    with pytest.raises(InvalidParameter, match="failed to parse value as time or duration"):
        Filters({"until": ["soon"]}).until(now)


async def test_every_endpoint_refuses_an_unknown_key_in_one_wording(tmp_path):
    """ps, container/network/volume/image list and prune: the same 400 as dockerd 20.10."""
    from shim.engine.events import Events
    from shim.engine.images import ImageService
    from shim.engine.store import Store
    from shim.engine.volumes import VolumeService
    from shim.runtime.layers import LayerStore
    from shim.translate import filters as tf
    from shim.translate import networks as tn

    bogus = {"bogus": ["1"]}
    images = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=Events())
    volumes = VolumeService(store=Store(tmp_path), events=Events(), fs=None)  # type: ignore[arg-type]
    calls = [
        lambda: tf.ps_filter(bogus),
        lambda: tf.prune_filter(bogus, 0),
        lambda: tn.list_filter(bogus, lambda n: False),
        lambda: tn.prune_filter(bogus, 0),
        lambda: volumes.list(bogus),
        lambda: images.list(filters=bogus),
    ]
    for call in calls:
        with pytest.raises(InvalidParameter) as e:
            call()
        assert str(e.value) == "Invalid filter 'bogus'"
    for coro in (volumes.prune(bogus), images.prune(bogus)):
        with pytest.raises(InvalidParameter) as e:
            await coro
        assert str(e.value) == "Invalid filter 'bogus'"
