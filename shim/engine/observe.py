"""Engine layer: how long engine actions take, told to whoever listens (metrics), without the engine
knowing who that is.

dockerd times a handful of actions inside its backend (`metrics.ContainerActions.WithValues
("start").UpdateSince(start)` in daemon/start.go, create.go, delete.go, commit.go, changes.go,
image_delete.go, image_history.go, …) and records only those that succeed. Here a verb is
marked with `@timed("container", "start")`; the composition root installs an ActionObserver
(shim/metrics.py, Prometheus) when `--metrics-addr` is given. Without one, the decorator costs
one global read per call and nothing is imported.

One process-wide observer rather than a constructor argument of every service: the marked
verbs stay one-line changes, and Prometheus' registry is process-wide anyway.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ActionObserver(Protocol):
    def action_done(self, kind: str, action: str, seconds: float) -> None: ...


_observer: ActionObserver | None = None


def set_observer(observer: ActionObserver | None) -> None:
    global _observer  # noqa: PLW0603 - one sink per process, installed once by the composition root
    _observer = observer


def observer() -> ActionObserver | None:
    return _observer


def timed(kind: str, action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Report the duration of each successful call of the decorated method (sync or async)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):
            afn: Callable[P, Awaitable[Any]] = fn

            @functools.wraps(fn)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                if _observer is None:
                    return await afn(*args, **kwargs)
                start = time.monotonic()
                result = await afn(*args, **kwargs)
                _report(kind, action, start)
                return result

            # fn returns a coroutine (R is Coroutine[..., X]); the async wrapper returns the same kind
            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if _observer is None:
                return fn(*args, **kwargs)
            start = time.monotonic()
            result = fn(*args, **kwargs)
            _report(kind, action, start)
            return result

        return run

    return wrap


def _report(kind: str, action: str, start: float) -> None:
    if _observer is not None:
        _observer.action_done(kind, action, time.monotonic() - start)
