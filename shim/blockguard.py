"""The blocking-call guard: blockbuster (the test extra) wraps the calls that block a thread (file
reads and writes, os.stat/listdir/mkdir…, time.sleep, blocking sockets such as netlink's, the pipe
read of a subprocess start, blocking lock waits) and raises BlockingError when one is made on a
running event loop from a stack that passes through shim's code.

Used by the unit tests (tests/unit/conftest.py) and, opt-in, by shimd itself: with
SHIM_BLOCKING_GUARD=1 in its environment the daemon turns the guard on once it serves and logs each
blocking call with its stack instead of raising, so the daemon goes on answering as it would
(tests/integration/test_blocking_guard.py drives a container's lifecycle through the docker CLI
and fails on any). Loaded only then: a daemon without the variable never imports blockbuster.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from blockbuster import BlockBuster

ENV = "SHIM_BLOCKING_GUARD"
MARK = "blocking call on the event loop"  # what shimd's log says for each refusal (the test greps it)

_SHIM = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE

# Where blocking is allowed: (the end of a file name, its functions), each for a stated reason.
# Keep this short; anything else moves off the loop (asyncio.to_thread, create_subprocess_exec).
ALLOWED: list[tuple[str, set[str], str]] = [
    # a log record written to stderr: every asyncio server logs this way, and a blocked stderr
    # is the operator's to fix (dockerd's logrus writes synchronously too)
    ("logging/__init__.py", {"emit", "flush", "handleError"}, "log lines to stderr"),
    # one mkdir -p of the exit-file directory the first time a loop waits for an exit (the
    # directory exists from the daemon's start; the call only confirms it)
    ("shim/runtime/exitwatch.py", {"_ensure"}, "the exit directory, once per loop"),
]


def _from_test_body(tests_dir: str) -> Callable[[], bool]:
    """True when the blocking call was made by a test's own body calling shim's synchronous code
    (building a Store, reading a record back to assert on it): scaffolding, not the daemon at
    work. A call reached through any of shim's coroutines or async generators, or from a loop
    callback, is the daemon's and stays refused."""

    def check() -> bool:
        frame: FrameType | None = sys._getframe(2)
        outermost = None
        while frame is not None:
            if frame.f_code.co_filename.startswith(_SHIM):
                if frame.f_code.co_flags & _ASYNC:
                    return False
                outermost = frame
            frame = frame.f_back
        caller = outermost.f_back if outermost is not None else None
        return caller is not None and caller.f_code.co_filename.startswith(tests_dir)

    return check


def _reporter(name: str, allowed: list[tuple[str, Iterable[str]]]) -> Callable[[], bool]:
    """The daemon's mode: log a blocking call reached through shim's code, then let it run. `allowed`
    is the function's own list (blockbuster's: a subprocess start's exec-status read, a thread's
    start, and ours of ALLOWED), honoured as blockbuster does."""
    log = logging.getLogger("shim.blockguard")

    def report() -> bool:
        frame: FrameType | None = sys._getframe(2)
        stack = []
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename.replace("\\", "/")
            if any(filename.endswith(f) and code.co_name in fns for f, fns in allowed):
                return True
            if filename.startswith(_SHIM):
                stack.append(f"{filename[len(_SHIM) :]}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        if stack:
            log.error("%s: %s from %s", MARK, name, " <- ".join(stack))
        return True

    return report


def make(*, tests_dir: str | None = None, report: bool = False) -> BlockBuster:
    """A guard over shim's modules with the allow-list, not yet active: it raises BlockingError,
    or with `report` logs and lets the call run. With `tests_dir`, a test body's own synchronous
    calls into shim are let through (see _from_test_body)."""
    guard = BlockBuster("shim")
    scaffolding = _from_test_body(tests_dir) if tests_dir else None
    for fn in guard.functions.values():
        for filename, functions, _why in ALLOWED:
            fn.can_block_in(filename, functions)
        if report:
            fn.can_block_predicate = _either(fn.can_block_predicate, _reporter(fn.full_name, fn.can_block_functions))
        elif scaffolding is not None:
            fn.can_block_predicate = _either(fn.can_block_predicate, scaffolding)
    return guard


def _either(first: Callable[..., bool], second: Callable[[], bool]) -> Callable[..., bool]:
    def predicate(*args: Any, **kwargs: Any) -> bool:
        return first(*args, **kwargs) or second()

    return predicate


def from_environment() -> BlockBuster | None:
    """The daemon's guard, active, when SHIM_BLOCKING_GUARD=1; None otherwise."""
    if os.environ.get(ENV) != "1":
        return None
    guard = make(report=True)
    guard.activate()
    logging.getLogger("shim.blockguard").warning("%s: the guard is on (%s=1)", MARK, ENV)
    return guard
