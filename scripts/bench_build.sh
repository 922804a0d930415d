#!/usr/bin/env bash
# The build benchmark of docs/PERFORMANCE.md: a 10-step Dockerfile (5 COPY + 5 RUN) built cold
# (--no-cache) and fully cached, against two engines in one interleaved run.
#   scripts/bench_build.sh ROUNDS HOST_A HOST_B    (DOCKER_HOST values; DOCKER_BUILDKIT=0 is set)
set -euo pipefail
ROUNDS=${1:-5}; A=$2; B=$3
CTX=$(mktemp -d /tmp/bench-build.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
{ echo "FROM busybox"; for i in 1 2 3 4 5; do
    head -c 65536 /dev/urandom > "$CTX/f$i"; echo "COPY f$i /data/f$i"; echo "RUN wc -c /data/f$i > /data/n$i"; done; } > "$CTX/Dockerfile"
export DOCKER_BUILDKIT=0
ms() { local s e; s=$(date +%s%N); DOCKER_HOST=$1 docker build -q "${@:2}" "$CTX" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
for h in "$A" "$B"; do DOCKER_HOST=$h docker build -q -t bench-build "$CTX" >/dev/null 2>&1; done
for r in $(seq 1 "$ROUNDS"); do
  for h in "$A" "$B"; do
    echo "round=$r host=$h cold_ms=$(ms "$h" --no-cache) cached_ms=$(ms "$h" -t bench-build)"
  done
done
