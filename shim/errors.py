"""Error kinds shared by every layer, each carrying the HTTP status dockerd answers with.

Mirrors moby's errdefs: the API middleware is the single place that renders these,
handlers never catch them. The message text is part of the contract: docker-py
decides ImageNotFound vs NotFound by looking for "no such image" in it.
"""

from __future__ import annotations


class ShimError(Exception):
    status = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidParameter(ShimError):
    status = 400


class Forbidden(ShimError):
    status = 403


class NotFound(ShimError):
    status = 404


class Conflict(ShimError):
    status = 409


class NotModified(ShimError):
    """304: the object is already in the asked-for state; rendered with an empty body."""

    status = 304


class NotImplementedYet(ShimError):
    status = 501


class SystemFailure(ShimError):
    status = 500


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


def no_such_image(ref: str) -> NotFound:
    return NotFound(f"No such image: {ref}")
