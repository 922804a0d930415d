"""Engine layer: container statuses and the table of allowed transitions.

`check(status, action, cid)` answers what dockerd answers for an action that does
not fit the current status: Conflict (409) for an illegal one, NotModified (304)
when the container is already where the action would take it. The messages are
dockerd's (daemon/start.go, stop.go, kill.go, pause.go, delete.go).
"""

from __future__ import annotations

import enum

from shim.errors import Conflict, NotModified, ShimError


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


def _not_running(cid: str) -> ShimError:
    return Conflict(f"Container {cid} is not running")


_MARKED_FOR_REMOVAL = "container is marked for removal and cannot be started"

# (status, action) -> the resulting status, or a function building the refusal.
_S = Status
TRANSITIONS: dict[tuple[Status, str], object] = {}


def _allow(action: str, to: Status, *froms: Status) -> None:
    for f in froms:
        TRANSITIONS[(f, action)] = to


def _refuse(action: str, err, *froms: Status) -> None:  # type: ignore[no-untyped-def]
    for f in froms:
        TRANSITIONS[(f, action)] = err


_allow("start", _S.RUNNING, _S.CREATED, _S.EXITED)
_refuse("start", lambda cid: NotModified("Container already started"), _S.RUNNING, _S.RESTARTING)
_refuse("start", lambda cid: Conflict("cannot start a paused container, try unpause instead"), _S.PAUSED)
_refuse("start", lambda cid: Conflict(_MARKED_FOR_REMOVAL), _S.REMOVING, _S.DEAD)

_allow("exit", _S.EXITED, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_allow("restart-wait", _S.RESTARTING, _S.RUNNING, _S.EXITED)

_allow("stop", _S.EXITED, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_refuse("stop", lambda cid: NotModified("Container already stopped"), _S.CREATED, _S.EXITED, _S.DEAD, _S.REMOVING)

_allow("kill", _S.RUNNING, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_refuse("kill", _not_running, _S.CREATED, _S.EXITED, _S.DEAD, _S.REMOVING)

_allow("pause", _S.PAUSED, _S.RUNNING)
_refuse("pause", _not_running, _S.CREATED, _S.EXITED, _S.DEAD, _S.REMOVING)
_refuse("pause", lambda cid: Conflict(f"Container {cid} is already paused"), _S.PAUSED)
_refuse(
    "pause", lambda cid: Conflict(f"Container {cid} is restarting, wait until the container is running"), _S.RESTARTING
)

_allow("unpause", _S.RUNNING, _S.PAUSED)
_refuse(
    "unpause",
    lambda cid: Conflict(f"Container {cid} is not paused"),
    _S.RUNNING,
    _S.CREATED,
    _S.EXITED,
    _S.DEAD,
    _S.REMOVING,
    _S.RESTARTING,
)

_allow("remove", _S.REMOVING, _S.CREATED, _S.EXITED, _S.DEAD)
_refuse(
    "remove",
    lambda cid: Conflict(
        f"You cannot remove a running container {cid}. Stop the container before attempting removal or force remove"
    ),
    _S.RUNNING,
    _S.RESTARTING,
)
_refuse(
    "remove",
    lambda cid: Conflict(
        f"You cannot remove a paused container {cid}. Unpause and then stop the container before attempting "
        "removal or force remove"
    ),
    _S.PAUSED,
)
_refuse("remove", lambda cid: Conflict(f"removal of container {cid} is already in progress"), _S.REMOVING)

_allow("resize", _S.RUNNING, _S.RUNNING, _S.PAUSED)
_refuse("resize", _not_running, _S.CREATED, _S.EXITED, _S.DEAD, _S.REMOVING, _S.RESTARTING)


def check(status: Status | str, action: str, cid: str) -> Status:
    """Return the status `action` leads to from `status`, or raise dockerd's refusal."""
    outcome = TRANSITIONS.get((Status(status), action))
    if outcome is None:
        raise Conflict(f"cannot {action} container {cid} in state {Status(status).value}")
    if isinstance(outcome, Status):
        return outcome
    raise outcome(cid)  # type: ignore[operator]
