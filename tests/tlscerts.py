"""Certificates for the TLS tests, made with the openssl CLI as an operator would (docs: "Protect the
Docker daemon socket"): a CA, a server certificate for 127.0.0.1, client certificates signed by
that CA (one valid, one expired) and one signed by a foreign CA."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("genrsa", "-out", f"{name}-key.pem", "2048", cwd=d)
    _openssl(
        "req", "-x509", "-new", "-key", f"{name}-key.pem", "-sha256", "-days", "2",
        "-subj", f"/CN={name}", "-out", f"{name}.pem", cwd=d,
    )  # fmt: skip


def _issue(d: Path, ca: str, name: str, ext: str, days: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    _openssl("genrsa", "-out", f"{name}-key.pem", "2048", cwd=d)
    _openssl("req", "-new", "-key", f"{name}-key.pem", "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=d)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem", "-CAcreateserial",
        "-days", days, "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d,
    )  # fmt: skip


SERVER_EXT = "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n"
CLIENT_EXT = "extendedKeyUsage = clientAuth\n"


def make_certs(d: Path) -> dict[str, Path]:
    """Everything in `d`; returns the paths by role. `client/` etc. are DOCKER_CERT_PATH directories."""
    d.mkdir(parents=True, exist_ok=True)
    _ca(d, "ca")
    _ca(d, "foreign-ca")
    _issue(d, "ca", "server", SERVER_EXT, "2")
    _issue(d, "ca", "client", CLIENT_EXT, "2")
    _issue(d, "ca", "expired", CLIENT_EXT, "-1")  # notAfter a day before now: "certificate has expired"
    _issue(d, "foreign-ca", "foreign", CLIENT_EXT, "2")
    out = {"dir": d, "ca": d / "ca.pem", "server": d / "server.pem", "server-key": d / "server-key.pem"}
    for who in ("client", "expired", "foreign"):
        cert_dir = d / who
        cert_dir.mkdir()
        # DOCKER_CERT_PATH layout: the client trusts our CA, presents its own pair.
        (cert_dir / "ca.pem").write_bytes((d / "ca.pem").read_bytes())
        (cert_dir / "cert.pem").write_bytes((d / f"{who}.pem").read_bytes())
        (cert_dir / "key.pem").write_bytes((d / f"{who}-key.pem").read_bytes())
        out[who] = cert_dir
    return out
