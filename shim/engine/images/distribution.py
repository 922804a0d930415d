"""Engine layer: images to and from registries (`docker pull`, `docker push`).

The place for the registry client (issue 12): pull resolves a reference through the registry
API v2, fetches the blobs a manifest names, ingests each layer with the LayerStore port
(`add_layer` in a thread, then `_layer_sizes`), stores the config (`put_config`) and
records the image under the service's lock with `_register(...)` and the `pull` event; push
walks an image's layers the other way. The transport belongs in a runtime adapter behind a
Protocol in engine/ports.py, built in app.py.

Until then nothing is reachable: an image present locally is "up to date", anything else is
dockerd's 404 for a repository it cannot see, and a push fails in its stream.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shim.engine import refs
from shim.engine.images.base import ImageBase
from shim.errors import NotFound


class DistributionVerbs(ImageBase):
    def pull(self, from_image: str, tag: str = "") -> list[dict[str, Any]]:
        """No registry is reachable: an image present locally is 'up to date', anything else a 404."""
        ref = refs.parse_image_ref(from_image)
        if tag:
            ref = (
                dataclasses.replace(ref, tag=tag)
                if not tag.startswith("sha256:")
                else dataclasses.replace(ref, digest=tag)
            )
        ref = ref.with_default_tag()
        if ref.canonical in self.tags:
            return [
                {"status": f"Pulling from {ref.path}", "id": ref.tag or ref.digest},
                {"status": f"Status: Image is up to date for {ref.familiar}"},
            ]
        raise NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            "require 'docker login': denied: requested access to the resource is denied"
        )

    def push(self, name: str, tag: str = "") -> list[dict[str, Any]]:
        """No registry support: a missing image is dockerd's 404, a present one fails in the stream."""
        ref = refs.parse_image_ref(name)
        if tag:
            ref = dataclasses.replace(ref, tag=tag)
        if ref.tag is None and ref.digest is None:
            tagged = [t for t in self.tags if refs.parse_image_ref(t).name == ref.name]
            if not tagged:
                raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        elif ref.canonical not in self.tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar}")
        msg = "pushing to a registry is not supported by this daemon"
        return [
            {"status": f"The push refers to repository [{ref.name}]"},
            {"errorDetail": {"message": msg}, "error": msg},
        ]
