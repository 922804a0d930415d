"""Count how one shimd build answers the hostile-input catalogue (docs/RELIABILITY.md's figures).

    .venv/bin/python scripts/hostile_census.py [--shimd PATH]

Starts a private daemon (tests/shimd_harness.py: own socket, data root and bridge), creates the
catalogue's objects and sends every case of tests/integration/hostile_cases.py and the protocol
cases; prints per category how many were refused with a 4xx, accepted (2xx/3xx), changed what
a client can see, answered 5xx, hung, or showed Python's error text. `--shimd` runs another
build (an executable taking shimd's flags, e.g. a wrapper that puts an older checkout on
sys.path) to compare before and after.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.shimd_harness as harness  # noqa: E402
from tests.integration import hostile_cases_more  # noqa: E402, F401 (adds its cases to CASES)
from tests.integration.hostile_cases import CASES, STREAM_ERROR  # noqa: E402
from tests.integration.test_hostile_input import PROTOCOL, PYTHON_FAULT, Target, _raw  # noqa: E402


def census(out: collections.defaultdict, examples: collections.defaultdict) -> None:
    d = harness.Shimd()
    try:
        d.start()
        d.load_busybox()
        t = Target(d)
        base = t.snapshot()
        for case in CASES:
            body = case.body
            if isinstance(body, (dict, list)):
                body = json.loads(t.fill(json.dumps(body)))
            started = time.monotonic()
            try:
                status, _, resp = t.request(case.method, t.fill(case.path), body, headers=dict(case.headers))
            except OSError:
                out[case.category]["hang"] += 1
                examples["hang"].append(f"{case.category}/{case.id}")
                continue
            text = resp.decode(errors="replace")
            if case.message == STREAM_ERROR and status == 200 and "errorDetail" in text:
                kind = "4xx"
            else:
                kind = "5xx" if status >= 500 else "accepted" if status < 400 else "4xx"
            if kind == "4xx" and PYTHON_FAULT.search(text):
                kind = "4xx with Python's text"
            try:
                now = t.snapshot()
            except AssertionError:  # the case removed the catalogue's own objects
                now = None
            if now != base:
                out[case.category]["side effect"] += 1
                examples["side effect"].append(f"{case.category}/{case.id}")
                if now is None:
                    t.remove()
                    t = Target(d)
                base = t.snapshot()
            if time.monotonic() - started > 30:
                out[case.category]["slow (>30 s)"] += 1
            out[case.category][kind] += 1
            if kind != "4xx":
                examples[kind].append(f"{case.category}/{case.id} {status} {text[:100]!r}")
        for name, data in sorted(PROTOCOL.items()):
            r = _raw(d.socket, data)
            first = r.split(b"\r\n", 1)[0]
            if r.endswith(b"<timeout>"):
                kind = "hang"
            elif not r or re.match(rb"HTTP/1\.[01] 4\d\d ", first):
                kind = "4xx"
            else:
                kind = "5xx" if re.match(rb"HTTP/\S+ 5", first) else "accepted"
            out["protocol"][kind] += 1
            if kind != "4xx":
                examples[kind].append(f"protocol/{name} {first[:60]!r}")
        t.remove()
    finally:
        d.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shimd", help="the shimd executable to run (default: this checkout's)")
    args = ap.parse_args()
    if args.shimd:
        harness.SHIMD = Path(args.shimd)
    out: collections.defaultdict = collections.defaultdict(collections.Counter)
    examples: collections.defaultdict = collections.defaultdict(list)
    census(out, examples)
    total: collections.Counter = collections.Counter()
    for category, counts in out.items():
        total.update(counts)
        print(f"{category}: {dict(counts)}")
    print(f"total: {dict(total)}")
    for kind, items in examples.items():
        print(f"== {kind} ({len(items)})")
        for item in items:
            print("  ", item)


if __name__ == "__main__":
    main()
