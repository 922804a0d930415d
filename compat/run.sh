#!/usr/bin/env bash
# Run the compatibility suite against an engine.
#   compat/run.sh shim       start a shimd of this checkout on a temporary socket/data root, run, stop it
#                            (if DOCKER_HOST is set, run against that engine instead: `DOCKER_HOST=… make compat`)
#   compat/run.sh reference  start a real dockerd (Debian docker.io 20.10) on its own socket, bridge and
#                            subnet, run, stop it (installs docker.io first if dockerd is missing)
#   compat/run.sh external   run against whatever DOCKER_HOST names (set COMPAT_ENGINE for the report name)
# Extra arguments after the mode go to pytest (e.g. `compat/run.sh shim -k images -x`).
# Exit code = pytest's. Results go to build/compat/results/ and every mode regenerates
# build/compat/REPORT.md (untracked); COMPAT_PUBLISH=1 (`make compat-publish`) writes the published
# compat/results/ and compat/REPORT.md instead (compat/outdir.py, compat/README.md "Results").
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY="$VENV/bin/python"
IMAGE_TAR=${COMPAT_IMAGE_TAR:-$ROOT/fixtures/build/busybox.tar}
REF_SCRIPT=${REF_SCRIPT:-$ROOT/../shared/bench/reference-dockerd.sh}

