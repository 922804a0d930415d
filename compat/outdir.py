"""Where a compat run writes its results (compat/README.md, "Results").

`compat/results/*.json` and `compat/REPORT.md` are tracked: the published evidence that the suite
passes on shimd and on the reference dockerd. An ordinary run (make test, CI, an engineer's run)
must not rewrite them, or every checkout it runs in shows them modified: it writes under
`build/compat/` (the root .gitignore lists build/). `COMPAT_PUBLISH=1` (`make compat-publish`)
writes the tracked files, on purpose.

Usage from the shell: `python -m compat.outdir` prints the results directory of this run.
"""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "results"
LOCAL = HERE.parent / "build" / "compat"


def publishing() -> bool:
    return os.environ.get("COMPAT_PUBLISH", "") not in ("", "0")


def results_dir() -> Path:
    """This run's results: the published directory with COMPAT_PUBLISH=1, else build/compat/results."""
    return PUBLISHED if publishing() else LOCAL / "results"


def report_path() -> Path:
    return HERE / "REPORT.md" if publishing() else LOCAL / "REPORT.md"


def latest(name: str) -> Path:
    """The newest file `name` this checkout has: this run's directory if a run here wrote one
    (e.g. fields-dockerd.json from a local reference run), else the published one."""
    mine = results_dir() / name
    return mine if mine.exists() else PUBLISHED / name


if __name__ == "__main__":
    print(results_dir())
