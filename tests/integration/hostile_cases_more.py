"""The hostile-input catalogue, continued (query, versions, archives, conflicts): see hostile_cases.py.

Importing this module adds its cases to hostile_cases.CASES.
"""

from __future__ import annotations

import io
import tarfile

from tests.integration.hostile_cases import BASE, STREAM_ERROR, add, q

# ---------------------------------------------------------------------------------------- query
BAD_INTS_Q = {
    "huge": "99999999999999999999",
    "text": "abc",
    "fraction": "1.5",
    "space": " 1",
    "underscore": "1_0",
    "arabic": "\u0663",
}
for name, raw in BAD_INTS_Q.items():
    add("query", f"stop-t-{name}", "POST", f"/v1.41/containers/{{c}}/stop?t={q(raw)}", None, 400, "invalid value for t")
    add(
        "query",
        f"restart-t-{name}",
        "POST",
        f"/v1.41/containers/{{c}}/restart?t={q(raw)}",
        None,
        400,
        "invalid value for t",
    )
    add("query", f"list-limit-{name}", "GET", f"/v1.41/containers/json?limit={q(raw)}", None, 400, "limit")
    add(
        "query",
        f"resize-h-{name}",
        "POST",
        f"/v1.41/containers/{{c}}/resize?h={q(raw)}&w=80",
        None,
        400,
        "resize height",
    )
for name, raw in (("negative", "-1"), ("too-wide", "70000")):
    add("query", f"resize-w-{name}", "POST", f"/v1.41/containers/{{c}}/resize?h=24&w={raw}", None, 400, "resize width")
for sig in ("SIGHOSTILE", "0", "65", "-9", "SIG", "9999999999999999999999"):
    add(
        "query",
        f"kill-signal-{sig}",
        "POST",
        f"/v1.41/containers/{{c}}/kill?signal={q(sig)}",
        None,
        400,
        "Invalid signal",
    )
add("query", "stop-signal", "POST", "/v1.42/containers/{c}/stop?signal=SIGHOSTILE&t=0", None, 400, "Invalid signal")
for name, args in (
    ("unknown-option", "--hostile"),
    ("no-pid-column", "-o comm"),
    ("nul", "-ef\x00"),
    ("pid-filter", "-ef pid=1"),
):
    add("query", f"top-{name}", "GET", f"/v1.41/containers/{{c}}/top?ps_args={q(args)}", None, 400)
for name, value in (("bool", "maybe"), ("number", "2")):
    add("query", f"list-all-{name}", "GET", f"/v1.41/containers/json?all={value}", None, 400, "all")
add("query", "wait-condition", "POST", "/v1.41/containers/{s}/wait?condition=hostile", None, 400, "condition")
add("query", "logs-no-stream", "GET", "/v1.41/containers/{c}/logs", None, 400, "choose at least one stream")
add("query", "logs-since", "GET", "/v1.41/containers/{c}/logs?stdout=1&since=yesterday", None, 400)
add("query", "events-since", "GET", "/v1.41/events?since=yesterday", None, 400)
add("query", "events-until-before-since", "GET", "/v1.41/events?since=100&until=50", None, 400)
add("query", "df-type", "GET", "/v1.42/system/df?type=hostile", None, 400, "type")
add("query", "archive-path-empty", "GET", "/v1.41/containers/{c}/archive?path=", None, 400, "path")
add(
    "query",
    "archive-path-nul",
    "GET",
    f"/v1.41/containers/{{c}}/archive?path={q('/etc' + chr(0) + 'x')}",
    None,
    400,
    "NUL",
)
add("query", "archive-path-long", "GET", f"/v1.41/containers/{{c}}/archive?path=/{'a' * 5000}", None, 400, "longer")
add("query", "archive-component-long", "HEAD", f"/v1.41/containers/{{c}}/archive?path=/{'a' * 300}", None, 400)
add("query", "archive-put-path-nul", "PUT", f"/v1.41/containers/{{c}}/archive?path={q('/tmp' + chr(0))}", b"", 400)
FILTER_ENDPOINTS = {
    "containers": "/v1.41/containers/json",
    "images": "/v1.41/images/json",
    "volumes": "/v1.41/volumes",
    "networks": "/v1.41/networks",
    "events": "/v1.41/events",
    "containers-prune": "/v1.41/containers/prune",
    "images-prune": "/v1.41/images/prune",
    "volumes-prune": "/v1.41/volumes/prune",
    "networks-prune": "/v1.41/networks/prune",
}
BAD_FILTERS = {
    "bare-string": '{"label":"x"}',
    "number-in-list": '{"id":[5]}',
    "string-in-map": '{"label":{"x":"yes"}}',
    "not-object": '["label"]',
    "garbage": "{label",
    "deep": "[" * 5000 + "]" * 5000,
    "nan": '{"label":[NaN]}',
    "unknown-key": '{"hostile-key":["x"]}',
}
for ep, path in FILTER_ENDPOINTS.items():
    method = "POST" if ep.endswith("prune") else "GET"
    for name, raw in BAD_FILTERS.items():
        extra = "&until=1" if ep == "events" else ""
        add("query", f"filters-{ep}-{name}", method, f"{path}?filters={q(raw)}{extra}", None, 400, "(?i)invalid filter")
