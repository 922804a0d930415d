"""Unit tests run shim's async code on an in-process event loop (the aiohttp test client, the
engine with fakes). Blocking work reached there through shim's coroutines or loop callbacks (file
reads and writes, os.stat/listdir, subprocesses, sleeps, blocking sockets such as netlink's) fails
the test with blockbuster's BlockingError; the allow-list and the rule are in shim/blockguard.py."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from shim import blockguard

TESTS = str(Path(__file__).resolve().parents[1]) + "/"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # The test's call only: fixtures build services on the loop where the daemon builds them in a
    # thread (app.serve runs build_engine through asyncio.to_thread).
    guard = blockguard.make(tests_dir=TESTS)
    guard.activate()
    try:
        return (yield)
    finally:
        guard.deactivate()
