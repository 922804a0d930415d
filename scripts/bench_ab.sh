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
declare -A PIDS
start() {  # name pythonpath bridge bip
  local d=$WORK/$1
  mkdir -p "$d"; echo '{}' >"$d/daemon.json"
  PYTHONPATH=$2 .venv/bin/shimd -H "unix://$d/s.sock" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/pid" --config-file "$d/daemon.json" --bridge "$3" --bip "$4" >"$d/log" 2>&1 &
  PIDS[$1]=$!
  for _ in $(seq 1 100); do DOCKER_HOST=unix://$d/s.sock docker version >/dev/null 2>&1 && break; sleep 0.1; done
  DOCKER_HOST=unix://$d/s.sock docker version >/dev/null 2>&1 || { tail -20 "$d/log"; exit 1; }
  DOCKER_HOST=unix://$d/s.sock docker load -q -i fixtures/build/busybox.tar >/dev/null
}
cleanup() {
  for n in "${!PIDS[@]}"; do
    local s=unix://$WORK/$n/s.sock
    DOCKER_HOST=$s docker ps -aq | xargs -r env DOCKER_HOST=$s docker rm -f >/dev/null 2>&1 || true
    kill -TERM "${PIDS[$n]}" 2>/dev/null || true; wait "${PIDS[$n]}" 2>/dev/null || true
  done
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$WORK" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for pair in old:shbab0 new:shbab1; do
    .venv/bin/python - "$WORK/${pair%%:*}/exec" "${pair#*:}" <<'PY' 2>/dev/null || true
import sys
sys.path.insert(0, "tests")
from shimd_harness import _sweep_network
_sweep_network(sys.argv[1], sys.argv[2])
PY
    ip link del "${pair#*:}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
start old "$OLD" shbab0 172.30.94.1/24
start new "" shbab1 172.30.93.1/24
REF=()
[ -n "${BENCH_REF:-}" ] && REF=(--target "dockerd=$BENCH_REF:containerd,containerd-shim-runc-v2")
python3 "$BENCH/bench.py" "${REF[@]}" --target "old=unix://$WORK/old/s.sock:conmon" --target "new=unix://$WORK/new/s.sock:conmon" \
  --image-archive fixtures/build/busybox.tar "$@"
