"""Fields: the objects of one scenario at API 1.41, compared field by field with the reference dockerd.

One scenario builds the same objects on any engine (a user network, a volume, a container with a
dozen options, running and stopped, an exec, the busybox image) and reads every inspect, list and
info body at /v1.41. Each body is reduced to its shape: every key, each value's JSON type, null
versus [] versus {}, booleans and the values that do not depend on the run (names of drivers,
modes, policies…). The shape goes to fields-<engine>.json in the run's results directory
(compat/outdir.py); a run against the reference dockerd writes fields-dockerd.json (published in
compat/results/ by `COMPAT_PUBLISH=1 compat/run.sh reference`), and a run against any other engine
is compared with the newest one this checkout has (its own reference run's, else the published
one): a difference fails unless compat/fields_known.py lists it as deliberate (each entry names
the reason; docs/API-VERSIONS.md repeats them).
"""

import json
import re
import urllib.parse

import pytest

from compat import fields_known, outdir
from compat.lib import V

pytestmark = pytest.mark.feature("containers", "networks", "volumes", "exec", "images")

# Values that do not depend on the run: compared as they are (other strings are just "str").
_EXACT_KEYS = {
    "Driver",
    "Scope",
    "NetworkMode",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Isolation",
    "Runtime",
    "Type",
    "Name",
    "Mode",
    "Propagation",
    "Status",
    "State",
    "Os",
    "OSType",
    "Architecture",
    "Platform",
    "StopSignal",
    "User",
    "WorkingDir",
    "LogConfig",
    "Protocol",
    "HostIp",
}
_DYNAMIC = re.compile(
    r"^[0-9a-f]{12,64}$|^sha256:|^\d{4}-\d\d-\d\dT|^/|^\d+\.\d+\.\d+\.\d+|^[0-9a-f]{2}(:[0-9a-f]{2}){5}$|cmp[a-z0-9]{6}"
)


def shape(value, key=""):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        if key in _EXACT_KEYS and not _DYNAMIC.search(value):
            return f"={value}"
        return "str" if value else '""'
    if isinstance(value, list):
        if not value:
            return "[]"
        return [shape(value[0], key)]
    if isinstance(value, dict):
        if not value:
            return "{}"
        out = {}
        for k, v in value.items():
            # map keys that are data (ports, labels, network and volume names, env) count as one "<key>"
            name = "<key>" if _DYNAMIC.search(k) or "/" in k or "." in k or k.startswith("cmp") else k
            if name in out:
                continue
            out[name] = shape(v, k)
        return out
    return type(value).__name__


_STATUS_TIME = re.compile(r"^=(Up|Exited \(\d+\)) .*")


def _leaf(v):
    """Status texts carry durations ("Up 2 seconds"): compared without them."""
    return _STATUS_TIME.sub(r"=\1", v) if isinstance(v, str) else v


def flatten(sh, prefix=""):
    """{path: leaf shape} for comparison and readable differences."""
    out = {}
    if isinstance(sh, dict):
        for k, v in sh.items():
            out.update(flatten(v, f"{prefix}.{k}"))
        if not sh:
            out[prefix] = "{}"
    elif isinstance(sh, list):
        out.update(flatten(sh[0], prefix + "[]"))
    else:
        out[prefix] = sh
    return out


def _drop_unknowable(mine, theirs):
    """An empty list says nothing about its items' shape: `[]` on one side and items on the other
    (blkio figures of a container that did or didn't do I/O yet) is not a difference."""
    for a, b in ((mine, theirs), (theirs, mine)):
        for path, leaf in list(a.items()):
            items = [k for k in b if k.startswith(path + "[]")]
            if leaf == "[]" and items:
                del a[path]
                for k in items:
                    del b[k]


@pytest.fixture(scope="module")
def objects(eng):
    """The scenario's objects, made through the API as a 1.41 client (the docker CLI pinned)."""
    net, vol, name, stopped = (
        eng.shared_name("fnet"),
        eng.shared_name("fvol"),
        eng.shared_name("fc"),
        eng.shared_name("fs"),
    )
    pinned = {"DOCKER_API_VERSION": "1.41"}
    eng.out("network", "create", "--label", "k=v", "--subnet", "172.31.240.0/24", net, env=pinned)
    eng.out("volume", "create", "--label", "k=v", vol, env=pinned)
    eng.out(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "--network-alias",
        "web",
        "-e",
        "A=1",
        "--label",
        "x=y",
        "-p",
        "127.0.0.1::80",
        "-v",
        f"{vol}:/data",
        "--tmpfs",
        "/run/t",
        "--restart",
        "on-failure:2",
        "--memory",
        "64m",
        "--cap-add",
        "NET_ADMIN",
        "--dns",
        "192.0.2.1",
        "--hostname",
        "fields",
        "--workdir",
        "/tmp",
        "--stop-signal",
        "SIGINT",
        "--add-host",
        "h:192.0.2.2",
        "busybox",
        "sleep",
        "600",
        env=pinned,
    )
    eng.out("run", "--name", stopped, "busybox", "true", env=pinned)
    ex = eng.http("POST", f"{V}/containers/{name}/exec", {"Cmd": ["true"], "AttachStdout": True}).json()["Id"]
    eng.http("POST", f"{V}/exec/{ex}/start", {"Detach": True})
    yield {"net": net, "vol": vol, "name": name, "stopped": stopped, "exec": ex}
    for c in (name, stopped):
        eng.cli("rm", "-f", "-v", c)
    eng.cli("network", "rm", net)
    eng.cli("volume", "rm", vol)


