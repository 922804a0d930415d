#!/usr/bin/env bash
# Issue 17's API and memory figures in one interleaved bench.py run of three targets: the reference
# dockerd (../shared/bench/reference-dockerd.sh, started if needed and left running: it is shared),
# `before` = a shimd of OLD_DIR's `shim` package (PYTHONPATH wins over the editable install) and
# `after` = a shimd of this checkout. Each shimd has its own socket, roots and bridge; both are
# stopped and swept afterwards. Take the bench lock: flock /tmp/shim-bench.lock scripts/bench_api.sh …
#   scripts/bench_api.sh OLD_DIR [bench.py args...]     e.g. --only api,rss -o docs/bench-api-latest.md
# UVLOOP=1 adds a fourth target, `uvloop`: this checkout on uvloop's event loop (uvloop must be
# installed in .venv; it is not a dependency of shim: docs/PERFORMANCE.md). BENCH_RSS=1 then runs
# scripts/bench_rss.py on the reference and both shimds (exact attribution; BENCH_RSS_OUTPUT=file).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$(realpath "${1:?usage: $0 OLD_DIR [bench.py args...]}"); shift
BENCH=${BENCH:-../shared/bench}
REF_SOCK=${REF_SOCK:-/run/ref-docker/docker.sock}
WORK=$(mktemp -d /tmp/shimbench-api-XXXXXX)
declare -A PIDS
UVLOOP_MAIN='import asyncio, sys, uvloop; asyncio.run = uvloop.run; from shim.__main__ import main; sys.exit(main())'  # only the main loop: pyroute2's own loops stay asyncio's (uvloop has no AF_NETLINK datagram endpoints)
start() {  # name pythonpath bridge bip [python -c program instead of shimd]
  local d=$WORK/$1
  mkdir -p "$d"; echo '{}' >"$d/daemon.json"
  local cmd=(.venv/bin/shimd)
  [ -n "${5:-}" ] && cmd=(.venv/bin/python -c "$5")
  PYTHONPATH=$2 "${cmd[@]}" -H "unix://$d/s.sock" --data-root "$d/data" --exec-root "$d/exec" \
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
  for pair in before:shbapi0 after:shbapi1 uvloop:shbapi3; do
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
REF_IMAGE_TAR=$PWD/fixtures/build/busybox.tar "$BENCH/reference-dockerd.sh" start >/dev/null
start before "$OLD" shbapi0 172.30.92.1/24
start after "" shbapi1 172.30.91.1/24
EXTRA=()
if [ "${UVLOOP:-0}" = 1 ]; then
  start uvloop "" shbapi3 172.30.89.1/24 "$UVLOOP_MAIN"
  EXTRA=(--target "uvloop=unix://$WORK/uvloop/s.sock:conmon")
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 "$BENCH/bench.py" --target "dockerd=unix://$REF_SOCK:containerd,containerd-shim-runc-v2" \
  --target "before=unix://$WORK/before/s.sock:conmon" --target "after=unix://$WORK/after/s.sock:conmon" \
  "${EXTRA[@]}" --image-archive fixtures/build/busybox.tar "$@"
if [ "${BENCH_RSS:-0}" != 0 ]; then
  # memory with exact attribution (bench.py counts every conmon/containerd on the host by name)
  echo "load average before bench_rss.py: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  .venv/bin/python scripts/bench_rss.py --target "dockerd=unix://$REF_SOCK:$(dirname "$REF_SOCK")/exec" \
    --target "before=unix://$WORK/before/s.sock:$WORK/before/exec" --target "after=unix://$WORK/after/s.sock:$WORK/after/exec" \
    --rounds "${BENCH_RSS_ROUNDS:-3}" ${BENCH_RSS_OUTPUT:+--output "$BENCH_RSS_OUTPUT"}
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
