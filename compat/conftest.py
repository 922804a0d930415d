"""The compat suite's fixtures and its results plugin.

Nothing here knows how shim works: the suite drives whatever endpoint DOCKER_HOST names,
through the docker CLI, docker-py and raw HTTP over the Unix socket.
"""

import json
import os
import random
import string
import time
from pathlib import Path

import pytest

from compat import features, outdir
from compat.lib import Engine, version_tuple

HERE = Path(__file__).resolve().parent
AREAS = (
    "system",
    "images",
    "containers",
    "start",
    "logs_attach",
    "exec",
    "networks",
    "volumes",
    "cp",
    "events",
    "errors",
    "restart",
    "fields",
    "registry",
    "security",
    "logging",
)


def pytest_configure(config):
    for area in AREAS:
        config.addinivalue_line("markers", f"{area}: scenarios of the {area} area")
    config.addinivalue_line("markers", "feature(name, ...): engine features the scenario needs (compat/features.py)")
    config.addinivalue_line(
        "markers",
        "needs_legacy_api: uses an API version below 1.24 (skipped when the engine's MinAPIVersion is higher)",
    )
    config.addinivalue_line("markers", "api(version): needs the engine to support this API version")
    config.addinivalue_line(
        "markers", "needs_restart: restarts the engine through $COMPAT_RESTART_CMD (skipped when the runner gives none)"
    )
    config.addinivalue_line("markers", "dockerd_differs(reason): a documented difference from dockerd")
    config._compat_results = {}


def _area_of(item):
    stem = Path(str(item.fspath)).stem
    return stem[len("test_") :] if stem.startswith("test_") else stem


_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None and os.environ.get("DOCKER_HOST", "").startswith("unix://"):
        prefix = "cmp" + "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
        _ENGINE = Engine(os.environ["DOCKER_HOST"], prefix)
    return _ENGINE


def pytest_collection_modifyitems(config, items):
    eng = _engine()
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        area = _area_of(item)
        if area in AREAS:
            item.add_marker(getattr(pytest.mark, area))
        if eng is None:
            item.add_marker(pytest.mark.skip(reason="DOCKER_HOST is not a unix:// socket"))
            continue
        needed = []
        for m in item.iter_markers("feature"):
            for name in m.args:
                if name not in features.FEATURES:
                    raise pytest.UsageError(f"{item.nodeid}: unknown feature {name!r}")
                needed.append(name)
        for m in item.iter_markers("api"):
            want = m.args[0]
            if version_tuple(want) > version_tuple(eng.api_version):
                item.add_marker(
                    pytest.mark.skip(reason=f"needs API {want}; {eng.engine} speaks at most {eng.api_version}")
                )
        if item.get_closest_marker("needs_legacy_api") and version_tuple(eng.min_api) > (1, 21):
            item.add_marker(pytest.mark.skip(reason=f"needs API 1.21-1.23; {eng.engine}'s minimum is {eng.min_api}"))
        if item.get_closest_marker("needs_restart") and not os.environ.get("COMPAT_RESTART_CMD"):
            item.add_marker(
                pytest.mark.skip(reason="needs COMPAT_RESTART_CMD to restart the engine (compat/run.sh provides it)")
            )
        if eng.engine == "shim" and not os.environ.get("COMPAT_IGNORE_PENDING"):
            pending = sorted({(features.PENDING_ON_SHIM[n], n) for n in needed if n in features.PENDING_ON_SHIM})
            if pending:
                why = ", ".join(f"{n} (issue #{i})" for i, n in pending)
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"shim: not built yet: {why}"))


@pytest.fixture(scope="session")
def eng():
    """The engine under test (compat.lib.Engine); removes leftovers of this run at the end."""
    e = _engine()
    if e is None:
        pytest.skip("DOCKER_HOST is not a unix:// socket")
    e.sweep_registry_leftovers()
    yield e
    e.cleanup(e.prefix)
    e.close()


@pytest.fixture(autouse=True)
def _scenario_scope(request):
    """Give each scenario its own name prefix, and remove whatever it made under it."""
    e = _engine()
    if e is None:
        yield
        return
    e.begin_scenario()
    yield
    e.cleanup(e.scenario_prefix)


@pytest.fixture(scope="session")
def client(eng):
    return eng.client


# ------------------------------------------------------------------ results plugin


def pytest_runtest_logreport(report):
    results = _results_store()
    if results is None:
        return
    nodeid = report.nodeid
    rec = results.setdefault(nodeid, {"outcome": "pass", "reason": ""})
    if report.skipped:
        if hasattr(report, "wasxfail"):
            rec.update(outcome="xfail", reason=report.wasxfail)
        elif rec["outcome"] == "pass":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            rec.update(outcome="skip", reason=reason.removeprefix("Skipped: "))
    elif report.failed and rec["outcome"] != "fail":
        if hasattr(report, "wasxfail") or "XPASS" in str(report.longrepr or ""):
            reason = "XPASS(strict): the feature works now; delete its entry in compat/features.py"
        else:
            reason = _short_error(report)
            if report.when != "call":
                reason = f"error in {report.when}: {reason}"
        rec.update(outcome="fail", reason=reason)


def _short_error(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return " ".join(text.split())[:400]


_RESULTS = {}


def _results_store():
    return _RESULTS


def pytest_collection_finish(session):
    for item in session.items:
        doc = (getattr(item, "function", None).__doc__ or "").strip().splitlines()
        _DOCS[item.nodeid] = (_area_of(item), doc[0].strip() if doc else "")


_DOCS = {}


def _busybox_id(eng):
    try:
        r = eng.http("GET", "/v1.41/images/busybox:latest/json", timeout=10)
        return r.json().get("Id", "") if r.status == 200 else ""
    except Exception:
        return ""


def _is_partial(config):
    """A run that selected scenarios (-k, -m, paths other than compat/) updates the last results."""
    if config.option.keyword or config.option.markexpr:
        return True
    args = config.option.file_or_dir or []
    return any(Path(a.split("::")[0]).resolve() != HERE or "::" in a for a in args) if args else False


def pytest_sessionfinish(session, exitstatus):
    eng = _ENGINE
    if eng is None or not _RESULTS:
        return
    name = os.environ.get("COMPAT_ENGINE") or eng.engine
    out = {
        "engine": name,
        "server_version": eng.server_version,
        "api_version": eng.api_version,
        "min_api_version": eng.min_api,
        "busybox_id": _busybox_id(eng),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "partial": _is_partial(session.config),
        "scenarios": [],
    }
    for nodeid, rec in _RESULTS.items():
        area, doc = _DOCS.get(nodeid, ("?", ""))
        sid = nodeid.split("/")[-1]
        out["scenarios"].append({"id": sid, "area": area, "title": doc, **rec})
    # build/compat/results, or compat/results (the published ones) with COMPAT_PUBLISH=1: outdir.py
    results_dir = outdir.results_dir()
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"{name}.json"
    last = outdir.latest(f"{name}.json")
    if out["partial"] and last.exists():
        # a partial run (-k, -m, single scenarios) updates its scenarios in the last full results
        # (this checkout's, else the published ones)
        old = json.loads(last.read_text())
        by_id = {s["id"]: s for s in old.get("scenarios", [])}
        by_id.update({s["id"]: s for s in out["scenarios"]})
        out["scenarios"] = list(by_id.values())
    out["scenarios"].sort(key=lambda s: (AREAS.index(s["area"]) if s["area"] in AREAS else 99, s["id"]))
    target.write_text(json.dumps(out, indent=1) + "\n")
