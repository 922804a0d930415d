"""API layer: the one way handlers reach the engine and its services, typed.

A service missing from the Engine (only a unit test builds such a partial engine; shim/app.py
builds them all) answers 501 for its area.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from shim.engine.archive import ArchiveService
from shim.engine.build.service import BuildService
from shim.engine.containers import ContainerService
from shim.engine.daemon import Engine
from shim.engine.distribution.service import DistributionService
from shim.engine.execs import ExecService
from shim.engine.images import ImageService
from shim.engine.networks import NetworkService
from shim.engine.volumes import VolumeService
from shim.errors import NotImplementedYet

ENGINE = web.AppKey("engine", Engine)

_S = TypeVar("_S")


def _present(svc: _S | None, message: str) -> _S:
    if svc is None:
        raise NotImplementedYet(message)
    return svc


def engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def containers(request: web.Request) -> ContainerService:
    return _present(engine(request).containers, "containers are not available")


def images(request: web.Request) -> ImageService:
    return _present(engine(request).images, "images are not available")


def volumes(request: web.Request) -> VolumeService:
    return _present(engine(request).volumes, "volumes are not available")


def networks(request: web.Request) -> NetworkService:
    return _present(engine(request).networks, "networks are not available")


def execs(request: web.Request) -> ExecService:
    return _present(engine(request).execs, "exec is not available")


def archive(request: web.Request) -> ArchiveService:
    return _present(engine(request).archive, "container archives are not available")


def build(request: web.Request) -> BuildService:
    return _present(engine(request).build, "the builder is not available")


def distribution(request: web.Request) -> DistributionService:
    return _present(engine(request).distribution, "registries are not available")
