# Sourced by the benchmark scripts that run private shimd targets (bench_ab.sh, bench_api.sh).
# The caller sets WORK (a fresh temporary directory) and runs from the checkout's root;
# `trap cleanup EXIT` then stops every started daemon and sweeps what it left.
declare -A PIDS BRIDGES
start() {  # name pythonpath bridge bip [python -c program to run instead of shimd]
  local d=$WORK/$1
  mkdir -p "$d"; echo '{}' >"$d/daemon.json"
  local cmd=(.venv/bin/shimd)
  # -P: `python -c` puts the cwd (this checkout, which holds `shim/`) first on sys.path, ahead of
  # PYTHONPATH, so without it the target ran the checkout's shim whatever pythonpath said. -P
  # drops that entry (PYTHONPATH, then the editable install, as for .venv/bin/shimd) and, being on
  # the command line, stays on it through shimd's -OO re-exec of sys.orig_argv.
  [ -n "${5:-}" ] && cmd=(.venv/bin/python -P -c "$5")
  PYTHONPATH=$2 "${cmd[@]}" -H "unix://$d/s.sock" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/pid" --config-file "$d/daemon.json" --bridge "$3" --bip "$4" >"$d/log" 2>&1 &
  PIDS[$1]=$!
  BRIDGES[$1]=$3
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
  # Anything a crashed shimd left: processes, mounts under our roots, its links and chains.
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "$WORK" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for n in "${!BRIDGES[@]}"; do
    .venv/bin/python - "$WORK/$n/exec" "${BRIDGES[$n]}" <<'PY' 2>/dev/null || true
import sys
sys.path.insert(0, "tests")
from shimd_harness import _sweep_network
_sweep_network(sys.argv[1], sys.argv[2])
PY
    ip link del "${BRIDGES[$n]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
