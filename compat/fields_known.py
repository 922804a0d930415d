"""Deliberate differences from dockerd 20.10 in compat/test_fields.py's comparison at API 1.41.

Each entry: (object, path regex, shim's shape, dockerd's shape, reason). docs/API-VERSIONS.md
lists the same entries for people. Anything not listed here is a difference to close.
"""

import re

KNOWN: list[tuple[str, str, object, object, str]] = []


def deliberate(what, path, mine, ref):
    for w, p_rx, a, b, _reason in KNOWN:
        if w not in ("*", what) or not re.fullmatch(p_rx, path):
            continue
        if a not in ("*", mine) or b not in ("*", ref):
            continue
        return True
    return False
