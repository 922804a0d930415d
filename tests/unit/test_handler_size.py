"""Handlers stay thin (docs/ARCHITECTURE.md: parse → validate → translate → one engine call →
render): every handler of the route table is at most 30 lines, its `def` line and docstring
included. A longer one moves its work to translate/ or the engine."""

import inspect

from shim.api import routes

MAX_LINES = 30


def _handlers():
    seen = {}
    for _method, _path, handler in routes.collect():
        fn = inspect.unwrap(handler)
        seen[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return seen


def test_every_handler_is_at_most_30_lines():
    handlers = _handlers()
    assert len(handlers) > 50  # the whole table, not an empty one
    sizes = {name: len(inspect.getsourcelines(fn)[0]) for name, fn in handlers.items()}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, f"handlers over {MAX_LINES} lines: {long}"
