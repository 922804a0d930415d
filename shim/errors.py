"""Error kinds shared by every layer, each carrying the HTTP status dockerd answers with.

Mirrors moby's errdefs: the API middleware is the single place that renders these,
handlers never catch them. The message text is part of the contract: docker-py
decides ImageNotFound vs NotFound by looking for "no such image" in it.
"""

from __future__ import annotations

import errno


class ShimError(Exception):
    status = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(ShimError):
    status = 400


class Unauthorized(ShimError):
    """401: a registry refused the credentials (login, pull, push)."""

    status = 401


class Forbidden(ShimError):
    status = 403


class NotFound(ShimError):
    status = 404


class Conflict(ShimError):
    status = 409


class TooLarge(InvalidParameter):
    """413: a request body past the endpoint's limit (dockerd has none; a JSON body is small)."""

    status = 413


class NotModified(ShimError):
    """304: the object is already in the asked-for state; rendered with an empty body."""

    status = 304


class Unavailable(ShimError):
    """503: errdefs.Unavailable (a dockerd that is not a swarm node answers the swarm endpoints so)."""

    status = 503


class NotImplementedYet(ShimError):
    status = 501


class SystemFailure(ShimError):
    status = 500


def os_error_text(e: OSError, op: str = "") -> str:
    """An OS error as Go's *PathError prints it (`mkdir /x: no space left on device`): what a
    client reads when the host fails us (a full disk, a read-only file system), never Python's
    `[Errno 28] …` repr."""
    text = (e.strerror or str(e)).lower()
    if e.filename:
        return f"{op + ' ' if op else ''}{e.filename}: {text}"
    return text


# errno values that say the host, not the input, is at fault (a full or read-only disk, an I/O error,
# no file descriptor left)
HOST_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EMFILE, errno.ENFILE})


def host_fault(e: OSError, context: str, op: str = "") -> SystemFailure:
    """A SystemFailure (500) in Go's words for an OS error that is the host's fault."""
    return SystemFailure(f"{context}: {os_error_text(e, op)}" if context else os_error_text(e, op))


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


def no_such_image(ref: str) -> NotFound:
    return NotFound(f"No such image: {ref}")


# --- errors that carry facts (typed fields instead of attributes set on the fly) -------------------


class StartFailed(ShimError):
    """A container's start failed; `exit_code` is the State.ExitCode dockerd records for it (127 the
    command is missing, 126 it can't be run, 128 otherwise). Raised as one of the two kinds below."""

    def __init__(self, message: str = "", *, exit_code: int = 128) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StartRefused(StartFailed, InvalidParameter):
    """400: the container's own configuration is at fault (its command, a mount)."""


class StartSystemFailure(StartFailed, SystemFailure):
    """500: anything else the OCI runtime reported."""


class ImageDeleteConflict(Conflict):
    """409 from an image delete; `used` says whether a container uses the image (a prune that
    skips images in use stays quiet about those)."""

    def __init__(self, message: str = "", *, used: bool = False) -> None:
        super().__init__(message)
        self.used = used


# moby's translateContainerdStartErr reads the OCI runtime's message; these are its words.
_CMD_MISSING = ("executable file not found", "no such file or directory")
_RUNTIME_REFUSALS = (*_CMD_MISSING, "system cannot find the file specified", "permission denied", "is a directory")
_STEP_REFUSALS = (*_CMD_MISSING, "permission denied")


def start_exit_code(message: str, cmd: str) -> int:
    """127 only when the message names the command itself (a missing sysctl file is "no such file
    or directory" too), 126 for EACCES, else 128."""
    low = message.lower()
    if cmd.lower() in low and any(s in low for s in _CMD_MISSING):
        return 127
    if "permission denied" in low:
        return 126
    return 128


def runtime_start_failed(message: str, cmd: str) -> StartFailed:
    """The OCI runtime's error for the start of `cmd`, typed: StartRefused when the command or a
    mount is at fault (translateContainerdStartErr's invalid-config cases), else StartSystemFailure."""
    code = start_exit_code(message, cmd)
    if any(s in message.lower() for s in _RUNTIME_REFUSALS):
        return StartRefused(message, exit_code=code)
    return StartSystemFailure(message, exit_code=code)


def start_step_failed(err: BaseException, cmd: str) -> ShimError:
    """What a start answers for an error of one of its steps (networking, mounts, the runtime): a
    StartFailed as it is; another error whose text says a file is missing or can't be run becomes
    a StartRefused (400, as the runtime's own); anything else keeps its kind (exit code 128)."""
    if isinstance(err, StartFailed):
        return err
    if not isinstance(err, ShimError):
        text = os_error_text(err) if isinstance(err, OSError) else (str(err) or type(err).__name__)
        return StartSystemFailure(text, exit_code=start_exit_code(text, cmd))
    if any(s in err.message.lower() for s in _STEP_REFUSALS):
        return StartRefused(err.message, exit_code=start_exit_code(err.message, cmd))
    return err
