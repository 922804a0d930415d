"""Integration tests drive a real shimd (tests/shimd_harness.py) with the real docker CLI and docker-py."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.shimd_harness import Shimd


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (namespaces, mounts, cgroups)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shimd():
    d = Shimd()
    try:
        d.start()
        d.load_busybox()
        yield d
    finally:
        left = d.destroy()
    # After the whole session: with every container removed, nothing of shim's may remain.
    assert not left, "shimd left behind:\n" + "\n".join(left)


@pytest.fixture
def unique():
    """A name no other test (or engine) on the machine uses."""
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:10]}"
