#!/usr/bin/env bash
# A/B benchmark of two shim code trees in one interleaved bench.py run (no dockerd):
#   scripts/bench_ab.sh OLD_DIR [bench.py args...]     e.g. --only run_rm,parallel -n 15
# OLD_DIR holds a `shim` package (a copy of the tree before a change); it runs as target `old`
# (PYTHONPATH wins over the editable install), this checkout as target `new`. Each daemon has
# its own socket, roots and bridge; both are stopped and swept afterwards.
# BENCH_REF=unix:///run/ref-docker/docker.sock (a running reference-dockerd.sh) adds that dockerd as
# the first target (the ratio baseline), so before, after and dockerd come from one interleaved run.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "${1:?usage: $0 OLD_DIR [bench.py args...]}"); shift
BENCH=${BENCH:-../shared/bench}
WORK=$(mktemp -d /tmp/shimbench-ab-XXXXXX)
source scripts/lib/shimd-targets.sh
trap cleanup EXIT
start old "$OLD" shbab0 172.30.94.1/24
start new "" shbab1 172.30.93.1/24
REF=()
[ -n "${BENCH_REF:-}" ] && REF=(--target "dockerd=$BENCH_REF:containerd,containerd-shim-runc-v2")
python3 "$BENCH/bench.py" "${REF[@]}" --target "old=unix://$WORK/old/s.sock:conmon" --target "new=unix://$WORK/new/s.sock:conmon" \
  --image-archive fixtures/build/busybox.tar "$@"
