"""JSON from clients, parsed within bounds (shared and pure, like shim.errors; every layer may use it).

Request bodies, `?filters=`, a pre-1.24 start body, build args: whatever a client sends as JSON is
read here, so that no input reaches a RecursionError or a float that is not a number:
- nested at most `MAX_DEPTH` levels (ten thousand nested arrays are a 400; Docker's own documents
  nest fewer than ten);
- finite numbers only: `NaN`, `Infinity` (which Python's json takes and Go's refuses) and a
  number past float64's range (1e400, which Python would read as infinity) are refused.
Errors are InvalidParameter with a short message (a hostile value is never echoed whole).
"""

from __future__ import annotations

import json
import math
from typing import Any

from shim.errors import InvalidParameter

MAX_DEPTH = 100


def _refuse_constant(name: str) -> Any:
    raise InvalidParameter(f"invalid JSON: {name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidParameter(f"invalid JSON: number {text[:40]} is out of range")
    return value


def depth_ok(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """Nesting at most `limit` levels, measured without recursion."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        children: Any
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def shorten(text: str, limit: int = 300) -> str:
    """A message quotes at most `limit` characters of what a client sent."""
    return text if len(text) <= limit else text[:limit] + "…"


def loads(raw: bytes | str, what: str = "JSON") -> Any:
    """Bounded json.loads; InvalidParameter("invalid <what>: …") for anything else."""
    try:
        obj = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidParameter(f"invalid {what}: nested deeper than {MAX_DEPTH} levels") from None
    except InvalidParameter as e:
        raise InvalidParameter(e.message.replace("invalid JSON", f"invalid {what}", 1)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidParameter(f"invalid {what}: {shorten(str(e))}") from None
    if not depth_ok(obj):
        raise InvalidParameter(f"invalid {what}: nested deeper than {MAX_DEPTH} levels")
    return obj
