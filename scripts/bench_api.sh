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
source scripts/lib/shimd-targets.sh
UVLOOP_MAIN='import asyncio, sys, uvloop; asyncio.run = uvloop.run; from shim.__main__ import main; sys.exit(main())'  # only the main loop (written when pyroute2 ran loops of its own, which uvloop could not: no AF_NETLINK endpoints; shimd has no other loop since runtime/rtnl.py)
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
