#!/usr/bin/env bash
# Benchmark shimd against a real dockerd (Debian docker.io) in one interleaved run.
#   scripts/bench.sh [bench.py args...]     e.g. --quick, --only run_rm,parallel
# Both daemons run on private sockets, roots and bridges (dockerd: shbref0 172.30.97.1/24,
# shimd: shbench0 172.30.96.1/24) and are stopped afterwards, leaving nothing behind.
# Then the published-port run_rm (docs/bench-ports-latest.md; BENCH_PORTS=0 skips it) and the exact
# memory attribution (scripts/bench_rss.py -> docs/bench-rss-latest.md; BENCH_RSS=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
WORK=$(mktemp -d /tmp/shimbench-XXXXXX)
export REF_DIR=/run/shimbench-ref REF_DATA=/var/lib/shimbench-ref REF_BRIDGE=shbref0 REF_CIDR=172.30.97.1/24
export REF_IMAGE_TAR=$PWD/fixtures/build/busybox.tar
SHIM_SOCK=$WORK/shim.sock
SHIM_BRIDGE=${SHIM_BRIDGE:-shbench0} SHIM_BIP=${SHIM_BIP:-172.30.96.1/24}
cleanup() {
  if [ -n "${SHIM_PID:-}" ]; then
    DOCKER_HOST=unix://$SHIM_SOCK docker rm -f $(DOCKER_HOST=unix://$SHIM_SOCK docker ps -aq) >/dev/null 2>&1 || true
    kill -TERM "$SHIM_PID" 2>/dev/null || true; wait "$SHIM_PID" 2>/dev/null || true
  fi
  if [ -S "$REF_DIR/docker.sock" ]; then
    DOCKER_HOST=unix://$REF_DIR/docker.sock docker ps -aq --filter name=bench \
      | xargs -r env DOCKER_HOST=unix://$REF_DIR/docker.sock docker rm -f >/dev/null 2>&1 || true
  fi
  "$BENCH/reference-dockerd.sh" stop >/dev/null 2>&1 || true
  # libnetwork leaves its bridge's FORWARD/MASQUERADE rules behind when dockerd stops.
  for ipt in iptables-nft iptables-legacy; do
    for t in nat filter; do
      "$ipt-save" -t $t 2>/dev/null | grep -- "-A .*\b$REF_BRIDGE\b" | sed 's/^-A /-D /' \
        | while read -r rule; do $ipt -w -t $t $rule 2>/dev/null || true; done || true
    done
  done
  grep -q " $REF_DATA\| $REF_DIR" /proc/mounts || rm -rf "$REF_DATA" "$REF_DIR"
  # Anything a crashed shimd left: processes, mounts under our roots, its links and chains.
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$WORK" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  .venv/bin/python - "$WORK/exec" "$SHIM_BRIDGE" <<'PY' 2>/dev/null || true
import sys
sys.path.insert(0, "tests")
from shimd_harness import _sweep_network
_sweep_network(sys.argv[1], sys.argv[2])
PY
  ip link del "$SHIM_BRIDGE" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$BENCH/reference-dockerd.sh" start >/dev/null
echo '{}' >"$WORK/daemon.json"
.venv/bin/shimd -H unix://$SHIM_SOCK --data-root $WORK/data --exec-root $WORK/exec --pidfile $WORK/shimd.pid \
  --config-file $WORK/daemon.json --bridge "$SHIM_BRIDGE" --bip "$SHIM_BIP" >"$WORK/shimd.log" 2>&1 &
SHIM_PID=$!
for _ in $(seq 1 100); do DOCKER_HOST=unix://$SHIM_SOCK docker version >/dev/null 2>&1 && break; sleep 0.1; done
DOCKER_HOST=unix://$SHIM_SOCK docker version >/dev/null 2>&1 || { tail -20 "$WORK/shimd.log"; exit 1; }
DOCKER_HOST=unix://$SHIM_SOCK docker load -q -i "$REF_IMAGE_TAR" >/dev/null
TARGETS=(--target "dockerd=unix://$REF_DIR/docker.sock:containerd,containerd-shim-runc-v2"
         --target "shim=unix://$SHIM_SOCK:conmon")
python3 "$BENCH/bench.py" "${TARGETS[@]}" --image-archive "$REF_IMAGE_TAR" --output docs/bench-latest.md "$@"
if [ "${BENCH_PORTS:-1}" != 0 ]; then
  # issue 4's bar: `docker run --rm -p 127.0.0.1::80 busybox true`, i.e. run_rm with a published port.
  PORTS_ARGS=(-n "${BENCH_PORTS_N:-15}")
  case " $* " in *" --quick "*) PORTS_ARGS=(--quick) ;; esac
  python3 "$BENCH/bench.py" "${TARGETS[@]}" --image-archive "$REF_IMAGE_TAR" --only run_rm \
    --run-opt=--publish=127.0.0.1::80 "${PORTS_ARGS[@]}" --output docs/bench-ports-latest.md
fi
if [ "${BENCH_RSS:-1}" != 0 ]; then
  # daemon_rss with exact attribution (bench.py counts every containerd/conmon on the host by name,
  # including other engineers' daemons): see scripts/bench_rss.py.
  .venv/bin/python scripts/bench_rss.py \
    --target "dockerd=unix://$REF_DIR/docker.sock:$REF_DIR/exec" \
    --target "shim=unix://$SHIM_SOCK:$WORK/exec" \
    --rounds "${BENCH_RSS_ROUNDS:-3}" --output docs/bench-rss-latest.md
fi
