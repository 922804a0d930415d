"""Request bodies are checked against our JSON Schemas: a 400 that names the field."""

import functools

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


async def test_a_body_that_passed_is_not_walked_again_a_failing_one_always(aiohttp_client, monkeypatch):
    """Issue 17: the same create body again (every `docker run` of one command line) skips the schema
    walk; a body that failed is checked, and refused with its 400, every time; few digests are kept."""
    from aiohttp import web

    from shim.api import validate as v

    walked: list[object] = []
    real = v.check

    async def counting(obj, name):
        walked.append(obj)
        await real(obj, name)

    monkeypatch.setattr(v, "check", counting)
    monkeypatch.setattr(v, "_PASSED", type(v._PASSED)())

    async def handler(request):
        try:
            await v.json_body(request, "container_create")
        except InvalidParameter as e:
            return web.Response(status=400, text=e.message)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/c", handler)
    client = await aiohttp_client(app)
    post = functools.partial(client.post, "/c", headers={"Content-Type": "application/json"})
    good, bad = b'{"Image": "busybox", "Cmd": ["true"]}', b'{"Image": 5}'
    for _ in range(3):
        assert (await post(data=good)).status == 200
    assert len(walked) == 1
    for _ in range(2):
        r = await post(data=bad)
        assert r.status == 400 and "invalid parameter Image" in await r.text()
    assert len(walked) == 3
    for i in range(v.PASSED_KEPT):  # as many other bodies: the first one's digest is dropped
        assert (await post(data=b'{"Image": "busybox", "Cmd": ["%d"]}' % i)).status == 200
    walked.clear()
    assert (await post(data=good)).status == 200
    assert len(walked) == 1 and len(v._PASSED) == v.PASSED_KEPT
