#!/usr/bin/env bash
# `make run`: shimd in the foreground on its default socket, with the busybox fixture loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/run/shim/docker.sock
export DOCKER_HOST=unix://$SOCK
.venv/bin/shimd -H "$DOCKER_HOST" --data-root /var/lib/shim --exec-root /run/shim "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 1 100); do
  docker version >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit $?; }
  sleep 0.1
done
if ! docker image inspect busybox:latest >/dev/null 2>&1; then
  docker load -q -i fixtures/build/busybox.tar
fi
echo
echo "shimd is running (pid $pid). In another shell:"
echo "export DOCKER_HOST=unix://$SOCK"
echo
wait $pid
