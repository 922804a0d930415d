"""Property tests of the parsers a client's input goes through (issue 16): whatever the input, each
parser answers a value or a ShimError with a message (a 4xx), never another exception (a 500).

References, filters, port specs, durations and timestamps, names and paths, cpusets, bounded JSON,
tar member names; and the whole create validation pass on bodies drawn from the request schema.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim import jsonin, times
from shim.api.validate import GO_INTS, validate
from shim.engine import containerconfig as cc
from shim.engine import refs, validation
from shim.engine.validation import names
from shim.engine.validation.ports import check_bindings, parse_host_port, parse_port_key
from shim.engine.validation.resources import parse_uint_list
from shim.errors import InvalidParameter, NotFound, ShimError
from shim.filters import Filters
from shim.runtime.tarsafe import clean_member_name

TEXT = st.text(max_size=80)
HOSTILE_TEXT = st.one_of(
    TEXT,
    st.text(alphabet=string.printable + "\x00\u0663\u00e9/.-_:", max_size=80),
    st.sampled_from(["", "-", "0", "65536", "1-0", "٨٠", "+1", " 1", "1_0", "\x00", "a" * 300, "/" * 5000]),
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------- ports
@FAST
@given(HOSTILE_TEXT)
def test_port_key_parses_or_refuses(key):
    try:
        first, last, proto = parse_port_key(key)
    except InvalidParameter as e:
        assert e.message
        return
    assert 1 <= first <= last <= 65535 and proto in ("tcp", "udp", "sctp")


@FAST
@given(st.integers(1, 65535), st.integers(0, 100), st.sampled_from(["tcp", "udp", "sctp", "TCP", ""]))
def test_port_key_round_trip(first, extra, proto):
    last = min(65535, first + extra)
    key = f"{first}-{last}" if last != first else str(first)
    key += f"/{proto}" if proto else ""
    assert parse_port_key(key) == (first, last, (proto or "tcp").lower())


@FAST
@given(HOSTILE_TEXT)
def test_host_port_parses_or_refuses(raw):
    try:
        lo, hi = parse_host_port(raw)
    except InvalidParameter:
        return
    assert 0 <= lo <= hi <= 65535


@FAST
@given(
    st.dictionaries(
        HOSTILE_TEXT, st.lists(st.fixed_dictionaries({"HostIp": HOSTILE_TEXT, "HostPort": HOSTILE_TEXT})), max_size=3
    )
)
def test_port_bindings_check_or_refuse(bindings):
    try:
        check_bindings(bindings)
    except InvalidParameter as e:
        assert e.message


# ---------------------------------------------------------------------------------------- names and paths
@FAST
@given(HOSTILE_TEXT)
def test_container_names_follow_one_rule(name):
    try:
        bare = names.container_name(name)
    except InvalidParameter as e:
        assert "Invalid container name" in e.message
        return
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", bare) and len(bare.encode()) <= 255


@FAST
@given(HOSTILE_TEXT)
def test_volume_and_network_names_follow_the_same_rule(name):
    for check in (names.volume_name, names.network_name):
        try:
            check(name)
        except InvalidParameter:
            continue
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name) and len(name.encode()) <= 255 and "\x00" not in name


@FAST
@given(HOSTILE_TEXT)
def test_paths_never_reach_the_filesystem_with_a_nul_or_too_long(path):
    try:
        assert names.path(path, "path") == path
    except InvalidParameter:
        return
    assert "\x00" not in path and len(path.encode()) < 4096
    assert all(len(part.encode()) <= 255 for part in path.split("/"))


# ---------------------------------------------------------------------------------------- references
@FAST
@given(HOSTILE_TEXT)
def test_image_references_parse_or_refuse(text):
    try:
        ref = refs.parse_image_ref(text)
    except InvalidParameter as e:
        assert e.message
        return
    assert ref.canonical and refs.parse_image_ref(ref.canonical).canonical == ref.canonical


# ---------------------------------------------------------------------------------------- filters
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


@FAST
@given(st.one_of(JSONISH.map(json.dumps), HOSTILE_TEXT))
def test_filters_parse_or_refuse_with_dockerds_wording(raw):
    try:
        f = Filters.parse(raw)
    except InvalidParameter as e:
        assert e.message.lower().startswith("invalid filter")
        return
    for key in f:
        assert all(isinstance(v, str) for v in f.get(key))


# ---------------------------------------------------------------------------------------- durations, times
@FAST
@given(HOSTILE_TEXT)
def test_durations_and_timestamps_parse_or_refuse(text):
    try:
        times.parse_duration(text)  # Go's time.ParseDuration: ValueError with Go's words, its callers wrap it
    except ValueError as e:
        assert str(e).startswith("time: ")
    for parse in (lambda t: times.parse_unix_timestamp(t, "since"), lambda t: times.parse_time(t, 0)):
        try:
            parse(text)
        except InvalidParameter as e:
            assert e.message


# ---------------------------------------------------------------------------------------- cpusets
@FAST
@given(HOSTILE_TEXT)
def test_cpuset_lists_parse_or_refuse(text):
    try:
        cpus = parse_uint_list(text, 8192)
    except ValueError as e:
        assert str(e)
        return
    assert all(0 <= c <= 8192 for c in cpus)


# ---------------------------------------------------------------------------------------- bounded JSON
@FAST
@given(st.one_of(st.binary(max_size=200), HOSTILE_TEXT, st.integers(1, 3000).map(lambda n: "[" * n + "]" * n)))
def test_bounded_json_parses_or_refuses(raw):
    try:
        obj = jsonin.loads(raw)
    except InvalidParameter as e:
        assert e.message.startswith("invalid JSON")
        return
    assert jsonin.depth_ok(obj)


@FAST
@given(JSONISH)
def test_bounded_json_round_trips_what_json_allows(obj):
    assert jsonin.loads(json.dumps(obj)) == obj


# ---------------------------------------------------------------------------------------- tar member names
@FAST
@given(st.lists(st.sampled_from(["..", ".", "", "a", "b", "/", "..."]), max_size=8).map("/".join))
def test_tar_member_names_stay_inside(name):
    try:
        rel = clean_member_name(name, "/target")
    except ShimError:
        return
    assert not rel.startswith("/") and ".." not in rel.split("/")


# ---------------------------------------------------------------------------------------- the create pass
def _from_schema(node: dict) -> st.SearchStrategy:
    """Values a JSON schema of shim/api/schemas accepts (types, Go integer widths, nested shapes)."""
    if "anyOf" in node:
        return st.one_of([_from_schema(sub) for sub in node["anyOf"]])
    types = node.get("type") or ["object"]
    types = [types] if isinstance(types, str) else types
    options = []
    for t in types:
        if t == "null":
            options.append(st.none())
        elif t == "string":
            options.append(HOSTILE_TEXT)
        elif t == "boolean":
            options.append(st.booleans())
        elif t == "integer":
            lo, hi = GO_INTS.get(node.get("goType", "int64"), GO_INTS["int64"])
            lo = max(lo, node.get("minimum", lo))
            hi = min(hi, node.get("maximum", hi))
            options.append(
                st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, -1, 1] if lo < 0 else [lo, hi, 0, 1]))
            )
        elif t == "array":
            items = node.get("items") or {"type": "string"}
            options.append(st.lists(_from_schema(items), max_size=min(3, node.get("maxItems", 3))))
        elif t == "object":
            props = node.get("properties") or {}
            extra = node.get("additionalProperties")
            fixed = {k: _from_schema(v) for k, v in props.items()}
            obj = st.fixed_dictionaries({}, optional=fixed) if fixed else st.just({})
            if isinstance(extra, dict):
                obj = st.tuples(obj, st.dictionaries(HOSTILE_TEXT, _from_schema(extra), max_size=2)).map(
                    lambda pair: {**pair[1], **pair[0]}
                )
            options.append(obj)
    return st.one_of(options) if options else st.none()


def _schema(name: str) -> dict:
    from importlib import resources

    return json.loads(resources.files("shim.api").joinpath("schemas", f"{name}.json").read_text())


CREATE = _schema("container_create")


def _lookup(ref: str):
    raise NotFound(f"No such container: {ref}")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    _from_schema(CREATE["properties"]["HostConfig"]),
    _from_schema(
        {
            **CREATE,
            "properties": {
                k: v for k, v in CREATE["properties"].items() if k not in ("HostConfig", "NetworkingConfig")
            },
        }
    ),
)
def test_create_pass_on_schema_valid_bodies_answers_or_refuses(hc, config):
    """A body the schema accepts never makes the validation pass fail with anything but a 4xx."""
    hc, config = hc or {}, config or {}
    validate({**config, "HostConfig": hc}, "container_create")  # drawn from the schema: it accepts them
    try:
        validation.container_create(
            cc.normalize_config(config), cc.normalize_host_config(hc), validation.HostLimits(ncpu=2), _lookup
        )
    except ShimError as e:
        assert 400 <= e.status < 500 and e.message


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_from_schema(_schema("container_update")))
def test_update_pass_answers_or_refuses(body):
    hc = cc.normalize_host_config(body or {})
    try:
        validation.container_update(hc, validation.HostLimits(ncpu=2))
    except ShimError as e:
        assert 400 <= e.status < 500 and e.message


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_from_schema(_schema("exec_create")))
def test_exec_pass_answers_or_refuses(body):
    try:
        validation.exec_create(body or {})
    except ShimError as e:
        assert 400 <= e.status < 500 and e.message


@pytest.mark.parametrize(
    "hc,message",
    [
        ({"CpusetCpus": "0-63"}, "Requested CPUs are not available - requested 0-63, available: 0-1"),
        ({"CpuShares": -5}, "invalid CpuShares: -5 (must not be negative)"),
        ({"PidMode": "bogus"}, "invalid PID mode: bogus"),
        ({"NetworkMode": "container:gone"}, "invalid NetworkMode: No such container: gone"),
        ({"CapAdd": ["CAP_FOO"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"LogConfig": {"Type": "foo"}}, 'error looking up logging plugin foo: plugin "foo" not found'),
        ({"Sysctls": {"kernel.panic": "1"}}, 'sysctl "kernel.panic" is not in a separate kernel namespace'),
    ],
)
def test_create_pass_names_the_field_in_dockerds_words(hc, message):
    limits = validation.HostLimits(ncpu=2, cpus="0-1", capabilities=("CAP_CHOWN",))
    with pytest.raises(InvalidParameter) as e:
        validation.container_create({}, cc.normalize_host_config(hc), limits, _lookup)
    assert e.value.message == message
