"""Import a package's submodules without running its __init__ (issue 17: the idle daemon's memory).

Some packages import everything they have in their __init__: aiohttp its whole HTTP client (cookie
jar, connectors, happy eyeballs, attrs) even for a server (pyroute2, its first user, every netlink
family; it is gone since shim/runtime/rtnl.py). `defer_init(name)` puts a module for the package in sys.modules whose
__init__ has not run, so `from pkg.sub import X` loads `pkg.sub` and what it needs only. The first
attribute asked of the package itself that is not a submodule (`aiohttp.ClientSession`)
runs the __init__ then, in that same module: code that uses the package whole sees no difference,
it pays the memory when it first needs it. Nothing happens if the package is imported already.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from typing import Any


def defer_init(name: str, **attrs: Any) -> None:
    """`attrs`: what the package's own submodules take from it at import (`from . import __version__`)."""
    spec = importlib.util.find_spec(name)
    if name in sys.modules or spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    pkg = importlib.util.module_from_spec(spec)
    loader, where = spec.loader, list(spec.submodule_search_locations)

    def whole(attr: str) -> Any:
        if any(os.path.exists(os.path.join(d, attr)) or os.path.exists(os.path.join(d, attr + ".py")) for d in where):
            raise AttributeError(attr)  # a submodule: the import system loads it alone
        del pkg.__dict__["__getattr__"]
        loader.exec_module(pkg)
        return getattr(pkg, attr)

    pkg.__dict__.update(attrs)
    pkg.__dict__["__getattr__"] = whole
    sys.modules[name] = pkg


def init_constant(name: str, constant: str) -> str | None:
    """A string constant assigned in a package's __init__ (`__version__ = "3.14.5"`), read from its
    source without running it; None if it is not there as a plain literal."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    try:
        with open(spec.origin, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(constant)}\s*=\s*[\"']([^\"'\\]*)[\"']", text, re.MULTILINE)
    return m.group(1) if m else None
