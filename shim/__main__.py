"""shimd's entry point: flags and daemon.json → Settings → the daemon.

Only os and sys at the top: the command line re-executes the interpreter with -OO first
(`_without_docstrings`), and whatever was imported before that is paid for twice.
"""

from __future__ import annotations

import os
import sys

M_ARENA_MAX = -8  # glibc malloc.h


def _without_docstrings() -> None:
    """The daemon runs under `python -OO`: every module's docstrings are dropped from its code
    objects, 1–1.4 MiB of the idle daemon's RSS (issue 17; docs/PERFORMANCE.md "third pass").
    Nothing shimd loads reads a docstring (argparse's help comes from strings; aiohttp, attrs,
    jsonschema only assign `__doc__`) and no assert of ours or theirs is behaviour. The console
    script's shebang takes no flags, so the command line is run again, as it was given
    (`sys.orig_argv`: `shimd …`, `python -m shim …`, `python -c …`), with -OO in front; the pid
    stays, so do the environment and the file descriptors (systemd's sockets). An interpreter
    started with -O or -OO already is left as it is."""
    if sys.flags.optimize or not sys.orig_argv:
        return
    try:
        os.execv(sys.executable, [sys.executable, "-OO", *sys.orig_argv[1:]])
    except OSError:
        pass  # run as we are: the same daemon, with its docstrings


def _defer_client_parts() -> None:
    """aiohttp's __init__ imports its whole HTTP client (connectors, cookie jar, happy eyeballs,
    attrs: 4 MiB of the idle daemon's RSS, issue 17); the server needs aiohttp.web only, and the
    registry client loads the rest with its first session (shim/pkginit.py). aiohttp.http takes
    the package's __version__ at import: read from its __init__ (left whole if that fails)."""
    from shim.pkginit import defer_init, init_constant

    version = init_constant("aiohttp", "__version__")
    if version is not None:
        defer_init("aiohttp", __version__=version)


def _pure_python_frozenlist() -> None:
    """frozenlist's C extension (aiohttp's signal lists) is C++: it maps libstdc++ and libgcc_s,
    1 MiB of the idle daemon's RSS (issue 17), for lists read a few times per request. Its
    documented pure-Python FrozenList is used when the extension does not import (a None entry in
    sys.modules makes `from ._frozenlist import …` raise ImportError, which frozenlist catches)."""
    sys.modules.setdefault("frozenlist._frozenlist", None)  # type: ignore[arg-type]


def _fewer_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena, and memory freed in one (a layer
    unpacked by a worker thread) mostly stays resident: 2 arenas keep 2 MiB less after a `docker
    load` (issue 17), and on Python's GIL-bound threads contention for them is nothing."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)


def _pidfd_child_watcher() -> None:
    """asyncio 3.11 waits for each subprocess (conmon, runc, iptables…) in a thread started for it
    alone; a pidfd that the event loop polls costs 0.2 ms less CPU per spawn (issue 17, third pass;
    no thread, so no start and no wake). asyncio.run attaches the watcher to its loop. Python 3.12
    chooses pidfds by itself (and deprecates this call); without pidfds (Linux < 5.3) nothing changes."""
    if sys.version_info >= (3, 12):
        return
    import asyncio

    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return
    asyncio.get_event_loop_policy().set_child_watcher(asyncio.PidfdChildWatcher())


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command line, not a caller's list
        _without_docstrings()
    import asyncio
    import logging

    from shim import config

    try:
        settings = config.load(sys.argv[1:] if argv is None else argv)
    except config.ConfigError as e:
        print(f"shimd: {e}", file=sys.stderr)
        return 1
    level = config.python_log_level(settings.effective_log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _defer_client_parts()
    _pure_python_frozenlist()
    _fewer_malloc_arenas()
    _pidfd_child_watcher()
    from shim.app import StartupError, serve

    try:
        asyncio.run(serve(settings))
    except StartupError as e:
        print(f"shimd: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
