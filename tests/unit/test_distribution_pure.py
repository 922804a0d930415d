"""Pure pieces of the registry area: references (dockerd's rules, with hypothesis), the transport
policy (insecure registries, mirrors), manifests and platforms, the progress JSON the CLI draws,
X-Registry-Auth decoding, Go's proxy rules, authentication challenges and tokens."""

from __future__ import annotations

import base64
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.engine import refs
from shim.engine.distribution import manifest as mf
from shim.engine.distribution.progress import Progress, PushResult, counting, message, update
from shim.engine.distribution.registries import RegistryPolicy, server_host, validate_insecure, validate_mirror
from shim.errors import InvalidParameter
from shim.runtime.registry.auth import parse_challenges, token_from_response, token_query
from shim.runtime.registry.proxy import ProxyConfig
from shim.translate import distribution as tr

# --- references ------------------------------------------------------------------------

alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
component = st.builds(
    lambda first, rest: first + "".join(sep + a for sep, a in rest),
    alnum,
    st.lists(st.tuples(st.sampled_from([".", "_", "__", "-", "--"]), alnum), max_size=2),
)
domains = st.sampled_from(["", "localhost:5000/", "127.0.0.1:5000/", "registry.example.com/", "[::1]:5443/"])
tags = st.one_of(st.just(""), st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20).filter(
    lambda t: t[0] not in ".-").map(lambda t: ":" + t))  # fmt: skip


FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(domains, st.lists(component, min_size=1, max_size=3), tags)
def test_valid_references_normalise_idempotently(domain, parts, tag):
    text = domain + "/".join(parts) + tag
    ref = refs.parse_image_ref(text)
    again = refs.parse_image_ref(ref.familiar)
    assert again.canonical == ref.canonical
    assert refs.parse_image_ref(ref.canonical).canonical == ref.canonical
    if not domain and "." not in parts[0]:
        assert ref.domain == "docker.io"


@FEW
@given(st.lists(component, min_size=1, max_size=3), st.integers(min_value=0, max_value=2), st.data())
def test_an_upper_case_letter_in_the_path_is_refused(parts, where, data):
    where = min(where, len(parts) - 1)
    letter = data.draw(st.sampled_from(string.ascii_uppercase))
    parts = list(parts)
    parts[where] = parts[where] + letter
    text = "127.0.0.1:5000/" + "/".join(parts)
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        refs.parse_image_ref(text)


@FEW
@given(st.integers(min_value=256, max_value=400))
def test_names_longer_than_255_are_refused(n):
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        refs.parse_image_ref("a" * n)


@FEW
@given(st.integers(min_value=32, max_value=80).filter(lambda n: n != 64))
def test_digests_of_the_wrong_length_are_refused(n):
    with pytest.raises(InvalidParameter, match="invalid checksum digest length"):
        refs.parse_image_ref("busybox@sha256:" + "a" * n)


def test_digest_rules():
    with pytest.raises(InvalidParameter, match="invalid checksum digest format"):
        refs.parse_image_ref("busybox@sha256:" + "A" * 64)
    with pytest.raises(InvalidParameter, match="unsupported digest algorithm"):
        refs.parse_image_ref("busybox@md5:" + "a" * 32)
    assert refs.parse_image_ref("busybox@sha256:" + "a" * 64).digest == "sha256:" + "a" * 64


# --- transport policy ----------------------------------------------------------------


def test_loopback_is_insecure_and_tried_over_https_then_http():
    p = RegistryPolicy()
    assert not p.is_secure("127.0.0.1:5000") and not p.is_secure("127.9.9.9")
    assert not p.is_secure("[::1]:5443")  # dockerd 28 adds ::1/128 too
    assert p.is_secure("10.213.0.1:5000") and p.is_secure("registry.example.com", ["93.184.216.34"])
    assert not p.is_secure("reg.local:5000", ["127.0.0.1"])  # a name resolving into 127/8
    eps = p.endpoints("127.0.0.1:5000", {"127.0.0.1:5000": False})
    assert [e.url for e in eps] == ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
    assert [e.url for e in p.endpoints("10.213.0.1:5443", {"10.213.0.1:5443": True})] == ["https://10.213.0.1:5443"]


def test_insecure_flag_and_cidrs():
    p = RegistryPolicy(insecure=["10.1.0.0/16", "myreg:5000"])
    assert not p.is_secure("myreg:5000") and p.is_secure("myreg:5001", [])
    assert not p.is_secure("x:1", ["10.1.2.3"]) and p.is_secure("x:1", ["10.2.0.1"])
    assert p.insecure_cidrs == ["10.1.0.0/16", "::1/128", "127.0.0.0/8"]
    assert p.index_configs()["myreg:5000"]["Secure"] is False


