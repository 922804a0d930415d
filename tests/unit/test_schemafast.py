"""api/schemafast.py: its *yes* is always jsonschema's (the judge of validate.py), for every schema."""

from __future__ import annotations

import decimal
import json
import subprocess
import sys
from importlib import resources
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.api import schemafast
from shim.api import validate as v
from shim.errors import InvalidParameter
from tests.unit.test_hostile_properties import _from_schema

SCHEMAS = sorted(
    p.name.removesuffix(".json")
    for p in resources.files("shim.api").joinpath("schemas").iterdir()
    if p.name.endswith(".json")
)

# what the docker CLI 28.2 sends for `docker run -d --name recd -p 127.0.0.1:18080:80 -e A=1 -v recvol:/data
# --restart on-failure:2 --memory 64m busybox sleep 300` (reference traffic 03-run-detached)
CLI_CREATE: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "ExposedPorts": {"80/tcp": {}}, "Tty": False, "OpenStdin": False, "StdinOnce": False,
    "Env": ["A=1"], "Cmd": ["sleep", "300"], "Image": "busybox", "Volumes": {}, "WorkingDir": "",
    "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": ["recvol:/data"], "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "AutoRemove": False,
        "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None, "CapDrop": None,
        "CgroupnsMode": "", "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None,
        "IpcMode": "", "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
        "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 0, "Isolation": "", "CpuShares": 0, "Memory": 67108864, "NanoCpus": 0, "CgroupParent": "",
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
        "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": -1, "OomKillDisable": False, "PidsLimit": 0, "Ulimits": [], "CpuCount": 0,
        "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
    },
    "NetworkingConfig": {
        "EndpointsConfig": {
            "default": {
                "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": None,
            }
        }
    },
}  # fmt: skip


