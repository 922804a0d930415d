#!/usr/bin/env bash
# The build benchmark of docs/PERFORMANCE.md: a 10-step Dockerfile (5 COPY + 5 RUN) built cold
# (--no-cache) and fully cached, against two or more engines in one interleaved run.
#   scripts/bench_build.sh ROUNDS HOST_A HOST_B [HOST…]   (DOCKER_HOST values; DOCKER_BUILDKIT=0 is set)
# Every round builds on each host in turn; prints one line per round and host, then the medians.
set -euo pipefail
ROUNDS=${1:-5}; HOSTS=("${@:2}")
CTX=$(mktemp -d /tmp/bench-build.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
{ echo "FROM busybox"; for i in 1 2 3 4 5; do
    head -c 65536 /dev/urandom > "$CTX/f$i"; echo "COPY f$i /data/f$i"; echo "RUN wc -c /data/f$i > /data/n$i"; done; } > "$CTX/Dockerfile"
export DOCKER_BUILDKIT=0
ms() { local s e; s=$(date +%s%N); DOCKER_HOST=$1 docker build -q "${@:2}" "$CTX" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
for h in "${HOSTS[@]}"; do DOCKER_HOST=$h docker build -q -t bench-build "$CTX" >/dev/null 2>&1; done
OUT=$(mktemp /tmp/bench-build-out.XXXXXX)
trap 'rm -rf "$CTX" "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for h in "${HOSTS[@]}"; do
    echo "round=$r host=$h cold_ms=$(ms "$h" --no-cache) cached_ms=$(ms "$h" -t bench-build)"
  done
done | tee "$OUT"
for h in "${HOSTS[@]}"; do
  for k in cold_ms cached_ms; do
    printf '%s median %s=' "$h" "$k"
    grep " host=$h " "$OUT" | sed "s/.* $k=\([0-9]*\).*/\1/" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  done
done