add(
    "query",
    "filters-dangling-value",
    "GET",
    f"/v1.41/images/json?filters={q({'dangling': ['maybe']})}",
    None,
    400,
    "dangling",
)
add("query", "filters-until-value", "POST", f"/v1.41/containers/prune?filters={q({'until': ['yesterday']})}", None, 400)

# ---------------------------------------------------------------------------------------- versions
for name, prefix in (
    ("too-old", "/v1.11"),
    ("zero", "/v0.1"),
    ("too-new", "/v1.57"),
    ("far-future", "/v99.0"),
    ("huge", "/v999999999999999999999.1"),
    ("one-part", "/v1"),
    ("three-parts", "/v1.41.1"),
    ("letters", "/v1.a"),
    ("empty", "/v"),
    ("negative", "/v-1.0"),
    ("nested", "/v1.41/v1.41"),
    ("dot-dot", "/v1.41/.."),
):
    add("versions", f"version-{name}", "GET", f"{prefix}/version", None)
    add("versions", f"create-{name}", "POST", f"{prefix}/containers/create", BASE)
add(
    "versions",
    "body-on-start-1.24",
    "POST",
    "/v1.24/containers/{s}/start",
    {"Binds": ["/tmp:/x"]},
    400,
    "removed in v1.24",
)
add(
    "versions",
    "subpath-before-1.45",
    "POST",
    "/v1.44/containers/create",
    dict(
        BASE,
        HostConfig={
            "Mounts": [{"Type": "volume", "Source": "hostile-sub", "Target": "/x", "VolumeOptions": {"Subpath": "a"}}]
        },
    ),
    400,
    "1.45",
)
add(
    "versions",
    "multiple-endpoints-1.43",
    "POST",
    "/v1.43/containers/create",
    dict(BASE, NetworkingConfig={"EndpointsConfig": {"bridge": {}, "{n}": {}}}),
    400,
    "multiple",
)
add("versions", "identity-1.54", "GET", "/v1.54/images/json?identity=1", None, 400)
add("versions", "unknown-route", "GET", "/v1.41/hostile/route", None, 404, "page not found")
add("versions", "wrong-method", "PATCH", "/v1.41/containers/json", None, (404, 405))


