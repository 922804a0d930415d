#!/usr/bin/env bash
# What Docker's default seccomp profile costs at start: one interleaved bench.py run of three targets,
#   shim            a shimd with the builtin profile (every container filtered, the default)
#   shim-unconfined a shimd started with --seccomp-profile unconfined
#   dockerd         the reference dockerd (Debian docker.io 20.10, its default profile)
#   scripts/bench_seccomp.sh [bench.py args...]     default: --only run_rm,parallel -n 15
# Report: docs/bench-seccomp-latest.md. Takes the reference lock compat/run.sh uses (one reference
# dockerd on the machine at a time); every daemon has its own socket, roots and bridge, and all
# are stopped and swept afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
WORK=$(mktemp -d /tmp/shimbench-sc-XXXXXX)
export REF_DIR=/run/shimbench-ref REF_DATA=/var/lib/shimbench-ref REF_BRIDGE=shbref0 REF_CIDR=172.30.97.1/24
export REF_IMAGE_TAR=$PWD/fixtures/build/busybox.tar
declare -A PIDS
start_shim() {  # name bridge bip extra-args...
  local name=$1 d=$WORK/$1 bridge=$2 bip=$3
  shift 3
  mkdir -p "$d"
  echo '{}' >"$d/daemon.json"
  .venv/bin/shimd -H "unix://$d/s.sock" --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/pid" \
    --config-file "$d/daemon.json" --bridge "$bridge" --bip "$bip" "$@" >"$d/log" 2>&1 &
  PIDS[$name]=$!
  for _ in $(seq 1 100); do DOCKER_HOST=unix://$d/s.sock docker version >/dev/null 2>&1 && break; sleep 0.1; done
  DOCKER_HOST=unix://$d/s.sock docker version >/dev/null 2>&1 || { tail -20 "$d/log"; exit 1; }
  DOCKER_HOST=unix://$d/s.sock docker load -q -i "$REF_IMAGE_TAR" >/dev/null
}
cleanup() {
  for n in "${!PIDS[@]}"; do
    local s=unix://$WORK/$n/s.sock
    DOCKER_HOST=$s docker ps -aq | xargs -r env DOCKER_HOST=$s docker rm -f >/dev/null 2>&1 || true
    kill -TERM "${PIDS[$n]}" 2>/dev/null || true
    wait "${PIDS[$n]}" 2>/dev/null || true
  done
  if [ -S "$REF_DIR/docker.sock" ]; then
    DOCKER_HOST=unix://$REF_DIR/docker.sock docker ps -aq --filter name=bench \
      | xargs -r env DOCKER_HOST=unix://$REF_DIR/docker.sock docker rm -f >/dev/null 2>&1 || true
  fi
  "$BENCH/reference-dockerd.sh" stop >/dev/null 2>&1 || true
  for ipt in iptables-nft iptables-legacy; do
    for t in nat filter; do
      "$ipt-save" -t $t 2>/dev/null | grep -- "-A .*\b$REF_BRIDGE\b" | sed 's/^-A /-D /' \
        | while read -r rule; do $ipt -w -t $t $rule 2>/dev/null || true; done || true
    done
  done
  grep -q " $REF_DATA\| $REF_DIR" /proc/mounts || rm -rf "$REF_DATA" "$REF_DIR"
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$WORK" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for pair in shim:shbsc0 shim-unconfined:shbsc1; do
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
# one reference dockerd on the machine at a time: the lock compat/run.sh takes
exec 9>/tmp/shim-compat-reference.lock
flock 9
"$BENCH/reference-dockerd.sh" start >/dev/null
start_shim shim shbsc0 172.30.92.1/24
start_shim shim-unconfined shbsc1 172.30.91.1/24 --seccomp-profile unconfined
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(--only run_rm,parallel -n 15)
python3 "$BENCH/bench.py" --target "dockerd=unix://$REF_DIR/docker.sock:containerd,containerd-shim-runc-v2" \
  --target "shim=unix://$WORK/shim/s.sock:conmon" --target "shim-unconfined=unix://$WORK/shim-unconfined/s.sock:conmon" \
  --image-archive "$REF_IMAGE_TAR" --output docs/bench-seccomp-latest.md "${ARGS[@]}"
