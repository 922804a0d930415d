"""Runtime adapter (blocking): TLS settings for a secure registry, from dockerd's certs.d.

`/etc/docker/certs.d/<host:port>/` as dockerd reads it (registry.ReadCertsDirectory): every
`*.crt` is a CA added to the system's roots, every `*.cert` a client certificate whose key
is the `*.key` of the same name (a missing key is an error, with dockerd's wording). The
directory is read again whenever it changed, so a CA added while the daemon runs is used.
"""

from __future__ import annotations

import os
import ssl

CERTS_DIR = "/etc/docker/certs.d"

_cache: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], ssl.SSLContext]] = {}


def _listing(directory: str) -> tuple[tuple[str, int, int], ...]:
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    out = []
    for n in names:
        try:
            st = os.stat(os.path.join(directory, n))
        except OSError:
            continue
        out.append((n, st.st_mtime_ns, st.st_size))
    return tuple(out)


def context_for(certs_dir: str, host: str) -> ssl.SSLContext:
    """A verifying client context for `host` (host[:port]): system CAs plus certs.d's."""
    directory = os.path.join(certs_dir, host)
    listing = _listing(directory)
    hit = _cache.get((certs_dir, host))
    if hit is not None and hit[0] == listing:
        return hit[1]
    ctx = ssl.create_default_context()
    names = {n for n, _, _ in listing}
    for name, _, _ in listing:
        path = os.path.join(directory, name)
        if name.endswith(".crt"):
            ctx.load_verify_locations(cafile=path)
        elif name.endswith(".cert"):
            key = name[: -len(".cert")] + ".key"
            if key not in names:
                raise ssl.SSLError(
                    f"missing key {key} for client certificate {name}. Note that CA certificates should use "
                    "the extension .crt"
                )
            ctx.load_cert_chain(path, os.path.join(directory, key))
    _cache[(certs_dir, host)] = (listing, ctx)
    return ctx
