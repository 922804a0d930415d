"""Engine layer: container statuses and the one table of what each verb may do from each status.

`check(status, action, cid, ref)` answers what dockerd answers for an action that does not fit
the current status: Conflict (409) for an illegal one, NotModified (304) when the container is
already where the action would take it. Every container verb (start, stop, kill, restart,
pause, unpause, remove, rename, update, top, resize, attach, exec, commit) asks this table
before it touches the runtime, so editing a row here changes what the verb answers. The
messages are dockerd's (daemon/start.go, stop.go, kill.go, pause.go, delete.go, top_unix.go,
resize.go, attach.go, exec.go, commit.go); some name the container by the reference the client
gave (`ref`), as dockerd's do, the others by its ID.

An allowed verb that changes nothing (top, attach, rename…) maps a status to itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from shim.errors import Conflict, NotModified, ShimError


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


# A refusal: built from the container ID and the reference the client used.
Refusal = Callable[[str, str], ShimError]

# (status, action) -> the resulting status, or the refusal.
TRANSITIONS: dict[tuple[Status, str], Status | Refusal] = {}

_S = Status
_ALL = tuple(Status)
_STOPPED = (_S.CREATED, _S.EXITED, _S.DEAD, _S.REMOVING)


def _allow(action: str, to: Status | None, *froms: Status) -> None:
    """`to` None: the action leaves the status as it is."""
    for f in froms:
        TRANSITIONS[(f, action)] = f if to is None else to


def _refuse(action: str, err: Refusal, *froms: Status) -> None:
    for f in froms:
        TRANSITIONS[(f, action)] = err


def _not_running(cid: str, ref: str) -> ShimError:
    return Conflict(f"Container {cid} is not running")


def _restarting(cid: str, ref: str) -> ShimError:
    return Conflict(f"Container {cid} is restarting, wait until the container is running")


def _marked_for_removal(cid: str, ref: str) -> ShimError:
    return Conflict("container is marked for removal and cannot be started")


def _remove_running(cid: str, ref: str) -> ShimError:
    return Conflict(
        f"You cannot remove a running container {cid}. Stop the container before attempting removal or force remove"
    )


def _remove_paused(cid: str, ref: str) -> ShimError:
    return Conflict(
        f"You cannot remove a paused container {cid}. Unpause and then stop the container before attempting "
        "removal or force remove"
    )


def _removal_in_progress(cid: str, ref: str) -> ShimError:
    return Conflict(f"removal of container {ref} is already in progress")


# start (daemon/start.go validateState)
_allow("start", _S.RUNNING, _S.CREATED, _S.EXITED)
_refuse("start", lambda cid, ref: NotModified("Container already started"), _S.RUNNING, _S.RESTARTING)
_refuse("start", lambda cid, ref: Conflict("cannot start a paused container, try unpause instead"), _S.PAUSED)
_refuse("start", _marked_for_removal, _S.REMOVING, _S.DEAD)

# restart: a stop (if running) and a start; only a start's removal refusal can apply
_allow("restart", _S.RUNNING, _S.CREATED, _S.EXITED, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_refuse("restart", _marked_for_removal, _S.REMOVING, _S.DEAD)

_allow("stop", _S.EXITED, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_refuse("stop", lambda cid, ref: NotModified("Container already stopped"), *_STOPPED)

# kill: a container waiting for its restart has no process to signal
_allow("kill", _S.RUNNING, _S.RUNNING, _S.PAUSED)
_refuse("kill", _not_running, *_STOPPED, _S.RESTARTING)

_allow("pause", _S.PAUSED, _S.RUNNING)
_refuse("pause", _not_running, *_STOPPED)
_refuse("pause", lambda cid, ref: Conflict(f"Container {cid} is already paused"), _S.PAUSED)
_refuse("pause", _restarting, _S.RESTARTING)

_allow("unpause", _S.RUNNING, _S.PAUSED)
_refuse("unpause", lambda cid, ref: Conflict(f"Container {cid} is not paused"), _S.RUNNING, *_STOPPED, _S.RESTARTING)

# remove (daemon/delete.go): without force a live container is refused; with force it is killed first
_allow("remove", _S.REMOVING, _S.CREATED, _S.EXITED, _S.DEAD)
_refuse("remove", _remove_running, _S.RUNNING, _S.RESTARTING)
_refuse("remove", _remove_paused, _S.PAUSED)
_refuse("remove", _removal_in_progress, _S.REMOVING)
_allow("force-remove", _S.REMOVING, _S.CREATED, _S.EXITED, _S.DEAD, _S.RUNNING, _S.PAUSED, _S.RESTARTING)
_refuse("force-remove", _removal_in_progress, _S.REMOVING)

_allow("resize", None, _S.RUNNING, _S.PAUSED)
_refuse("resize", _not_running, *_STOPPED, _S.RESTARTING)

_allow("top", None, _S.RUNNING, _S.PAUSED)
_refuse("top", _not_running, *_STOPPED)
_refuse("top", _restarting, _S.RESTARTING)

# attach (daemon/attach.go): a stopped container can be attached to (the attach waits for its start)
_allow("attach", None, _S.RUNNING, *_STOPPED)
_refuse(
    "attach", lambda cid, ref: Conflict(f"container {ref} is paused, unpause the container before attach"), _S.PAUSED
)
_refuse(
    "attach",
    lambda cid, ref: Conflict(f"container {ref} is restarting, wait until the container is running"),
    _S.RESTARTING,
)

# exec (daemon/exec.go getActiveContainer): the paused refusal names the container as the client did
_allow("exec", None, _S.RUNNING)
_refuse("exec", _not_running, *_STOPPED)
_refuse("exec", lambda cid, ref: Conflict(f"Container {ref} is paused, unpause the container before exec"), _S.PAUSED)
_refuse("exec", _restarting, _S.RESTARTING)

_allow("commit", None, _S.CREATED, _S.RUNNING, _S.PAUSED, _S.RESTARTING, _S.EXITED)
_refuse(
    "commit",
    lambda cid, ref: Conflict(f"You cannot commit container {cid} which is being removed or is dead"),
    _S.REMOVING,
    _S.DEAD,
)

# shim does not refuse these in any status (dockerd refuses a dead or removing container's update and rename)
_allow("update", None, *_ALL)
_allow("rename", None, *_ALL)


def check(status: Status | str, action: str, cid: str, ref: str | None = None) -> Status:
    """Return the status `action` leads to from `status`, or raise dockerd's refusal.

    `ref` is the container as the client named it (the ID when not given)."""
    st = Status(status)
    outcome = TRANSITIONS.get((st, action))
    if outcome is None:
        raise Conflict(f"cannot {action} container {cid} in state {st.value}")
    if isinstance(outcome, Status):
        return outcome
    raise outcome(cid, ref or cid)


class ProcessFlags(Protocol):
    """What a container's state says of its process (model.ContainerState has these)."""

    running: bool
    paused: bool
    restarting: bool


def process_status(st: ProcessFlags) -> Status:
    """The status as the process flags give it, as dockerd's State.StateString begins: for verbs
    that only ask whether a process runs (exec's getActiveContainer). A container without a
    process counts as exited, which every such verb answers alike with created, dead and removing."""
    if st.running:
        if st.paused:
            return Status.PAUSED
        if st.restarting:
            return Status.RESTARTING
        return Status.RUNNING
    return Status.EXITED