def test_mirrors_first_for_hub_names_only_when_pulling():
    p = RegistryPolicy(mirrors=[validate_mirror("http://127.0.0.1:5001")])
    eps = p.endpoints("docker.io", {"127.0.0.1:5001": False})
    assert [(e.url, e.mirror) for e in eps] == [
        ("http://127.0.0.1:5001", True),
        ("https://registry-1.docker.io", False),
    ]
    assert [e.url for e in p.endpoints("docker.io", {}, push=True)] == ["https://registry-1.docker.io"]
    assert next(e.url for e in p.endpoints("127.0.0.1:5000", {"127.0.0.1:5000": False})) == "https://127.0.0.1:5000"


@pytest.mark.parametrize(
    "value,error",
    [
        ("ftp://m", 'invalid mirror: unsupported scheme "ftp" in "ftp://m"'),
        ("https://m/path", 'invalid mirror: path, query, or fragment at end of the URI "https://m/path"'),
        ("https://u:p@m", 'invalid mirror: username/password not allowed in URI "https://u:xxxxx@m"'),
    ],
)
def test_mirror_validation(value, error):
    with pytest.raises(ValueError) as e:
        validate_mirror(value)
    assert str(e.value) == error


def test_insecure_validation():
    assert validate_insecure("http://myreg:5000") == "myreg:5000"
    assert validate_insecure("10.0.0.0/8") == "10.0.0.0/8"
    with pytest.raises(ValueError, match="should not contain '://'"):
        validate_insecure("ftp://x")
    with pytest.raises(ValueError, match="Cannot begin or end with a hyphen"):
        validate_insecure("-bad")
    assert (
        server_host("https://index.docker.io/v1/") == "docker.io" and server_host("127.0.0.1:5000") == "127.0.0.1:5000"
    )


# --- manifests and platforms ------------------------------------------------------------

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_manifest_parsing_and_checks():
    zstd = mf.OCI_LAYER_PREFIX + "v1.tar+zstd"
    raw = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                      "config": {"mediaType": mf.OCI_CONFIG, "digest": D1, "size": 10},
                      "layers": [{"mediaType": zstd, "digest": D2, "size": 5}]})  # fmt: skip
    doc = mf.parse(raw.encode(), "application/json")
    assert isinstance(doc, mf.ImageManifest) and doc.layers[0].short_id == "2" * 12
    mf.check_layer_type(doc.layers[0].media_type)
    with pytest.raises(InvalidParameter, match="unsupported media type application/x-evil"):
        mf.check_layer_type("application/x-evil")
    with pytest.raises(mf.Schema1Refused):
        mf.parse(b'{"schemaVersion": 1}', mf.SCHEMA1_SIGNED)
    with pytest.raises(InvalidParameter, match="invalid checksum digest format"):
        mf.parse(json.dumps({"config": {"digest": "sha256:../../etc", "size": 1}, "layers": []}).encode(), "")
    with pytest.raises(InvalidParameter):
        mf.parse(b"[]", mf.DOCKER_MANIFEST)


def test_platform_selection():
    idx = mf.ManifestIndex(mf.OCI_INDEX, (
        mf.Descriptor(mf.DOCKER_MANIFEST, D1, 1, mf.Platform("linux", "amd64")),
        mf.Descriptor(mf.DOCKER_MANIFEST, D2, 1, mf.Platform("linux", "arm64", "v8")),
    ))  # fmt: skip
    assert mf.select(idx, mf.parse_platform("linux/arm64")).digest == D2
    assert mf.select(idx, mf.parse_platform("linux/aarch64/v8")).digest == D2
    assert mf.select(idx, mf.parse_platform("amd64")).digest == D1
    with pytest.raises(
        mf.NoMatchingManifest, match="no matching manifest for linux/arm/v7 in the manifest list entries"
    ):
        mf.select(idx, mf.parse_platform("linux/arm"))
    with pytest.raises(InvalidParameter):
        mf.parse_platform("linux/amd64/v1/extra")


def test_built_manifests_are_byte_stable():
    cfg = mf.Descriptor(mf.DOCKER_CONFIG, D1, 10)
    a = mf.build_schema2(cfg, [mf.Descriptor(mf.DOCKER_LAYER, D2, 5)])
    assert a == mf.build_schema2(cfg, [mf.Descriptor(mf.DOCKER_LAYER, D2, 5)])
    assert a.startswith(
        b'{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.v2+json"'
    )


# --- progress JSON -------------------------------------------------------------------


