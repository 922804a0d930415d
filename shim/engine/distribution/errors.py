"""Engine layer: registry failures in dockerd's words (distribution/errors.go, 20.10 and later)."""

from __future__ import annotations

from shim.engine.imageports import RegistryError, RegistryUnreachable
from shim.engine.refs import ImageRef
from shim.errors import NotFound, ShimError, SystemFailure, Unauthorized


def pull_error(e: RegistryError | RegistryUnreachable, ref: ImageRef) -> ShimError:
    """translatePullError: denied / manifest unknown / name unknown are 404s naming the image,
    unauthorized a 401 (as moby 23+; 20.10 said 500), anything else a 500 with the registry's text."""
    if isinstance(e, RegistryError):
        if e.code == "DENIED":
            return NotFound(
                f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
                f"'docker login': {e}"
            )
        if e.code == "MANIFEST_UNKNOWN":
            return NotFound(f"manifest for {ref.familiar} not found: {e}")
        if e.code == "NAME_UNKNOWN":
            return NotFound(f"repository {ref.familiar_name} not found: {e}")
        if e.code == "UNAUTHORIZED" or e.status == 401:
            return Unauthorized(str(e))
    return SystemFailure(str(e))


def push_error(e: RegistryError | RegistryUnreachable) -> ShimError:
    if isinstance(e, RegistryError) and (e.code == "UNAUTHORIZED" or e.status == 401):
        return Unauthorized(str(e))
    if isinstance(e, RegistryError) and e.code == "DENIED":
        return SystemFailure(str(e))
    return SystemFailure(str(e))