mode=${1:-}
[ $# -gt 0 ] && shift

need_image_tar() {
  if [ ! -f "$IMAGE_TAR" ]; then
    echo "compat: $IMAGE_TAR is missing; trying 'make fixtures'" >&2
    make -C "$ROOT" fixtures >&2 || true
  fi
  if [ ! -f "$IMAGE_TAR" ]; then
    echo "compat: no busybox image tar at $IMAGE_TAR (run 'make fixtures' or set COMPAT_IMAGE_TAR)" >&2
    exit 2
  fi
}

# Every answer of the engine is checked against Docker's API description of the version asked
# (compat/apicheck): clients talk to a recording proxy in front of the engine's socket, and the
# pytest plugin validates what it recorded. APICHECK=0 runs the suite straight at the engine.
APICHECK_PID=""
start_apicheck_proxy() {
  # $1 = the engine's socket, $2 = a directory of ours; sets API_SOCK (what DOCKER_HOST should name)
  API_SOCK=$1
  [ "${APICHECK:-1}" = "0" ] && return 0
  mkdir -p "$2/apicheck"
  export APICHECK_RECORD_DIR="$2/apicheck"
  (cd "$ROOT" && exec "$PY" -m compat.apicheck.proxy --listen "$2/api.sock" --upstream "$1" \
      --record "$APICHECK_RECORD_DIR/engine.jsonl") >"$2/apicheck-proxy.log" 2>&1 </dev/null &
  APICHECK_PID=$!
  # ready when it accepts a connection: its socket file exists from bind() on, and a connect before
  # its listen() is refused (a loaded machine can hold the proxy between the two)
  "$PY" -c '
import os, socket, sys, time
deadline = time.monotonic() + 30
while time.monotonic() < deadline and os.path.exists(f"/proc/{sys.argv[2]}"):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(sys.argv[1])
            sys.exit(0)
        except OSError:
            time.sleep(0.02)
sys.exit(1)' "$2/api.sock" "$APICHECK_PID" \
    || { echo "compat: the apicheck proxy did not start" >&2; cat "$2/apicheck-proxy.log" >&2; exit 2; }
  API_SOCK="$2/api.sock"
}
stop_apicheck_proxy() {
  if [ -n "$APICHECK_PID" ] && kill -0 "$APICHECK_PID" 2>/dev/null; then
    kill -TERM "$APICHECK_PID" 2>/dev/null; wait "$APICHECK_PID" 2>/dev/null
  fi
  APICHECK_PID=""
  return 0
}

run_pytest() {
  # $1 = engine name for the results file ("" = detect from /version); the rest goes to pytest
  local engine=$1; shift
  if [ -n "$engine" ]; then export COMPAT_ENGINE="$engine"; fi
  local results
  results=$(cd "$ROOT" && "$PY" -m compat.outdir) || { echo "compat: no results directory" >&2; return 2; }
  mkdir -p "$results"
  (cd "$ROOT" && APICHECK_REPORT="$results/apicheck-${engine:-external}.json" \
      "$PY" -m pytest -p no:cacheprovider -q "$HERE" "$@")
  local rc=$?
  "$PY" "$HERE/report.py" >/dev/null || echo "compat: report generation failed" >&2
  return $rc
}

# ---------------------------------------------------------------- shim
run_shim() {
  need_image_tar
  SHIM_BRIDGE=""
  SHIM_TMP=$(mktemp -d /tmp/compat-shim.XXXXXX)
  local tmp=$SHIM_TMP
  local sock="$tmp/docker.sock"
  cleanup_shim() {
    local tmp=$SHIM_TMP pid=""
    stop_apicheck_proxy
    if [ -f "$tmp/shimd.pid" ]; then pid=$(cat "$tmp/shimd.pid" 2>/dev/null || true); fi
    if [ -z "$pid" ] && [ -n "${SHIMD_PID:-}" ]; then pid=$SHIMD_PID; fi
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "compat: shimd did not stop on SIGTERM, killing" >&2; kill -KILL "$pid" 2>/dev/null; }
      wait "$pid" 2>/dev/null
    fi
    # anything shimd left mounted under its roots must not block the removal
    grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$tmp"
    # the bridge has a name unique to this run: if shimd left it, it is ours to remove
    [ -n "$SHIM_BRIDGE" ] && ip link show "$SHIM_BRIDGE" >/dev/null 2>&1 && ip link del "$SHIM_BRIDGE" 2>/dev/null
    return 0
  }
  trap cleanup_shim EXIT
  trap 'exit 130' INT TERM
  # its own bridge and subnet, so it never collides with another shimd (or dockerd) on the machine
  SHIM_BRIDGE="cmpsh$(tr -dc 'a-z0-9' </dev/urandom | head -c 6)"
  local bridge=$SHIM_BRIDGE
  local bip="10.$((RANDOM % 40 + 200)).$((RANDOM % 256)).1/24"
  local args=(-H "unix://$sock" --data-root "$tmp/data" --exec-root "$tmp/exec" --pidfile "$tmp/shimd.pid"
              --bridge "$bridge" --bip "$bip")
  "$VENV/bin/shimd" "${args[@]}" >"$tmp/shimd.log" 2>&1 </dev/null &
  SHIMD_PID=$!
  # scenarios marked needs_restart restart the engine with this (SIGTERM, then the same command again)
  {
    echo '#!/usr/bin/env bash'
    echo "pid=\$(cat '$tmp/shimd.pid' 2>/dev/null)"
    echo '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null'
    echo 'for _ in $(seq 1 200); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done'
    printf 'setsid %q' "$VENV/bin/shimd"; printf ' %q' "${args[@]}"; echo " >>'$tmp/shimd.log' 2>&1 </dev/null &"
    echo "for _ in \$(seq 1 200); do DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
  } > "$tmp/restart.sh"
  chmod +x "$tmp/restart.sh"
  export COMPAT_RESTART_CMD="$tmp/restart.sh"
  for _ in $(seq 1 100); do
    [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1 && break
    kill -0 "$SHIMD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
    echo "compat: shimd did not come up; its log:" >&2; tail -30 "$tmp/shimd.log" >&2; exit 2
  fi
  DOCKER_HOST="unix://$sock" docker load -q -i "$IMAGE_TAR" >/dev/null || { echo "compat: loading $IMAGE_TAR into shimd failed" >&2; exit 2; }
  start_apicheck_proxy "$sock" "$tmp"
  DOCKER_HOST="unix://$API_SOCK" run_pytest shim "$@"
  local rc=$?
  if [ $rc -ne 0 ] && [ -n "${COMPAT_SHOW_LOG:-}" ]; then tail -50 "$tmp/shimd.log" >&2; fi
  if [ -n "${COMPAT_KEEP_LOG:-}" ]; then cp "$tmp/shimd.log" "$COMPAT_KEEP_LOG"; fi
  return $rc
}

# ---------------------------------------------------------------- reference dockerd
install_docker_io() {
  command -v dockerd >/dev/null 2>&1 && return 0
  echo "compat: installing Debian docker.io (its services are kept from starting)" >&2
  local had_policy=""
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ -z "$had_policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  local rc=$?
  [ -z "$had_policy" ] && rm -f /usr/sbin/policy-rc.d
  # if something started a system dockerd/containerd anyway (no systemd here, but be sure), stop it
  local p
  for p in $(pgrep -x dockerd) $(pgrep -x containerd); do
    if ! grep -q "compat-ref\|ref-docker" "/proc/$p/cmdline" 2>/dev/null; then
      echo "compat: stopping a $(cat /proc/$p/comm) (pid $p) that the install started" >&2
      kill -TERM "$p" 2>/dev/null
    fi
  done
  sleep 1
  ip link show docker0 >/dev/null 2>&1 && ip link del docker0 2>/dev/null
  return $rc
}

# dockerd changes host-wide iptables state: it sets the FORWARD policy to DROP (which cuts every
# other engine's bridge traffic on a host with br_netfilter) and adds DOCKER* chains and rules for
# its bridge. The reference run must not disturb the machine: the policy goes back at once, and
# the rules and chains go when the reference dockerd stops.
FORWARD_POLICY=""
save_forward_policy() {
  FORWARD_POLICY=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3; exit}')
}
restore_forward_policy() {
  [ -n "$FORWARD_POLICY" ] && iptables -P FORWARD "$FORWARD_POLICY" 2>/dev/null
  return 0
}
remove_ref_iptables() {
  local t rule net="${REF_CIDR%.*}."
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A (FORWARD|INPUT|OUTPUT|PREROUTING|POSTROUTING) ' \
      | grep -E -- "$REF_BRIDGE|-s ${net//./\\.}0/|-j DOCKER" | while read -r -a rule; do
        # jumps into DOCKER* chains stay while another dockerd still runs (it shares them)
        if pgrep -x dockerd >/dev/null && [[ "${rule[*]}" == *"-j DOCKER"* ]] \
           && [[ "${rule[*]}" != *"$REF_BRIDGE"* ]]; then continue; fi
        iptables -t "$t" -D "${rule[@]:1}" 2>/dev/null
      done
  done
  if ! pgrep -x dockerd >/dev/null; then
    for t in filter nat; do
      for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        iptables -t "$t" -F "$c" 2>/dev/null
      done
      for c in $(iptables -t "$t" -S 2>/dev/null | awk '$1=="-N" && $2 ~ /^DOCKER/ {print $2}'); do
        iptables -t "$t" -X "$c" 2>/dev/null
      done
    done
  fi
  return 0
}