def test_progress_messages_as_dockerd_writes_them():
    assert tr.progress_json(message("Pulling from library/busybox", "latest")) == {
        "status": "Pulling from library/busybox",
        "id": "latest",
    }
    assert tr.progress_json(message("Digest: x")) == {"status": "Digest: x"}
    assert tr.progress_json(update("d8f71a0cebf0", "Pull complete")) == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "d8f71a0cebf0",
    }
    # the two bars of the recorded traffic (api-traffic.md 5.5)
    assert tr.progress_json(counting("d8f71a0cebf0", "Pushing", 19968, 1984172)) == {
        "status": "Pushing",
        "progressDetail": {"current": 19968, "total": 1984172},
        "progress": "[>" + " " * 50 + "]  19.97kB/1.984MB",
        "id": "d8f71a0cebf0",
    }
    assert tr.progress_json(counting("d8f71a0cebf0", "Pushing", 2129920, 1984172))["progress"] == (
        "[" + "=" * 50 + ">]   2.13MB"
    )
    assert tr.progress_json(counting("4dee2b9dd06a", "Downloading", 98, 98))["progress"] == (
        "[" + "=" * 50 + ">]      98B/98B"
    )
    assert tr.progress_json(Progress(id="f23abc4717ac", action="Pushing", current=1536, counts=True)) == {
        "status": "Pushing",
        "progressDetail": {"current": 1536},
        "progress": " 1.536kB",
        "id": "f23abc4717ac",
    }
    assert tr.progress_json(Progress(aux=PushResult("latest", "sha256:f0", 527))) == {
        "progressDetail": {},
        "aux": {"Tag": "latest", "Digest": "sha256:f0", "Size": 527},
    }
    assert tr.error_json("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}


@pytest.mark.parametrize(
    "n,text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (2048, "2.048kB"), (1984172, "1.984MB"), (5 * 10**9, "5GB")]
)
def test_human_size(n, text):
    assert tr.human_size(n) == text


def test_registry_auth_header():
    def enc(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    assert tr.auth_from_header("e30=").empty
    a = tr.auth_from_header(enc({"Username": "u", "Password": "p", "ServerAddress": "h"}))
    assert (a.username, a.password, a.server_address) == ("u", "p", "h")
    assert tr.auth_from_header(enc({"identitytoken": "t"})).identity_token == "t"
    assert tr.auth_from_header(enc({"auth": base64.b64encode(b"x:y").decode()})).password == "y"
    assert tr.auth_from_header("!!not base64!!").empty
    assert "sekrit" not in repr(tr.auth_from_header(enc({"username": "u", "password": "sekrit"})))


# --- proxies, challenges, tokens ------------------------------------------------------


def test_go_proxy_rules():
    cfg = ProxyConfig(http_proxy="http://proxy:3128", https_proxy="proxy:3129", no_proxy=".corp, 10.0.0.0/8, exact:444")
    assert cfg.proxy_for("https://registry-1.docker.io/v2/") == "http://proxy:3129"
    assert cfg.proxy_for("http://reg.example/v2/") == "http://proxy:3128"
    assert cfg.proxy_for("http://127.0.0.1:5000/v2/") is None and cfg.proxy_for("https://localhost/v2/") is None
    assert cfg.proxy_for("https://[::1]:5443/v2/") is None
    assert cfg.proxy_for("https://a.corp/v2/") is None and cfg.proxy_for("https://corp/v2/") is None
    assert cfg.proxy_for("https://10.1.2.3/v2/") is None
    assert cfg.proxy_for("https://exact:444/v2/") is None and cfg.proxy_for("https://exact/v2/") == "http://proxy:3129"
    assert ProxyConfig(https_proxy="http://p", no_proxy="*").proxy_for("https://x/") is None
    assert ProxyConfig.from_env({"https_proxy": "http://low"}).https_proxy == "http://low"


def test_challenges_and_tokens():
    cs = parse_challenges(['Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"'])
    assert cs[0].scheme == "bearer" and cs[0].params == {
        "realm": "https://auth.example/token",
        "service": "reg",
        "scope": "repository:a:pull",
    }
    assert [c.scheme for c in parse_challenges(['Basic realm="x"', "Bearer realm=y, error=invalid_token"])] == [
        "basic",
        "bearer",
    ]
    assert token_query("r", "reg", ["repository:a:pull"], "alice", offline=True) == [
        ("service", "reg"),
        ("scope", "repository:a:pull"),
        ("account", "alice"),
        ("offline_token", "true"),
        ("client_id", "docker"),
    ]
    tok = token_from_response({"access_token": "A", "token": "T", "expires_in": 5}, now=100.0)
    assert tok.value == "A" and tok.expires == 160.0  # at least 60 s, as distribution
    with pytest.raises(ValueError):
        token_from_response({"nothing": 1})