# ---------------------------------------------------------------------------------------- archives
def tar_of(*members: tuple[str, bytes | None, str]) -> bytes:
    """(name, data, linkname): data None and a linkname → a symlink; data b"L:" → a hard link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data, link in members:
            ti = tarfile.TarInfo(name)
            if link and data is None:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                tf.addfile(ti)
            elif link:
                ti.type, ti.linkname = tarfile.LNKTYPE, link
                tf.addfile(ti)
            else:
                ti.size = len(data or b"")
                tf.addfile(ti, io.BytesIO(data or b""))
    return buf.getvalue()


ARCHIVES = {
    "not-a-tar": b"this is not a tar archive" * 40,
    "truncated": tar_of(("f", b"x" * 4000, ""))[:700],
    "escape-dotdot": tar_of(("../../../../hostile-escape", b"x", "")),
    "escape-hardlink": tar_of(("h", b"", "../../../../etc/passwd")),
    "long-component": tar_of(("d/" + "a" * 300, b"x", "")),
    "long-path": tar_of(("/".join(["d" * 200] * 30), b"x", "")),
    "gzip-garbage": b"\x1f\x8b\x08\x00" + b"\x00" * 200,
}
for name, data in ARCHIVES.items():
    add(
        "archives",
        f"put-{name}",
        "PUT",
        "/v1.41/containers/{c}/archive?path=/tmp",
        data,
        400,
        headers={"Content-Type": "application/x-tar"},
    )
add(
    "archives",
    "put-missing-dir",
    "PUT",
    "/v1.41/containers/{c}/archive?path=/hostile/none",
    tar_of(("f", b"x", "")),
    404,
)
add(
    "archives", "put-onto-file", "PUT", "/v1.41/containers/{c}/archive?path=/etc/hostname", tar_of(("f", b"x", "")), 400
)
add("archives", "get-missing", "GET", "/v1.41/containers/{c}/archive?path=/hostile/none", None, 404)
# dockerd answers a load 200 and reports a bad archive in the stream (so does shimd): STREAM_ERROR
add("archives", "load-garbage", "POST", "/v1.41/images/load?quiet=1", b"not an image archive" * 10, 200, STREAM_ERROR)
add(
    "archives", "load-escape", "POST", "/v1.41/images/load?quiet=1", tar_of(("../hostile", b"x", "")), 200, STREAM_ERROR
)
add(
    "archives",
    "import-garbage",
    "POST",
    "/v1.41/images/create?fromSrc=-&repo=hostile-import",
    b"garbage" * 100,
    400,
    headers={"Content-Type": "application/x-tar"},
)

# ---------------------------------------------------------------------------------------- conflicts
add("conflicts", "create-name-in-use", "POST", "/v1.41/containers/create?name={c_name}", BASE, 409, "already in use")
add("conflicts", "rename-to-used", "POST", "/v1.41/containers/{s}/rename?name={c_name}", None, 409)
add("conflicts", "remove-running", "DELETE", "/v1.41/containers/{c}", None, 409, "stop the container|running")
add("conflicts", "pause-stopped", "POST", "/v1.41/containers/{s}/pause", None, 409, "not running")
add("conflicts", "unpause-running", "POST", "/v1.41/containers/{c}/unpause", None, 409, "not paused")
add("conflicts", "kill-stopped", "POST", "/v1.41/containers/{s}/kill", None, 409, "not running")
add("conflicts", "top-stopped", "GET", "/v1.41/containers/{s}/top", None, 409, "not running")
add("conflicts", "network-name-in-use", "POST", "/v1.41/networks/create", {"Name": "{n_name}"}, 409, "already exists")
add("conflicts", "network-remove-in-use", "DELETE", "/v1.41/networks/{n}", None, (403, 409), "active endpoints")
add("conflicts", "network-connect-twice", "POST", "/v1.41/networks/{n}/connect", {"Container": "{c}"}, (400, 403, 409))
add("conflicts", "volume-remove-in-use", "DELETE", "/v1.41/volumes/{v}", None, 409, "in use")
add("conflicts", "image-remove-in-use", "DELETE", "/v1.41/images/busybox", None, 409, "conflict|being used")
add(
    "conflicts",
    "update-autoremove-policy",
    "POST",
    "/v1.41/containers/{c}/update",
    {"RestartPolicy": {"Name": "hostile"}},
    400,
)
add("conflicts", "remove-missing", "DELETE", "/v1.41/containers/hostile-missing", None, 404, "No such container")
add("conflicts", "exec-start-missing", "POST", "/v1.41/exec/hostile-missing/start", {"Detach": True}, 404)
add("conflicts", "volume-remove-missing", "DELETE", "/v1.41/volumes/hostile-missing", None, 404)