REF_RESTART=""
stop_reference() {
  stop_apicheck_proxy
  [ -n "${REF_API_TMP:-}" ] && rm -rf "$REF_API_TMP"
  "$REF_SCRIPT" stop >/dev/null 2>&1
  [ -n "$REF_RESTART" ] && rm -f "$REF_RESTART"
  # libnetwork leaves a bind mount of the host's netns under its exec root
  local m
  for m in $(awk -v d="$REF_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount "$m" 2>/dev/null; done
  remove_ref_iptables
  restore_forward_policy
  return 0
}

run_reference() {
  need_image_tar
  # one reference dockerd at a time on this machine: concurrent runs (several checkouts) wait here
  exec 9>/tmp/shim-compat-reference.lock
  flock 9
  install_docker_io || { echo "compat: installing docker.io failed" >&2; exit 2; }
  export REF_DIR=${REF_DIR:-/run/compat-ref} REF_DATA=${REF_DATA:-/var/lib/compat-ref}
  export REF_BRIDGE=${REF_BRIDGE:-cmpref0} REF_CIDR=${REF_CIDR:-172.30.98.1/24}
  export REF_IMAGE_TAR="$IMAGE_TAR"
  save_forward_policy
  trap stop_reference EXIT
  trap 'exit 130' INT TERM
  "$REF_SCRIPT" start >/dev/null || { echo "compat: reference dockerd did not start" >&2; exit 2; }
  restore_forward_policy
  local host="unix://$REF_DIR/docker.sock" want
  # scenarios marked needs_restart restart the reference dockerd with this
  REF_RESTART=$(mktemp /tmp/compat-ref-restart.XXXXXX)
  {
    echo '#!/usr/bin/env bash'
    printf 'export REF_DIR=%q REF_DATA=%q REF_BRIDGE=%q REF_CIDR=%q\n' "$REF_DIR" "$REF_DATA" "$REF_BRIDGE" "$REF_CIDR"
    printf '%q stop >/dev/null 2>&1\n' "$REF_SCRIPT"
    printf '%q start >/dev/null || exit 1\n' "$REF_SCRIPT"
    [ -n "$FORWARD_POLICY" ] && echo "iptables -P FORWARD $FORWARD_POLICY"
    echo 'exit 0'
  } > "$REF_RESTART"
  chmod +x "$REF_RESTART"
  export COMPAT_RESTART_CMD="$REF_RESTART"
  # the reference must run the fixture image, not whatever busybox an earlier run left in its data root
  want=$(cat "$IMAGE_TAR.id" 2>/dev/null || true)
  if [ -n "$want" ] && [ "$(DOCKER_HOST=$host docker image inspect -f '{{.Id}}' busybox:latest 2>/dev/null)" != "$want" ]; then
    DOCKER_HOST=$host docker rmi -f busybox:latest >/dev/null 2>&1
    DOCKER_HOST=$host docker load -q -i "$IMAGE_TAR" >/dev/null
  fi
  REF_API_TMP=$(mktemp -d /tmp/compat-ref-api.XXXXXX)
  start_apicheck_proxy "$REF_DIR/docker.sock" "$REF_API_TMP"
  DOCKER_HOST="unix://$API_SOCK" run_pytest dockerd "$@"
}

# ---------------------------------------------------------------- any engine
run_external() {
  if [ -z "${DOCKER_HOST:-}" ]; then echo "compat: set DOCKER_HOST=unix:///path/to/docker.sock" >&2; exit 2; fi
  run_pytest "${COMPAT_ENGINE:-}" "$@"
}

case "$mode" in
  shim)
    # `DOCKER_HOST=unix:///… make compat` tests that engine instead of a fresh shimd (the README's promise)
    if [ -n "${DOCKER_HOST:-}" ] && [ -z "${COMPAT_FRESH_SHIM:-}" ]; then
      echo "compat: DOCKER_HOST is set: running against $DOCKER_HOST (unset it, or set COMPAT_FRESH_SHIM=1, for a fresh shimd)" >&2
      run_external "$@"
    else
      run_shim "$@"
    fi ;;
  reference) run_reference "$@" ;;
  external) run_external "$@" ;;
  report) "$PY" "$HERE/report.py" ;;
  *) echo "usage: $0 shim|reference|external|report [pytest args...]" >&2; exit 2 ;;
esac