def _bodies(eng, o):
    flt = lambda **kw: urllib.parse.quote(json.dumps({k: [v] for k, v in kw.items()}))  # noqa: E731
    get = lambda path: eng.http("GET", V + path).json()  # noqa: E731
    eng.wait_for(lambda: eng.http("GET", f"{V}/exec/{o['exec']}/json").json().get("Running") is False, what="exec end")
    return {
        "container inspect (running)": get(f"/containers/{o['name']}/json"),
        "container inspect (exited)": get(f"/containers/{o['stopped']}/json"),
        "container inspect ?size=1": {
            k: v for k, v in get(f"/containers/{o['name']}/json?size=1").items() if k in ("SizeRw", "SizeRootFs")
        },
        "container list item": get(f"/containers/json?all=1&filters={flt(name=o['name'])}")[0],
        "container list item (exited)": get(f"/containers/json?all=1&filters={flt(name=o['stopped'])}")[0],
        "container list ?size=1": {
            k: v
            for k, v in get(f"/containers/json?size=1&filters={flt(name=o['name'])}")[0].items()
            if k in ("SizeRw", "SizeRootFs")
        },
        "container top": get(f"/containers/{o['name']}/top"),
        "container changes": get(f"/containers/{o['stopped']}/changes"),
        "container stats (one-shot)": get(f"/containers/{o['name']}/stats?stream=0"),
        "exec inspect": get(f"/exec/{o['exec']}/json"),
        "image inspect": get("/images/busybox:latest/json"),
        "image list item": get(f"/images/json?filters={flt(reference='busybox:latest')}")[0],
        "image history item": get("/images/busybox:latest/history")[0],
        "network inspect": get(f"/networks/{o['net']}"),
        "network list item": get(f"/networks?filters={flt(name=o['net'])}")[0],
        "network inspect (bridge)": get("/networks/bridge"),
        "volume inspect": get(f"/volumes/{o['vol']}"),
        "volume list": get(f"/volumes?filters={flt(name=o['vol'])}"),
        "system df": _df_of(get("/system/df"), o),
        "info": get("/info"),
        "version": get("/version"),
    }


def _df_of(df, o):
    """/system/df with its lists cut to the scenario's own objects (an engine holds others)."""
    out = dict(df)
    out["Images"] = [i for i in df.get("Images") or [] if "busybox:latest" in (i.get("RepoTags") or [])]
    out["Containers"] = [c for c in df.get("Containers") or [] if f"/{o['name']}" in (c.get("Names") or [])]
    out["Volumes"] = [v for v in df.get("Volumes") or [] if v.get("Name") == o["vol"]]
    return out


def test_shapes_at_1_41_match_dockerd(eng, objects):
    """Every inspect/list/info body at /v1.41 has dockerd's fields, types and null-vs-empty choices."""
    shapes = {what: shape(body) for what, body in _bodies(eng, objects).items()}
    results = outdir.results_dir()
    results.mkdir(parents=True, exist_ok=True)
    (results / f"fields-{eng.engine}.json").write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    ref_file = outdir.latest("fields-dockerd.json")
    if eng.engine == "dockerd" or not ref_file.exists():
        return
    ref = json.loads(ref_file.read_text())
    problems = []
    for what in ref:
        mine, theirs = flatten(shapes.get(what, {})), flatten(ref[what])
        _drop_unknowable(mine, theirs)
        for path in sorted(set(mine) | set(theirs)):
            a, b = _leaf(mine.get(path, "<absent>")), _leaf(theirs.get(path, "<absent>"))
            if a == b:
                continue
            if fields_known.deliberate(what, path, a, b):
                continue
            problems.append(f"{what}: {path}: {eng.engine} {a!r}, dockerd {b!r}")
    assert not problems, f"{len(problems)} differences from dockerd at 1.41:\n" + "\n".join(problems)
