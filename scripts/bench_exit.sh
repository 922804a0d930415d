#!/usr/bin/env bash
# Interleaved A/B of the exit → answer tail of `docker run --rm` (scripts/bench_exit.py):
#   flock /tmp/shim-bench.lock scripts/bench_exit.sh OLD_DIR [-n 30]
# OLD_DIR holds a `shim` package (the tree before a change: `git archive REV shim | tar -x -C DIR`),
# run as target `old`; this checkout runs as `new`. Both are stopped and swept afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "${1:?usage: $0 OLD_DIR [bench_exit.py args...]}"); shift
WORK=$(mktemp -d /tmp/shimbench-exit-XXXXXX)
source scripts/lib/shimd-targets.sh
trap cleanup EXIT
start old "$OLD" shbex0 172.30.180.1/24
start new "" shbex1 172.30.181.1/24
.venv/bin/python scripts/bench_exit.py --target "old=$WORK/old" --target "new=$WORK/new" "$@"
