#!/usr/bin/env bash
# Benchmark shimd against a real dockerd (Debian docker.io) in one interleaved run.
#   scripts/bench.sh [bench.py args...]     e.g. --quick, --only run_rm,parallel
# Both daemons run on private sockets and roots and are stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
WORK=$(mktemp -d /tmp/shimbench-XXXXXX)
export REF_DIR=/run/shimbench-ref REF_DATA=/var/lib/shimbench-ref REF_BRIDGE=shbref0 REF_CIDR=172.30.97.1/24
export REF_IMAGE_TAR=$PWD/fixtures/build/busybox.tar
SHIM_SOCK=$WORK/shim.sock
cleanup() {
  if [ -n "${SHIM_PID:-}" ]; then
    DOCKER_HOST=unix://$SHIM_SOCK docker rm -f $(DOCKER_HOST=unix://$SHIM_SOCK docker ps -aq) >/dev/null 2>&1 || true
    kill -TERM "$SHIM_PID" 2>/dev/null || true; wait "$SHIM_PID" 2>/dev/null || true
  fi
  "$BENCH/reference-dockerd.sh" stop >/dev/null 2>&1 || true
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$BENCH/reference-dockerd.sh" start
.venv/bin/shimd -H unix://$SHIM_SOCK --data-root $WORK/data --exec-root $WORK/exec --pidfile $WORK/shimd.pid \
  --config-file $WORK/none.json >"$WORK/shimd.log" 2>&1 &
SHIM_PID=$!
for _ in $(seq 1 100); do DOCKER_HOST=unix://$SHIM_SOCK docker version >/dev/null 2>&1 && break; sleep 0.1; done
DOCKER_HOST=unix://$SHIM_SOCK docker load -q -i "$REF_IMAGE_TAR" >/dev/null
python3 "$BENCH/bench.py" \
  --target dockerd=unix://$REF_DIR/docker.sock:containerd,containerd-shim-runc-v2 \
  --target shim=unix://$SHIM_SOCK:conmon \
  --image-archive "$REF_IMAGE_TAR" --output docs/bench-latest.md "$@"