def _accepted_by_jsonschema(obj: Any, name: str) -> bool:
    return next(iter(v._validator(name).iter_errors(obj)), None) is None


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_schema_is_a_valid_schema_and_gets_a_fast_check(name: str) -> None:
    schema = v._schema(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert v._fast(name) is not None  # else every body of it walks jsonschema


def test_the_clis_create_body_is_accepted_without_jsonschema() -> None:
    fast = v._fast("container_create")
    assert fast is not None and fast(CLI_CREATE) and _accepted_by_jsonschema(CLI_CREATE, "container_create")


@pytest.mark.parametrize(
    "schema,yes,no",
    [
        ({"type": "integer"}, [0, -1, 2**70], [True, 1.0, "1", None]),
        ({"type": "number"}, [0, 1.5, -2], [False, "1", None]),
        ({"type": ["string", "null"]}, ["", None], [0, [], {}]),
        ({"type": "boolean"}, [True, False], [0, 1, None]),
        ({"type": "integer", "goType": "uint16"}, [0, 65535], [-1, 65536]),
        ({"goType": "int32"}, ["x", None, 1.5, 2**31 - 1], [2**31]),  # goType judges integers only
        ({"minimum": 0, "maximum": 10}, [0, 10, 5.5, "99", True], [-1, 10.5]),
        ({"maxItems": 2}, [[], [1, 2], "abc"], [[1, 2, 3]]),
        ({"items": {"type": "string"}}, [[], ["a"], 5], [[1], ["a", None]]),
        ({"items": False}, [[]], [[1]]),
        ({"required": ["A"]}, [{"A": 1}, "x"], [{}, {"B": 1}]),
        ({"properties": {"A": {"type": "string"}}}, [{}, {"A": "x", "B": 1}, 3], [{"A": 1}]),
        ({"properties": {"A": {}}, "additionalProperties": False}, [{}, {"A": 1}], [{"B": 1}]),
        ({"additionalProperties": {"type": "integer"}}, [{"a": 1}, []], [{"a": "1"}]),
        ({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}, ["a", ["a"]], [1, [1]]),
        ({"title": "annotations only"}, [0, "x", None], []),
        (True, [1, None], []),
        (False, [], [1, None]),
    ],
)
def test_each_keyword_answers_as_jsonschema(schema: Any, yes: list[Any], no: list[Any]) -> None:
    fast = schemafast.compile_schema(schema, v.GO_INTS)
    assert fast is not None
    judge = _judge_for(schema)
    for x in yes:
        assert fast(x) and judge(x), x
    for x in no:
        assert not fast(x) and not judge(x), x


def _judge_for(schema: Any) -> Any:
    """validate.py's jsonschema validator class on an inline schema."""
    cls = type(v._validator("container_create"))
    validator = cls(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return lambda x: next(iter(validator.iter_errors(x)), None) is None


class _Int(int):
    pass


@pytest.mark.parametrize("x", [(1, 2), decimal.Decimal(1), _Int(1), 1 + 2j])
def test_values_no_json_decoder_makes_go_to_jsonschema(x: Any) -> None:
    for schema in ({"type": ["integer", "number", "array", "string"]}, {"minimum": 0}, {"properties": {}}, {}):
        fast = schemafast.compile_schema(schema, v.GO_INTS)
        assert fast is not None and not fast(x)
    # inside a value a schema accepts whole (`true`, an additionalProperties left out), as jsonschema does
    fast = schemafast.compile_schema({"type": "object", "properties": {"A": {"type": "string"}}}, v.GO_INTS)
    assert fast is not None and fast({"B": x})


@pytest.mark.parametrize(
    "schema", [{"$ref": "#/x"}, {"pattern": "a"}, {"format": "ipv4"}, {"type": "intgr"}, {"goType": "int128"}]
)
def test_keywords_it_does_not_know_leave_every_body_to_jsonschema(schema: Any) -> None:
    assert schemafast.compile_schema({"type": "object", "properties": {"A": schema}}, v.GO_INTS) is None


def test_a_schema_without_a_fast_check_is_judged_by_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "_fast", lambda name: None)
    v.validate(CLI_CREATE, "container_create")
    with pytest.raises(InvalidParameter, match=r"invalid parameter HostConfig\.Memory"):
        v.validate({"HostConfig": {"Memory": "lots"}}, "container_create")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _places(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, val in obj.items():
            out += _places(val, (*path, k))
    elif isinstance(obj, list):
        for i, val in enumerate(obj):
            out += _places(val, (*path, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    copy[path[0]] = _replace(obj[path[0]], path[1:], new)
    return copy


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SCHEMAS), st.data())
def test_drawn_and_mutated_bodies_get_jsonschemas_verdict(name: str, data: st.DataObject) -> None:
    body = data.draw(_from_schema(v._schema(name)))
    fast = v._fast(name)
    assert fast is not None
    # drawn from the schema (valid but for its `required` fields, which the drawing leaves out)
    assert fast(body) == _accepted_by_jsonschema(body, name)
    for _ in range(4):  # a value anywhere replaced by any JSON value: valid or not, the same verdict
        where = data.draw(st.sampled_from(_places(body)))
        body = _replace(body, where, data.draw(JSON))
        assert fast(body) == _accepted_by_jsonschema(body, name), (where, body)


PROBE = """
import json, sys
from shim.api.validate import validate
from shim.errors import InvalidParameter
validate(json.loads(sys.argv[1]), "container_create")
before = "jsonschema" in sys.modules
try:
    validate({"Image": 5}, "container_create")
except InvalidParameter as e:
    message = str(e)
print(json.dumps({"before": before, "after": "jsonschema" in sys.modules, "message": message}))
"""


def test_valid_bodies_leave_jsonschema_unloaded_a_wrong_one_gets_its_words() -> None:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(CLI_CREATE)], capture_output=True, text=True, timeout=120, check=True
    )
    out = json.loads(r.stdout)
    message = "invalid parameter Image: 5 is not of type 'string', 'null'"
    assert out == {"before": False, "after": True, "message": message}
