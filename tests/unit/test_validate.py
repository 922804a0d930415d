"""Request bodies are checked against our JSON Schemas: a 400 that names the field."""

import pytest

from shim.api.validate import validate
from shim.errors import InvalidParameter


@pytest.mark.parametrize(
    "body,field",
    [
        ({"Image": "busybox", "HostConfig": {"Memory": "lots"}}, "HostConfig.Memory"),
        ({"Image": 5}, "Image"),
        ({"Image": "busybox", "Env": "A=1"}, "Env"),
        ({"Image": "busybox", "HostConfig": {"Binds": "/a:/b"}}, "HostConfig.Binds"),
    ],
)
def test_wrong_type_names_the_field(body, field):
    with pytest.raises(InvalidParameter) as e:
        validate(body, "container_create")
    assert e.value.status == 400
    assert f"invalid parameter {field}" in str(e.value)


def test_unknown_fields_and_newer_fields_are_tolerated():
    # The CLI sends fields newer than the negotiated version (GwPriority, DNSNames...).
    validate(
        {
            "Image": "busybox",
            "Cmd": "echo hi",
            "NoSuchField": {"x": 1},
            "NetworkingConfig": {"EndpointsConfig": {"default": {"GwPriority": 0, "DNSNames": None}}},
        },
        "container_create",
    )
