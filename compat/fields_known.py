"""Deliberate differences from dockerd 20.10 in compat/test_fields.py's comparison at API 1.41.

Each entry: (object, path regex, shim's shape, dockerd's shape, reason). docs/API-VERSIONS.md
lists the same entries for people. Anything not listed here is a difference to close.
"""

import re

KNOWN: list[tuple[str, str, object, object, str]] = [
    (
        "container inspect (exited)",
        r"\.NetworkSettings\.Sandbox(ID|Key)",
        '""',
        "str",
        "shimd clears the sandbox of a stopped container (its namespace is gone); "
        "dockerd 20.10 keeps the stale ID/path",
    ),
    (
        "info",
        r"\.(ContainerdCommit|RuncCommit)\.(ID|Expected)",
        '""',
        "str",
        "shimd has no containerd and does not read runc's commit",
    ),
    (
        "info",
        r"\.KernelMemory(TCP)?",
        False,
        True,
        "shimd applies no kernel-memory limits (dockerd ignores them from 1.42 too), so it reports no support",
    ),
    (
        "info",
        r"\.LiveRestoreEnabled",
        True,
        False,
        "shimd's containers outlive the daemon always (conmon): true is the truth",
    ),
    (
        "info",
        r"\.Runtimes\.<key>\.path",
        "<absent>",
        "str",
        "dockerd 20.10 also lists containerd's shim runtimes (io.containerd.runc.v2…); shimd runs runc directly",
    ),
    ("info", r"\.SecurityOptions(\[\])?", "*", "*", "no seccomp profile until the confinement work (issue 15) lands"),
    (
        "version",
        r"\.(BuildTime|GitCommit|Components\[\]\.Details\.(BuildTime|GitCommit))",
        '""',
        "str",
        "shimd records no build time or commit",
    ),
    ("version", r"\.Platform\.Name", "*", "*", "shimd names itself (dockerd's Debian build leaves it empty)"),
]


def deliberate(what, path, mine, ref):
    for w, p_rx, a, b, _reason in KNOWN:
        if w not in ("*", what) or not re.fullmatch(p_rx, path):
            continue
        if a not in ("*", mine) or b not in ("*", ref):
            continue
        return True
    return False
