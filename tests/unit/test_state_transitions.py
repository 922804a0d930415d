"""engine/state.py: the transition table answers 409 / 304 with dockerd's words."""

import pytest

from shim.engine.state import Status, check
from shim.errors import Conflict, NotModified

CID = "c" * 64


@pytest.mark.parametrize(
    "status,action,to",
    [
        ("created", "start", Status.RUNNING),
        ("exited", "start", Status.RUNNING),
        ("running", "pause", Status.PAUSED),
        ("paused", "unpause", Status.RUNNING),
        ("running", "stop", Status.EXITED),
        ("exited", "remove", Status.REMOVING),
    ],
)
def test_allowed(status, action, to):
    assert check(status, action, CID) == to


@pytest.mark.parametrize(
    "status,action,exc,msg",
    [
        ("running", "start", NotModified, ""),
        ("paused", "start", Conflict, "cannot start a paused container, try unpause instead"),
        ("dead", "start", Conflict, "container is marked for removal and cannot be started"),
        ("removing", "start", Conflict, "container is marked for removal and cannot be started"),
        ("exited", "stop", NotModified, ""),
        ("exited", "pause", Conflict, f"Container {CID} is not running"),
        ("paused", "pause", Conflict, f"Container {CID} is already paused"),
        ("running", "unpause", Conflict, f"Container {CID} is not paused"),
        (
            "running",
            "remove",
            Conflict,
            f"You cannot remove a running container {CID}. Stop the container before "
            "attempting removal or force remove",
        ),
        ("created", "resize", Conflict, f"Container {CID} is not running"),
    ],
)
def test_refused(status, action, exc, msg):
    with pytest.raises(exc) as e:
        check(status, action, CID)
    assert msg in e.value.message
