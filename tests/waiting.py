"""Waiting on a condition in integration tests, never on a fixed delay standing in for it.

A machine under load (CI runs the whole suite on two cores next to other work) stretches every
delay: a fixed sleep or a fixed number of polls that is enough on a quiet machine is a race there.
Each wait here names what it waits for and fails with that name after a generous deadline; the
deadline only bounds a hang, the test goes on as soon as the condition holds.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(cond: Callable[[], T], what: str, timeout: float = 60.0, interval: float = 0.05) -> T:
    """Poll `cond` until it returns something truthy, and return that; AssertionError naming
    `what` once `timeout` seconds have passed. An exception from `cond` is not swallowed."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def exit_watch(pid: int) -> int | None:
    """A pidfd on `pid`, taken while the process is known to run (a pid recycled later can't
    fool a wait on it); None when the process has already ended and been reaped."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_exited(pidfd: int | None, what: str, timeout: float = 60.0) -> None:
    """Until the process of `pidfd` (from exit_watch) has ended; closes the pidfd."""
    if pidfd is None:
        return
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    finally:
        os.close(pidfd)
