"""API layer: GET /shim/openapi.yaml, the API description shimd answers to, for fuzzers and client generators.

It is Docker's own Swagger 2.0 description of Engine API 1.56 (moby, Apache-2.0; shipped gzipped
in shim/api/openapi/), the newest version shimd speaks, prefixed with a comment naming where
dockerd, and so shimd, differs from it (docs/API-VERSIONS.md lists every place) and what shimd
does not serve (swarm answers 503, plugins cannot be installed). Older versions are served
by the same routes under /v1.12 … /v1.55 with their own shapes; their descriptions are Docker's.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from aiohttp import web

_FILE = Path(__file__).with_name("openapi") / "docker-engine-v1.56.yaml.gz"
_PREAMBLE = b"""# Served by shimd: Docker Engine API 1.56 as Docker describes it (moby api/swagger.yaml,
# Apache License 2.0). shimd answers every version from 1.12 to 1.56 at /vX.Y; where dockerd's
# behaviour and this description disagree, shimd follows dockerd: see docs/API-VERSIONS.md
# ("Where Docker's yaml and dockerd disagree"). Swarm, node, service, task, secret and config
# endpoints answer 503 "This node is not part of a swarm"; plugins cannot be installed.
"""
_cache: list[bytes] = []


def _load() -> bytes:
    return _PREAMBLE + gzip.decompress(_FILE.read_bytes())


async def openapi_yaml(request: web.Request) -> web.Response:
    """GET /shim/openapi.yaml"""
    if not _cache:
        _cache.append(await asyncio.to_thread(_load))
    return web.Response(body=_cache[0], content_type="application/yaml")


ROUTES = [("GET", "/shim/openapi.yaml", openapi_yaml)]
