"""pytest plugin: every response an engine gave through the recording proxy, checked against
Docker's description of the API version it was asked at (1.41, 1.50 and 1.56 have a yaml).

The proxy (compat/apicheck/proxy.py) appends one JSON line per response to a file in
$APICHECK_RECORD_DIR; this plugin reads what is new after each test and fails that test (in its
teardown) for a response that breaks the description: an extra, missing or wrongly typed field.
What the session's fixtures ask after the last test is checked when the session ends. Set
APICHECK=0 to turn it off; APICHECK_REPORT=FILE writes the figures as JSON.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from compat.apicheck import known
from compat.apicheck.schema import VERSIONS, description, docs_dir


class Checker:
    def __init__(self, record_dir: Path) -> None:
        self.dir = record_dir
        self._offsets: dict[Path, int] = {}
        self.validated: collections.Counter[str] = collections.Counter()
        self.messages: collections.Counter[str] = collections.Counter()
        self.other_versions: collections.Counter[str] = collections.Counter()
        self.undocumented: collections.Counter[str] = collections.Counter()
        self.explained: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []

    def new_records(self) -> list[dict[str, Any]]:
        out = []
        for f in sorted(self.dir.glob("*.jsonl")):
            off = self._offsets.get(f, 0)
            with open(f, "rb") as fh:
                fh.seek(off)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            self._offsets[f] = off + end
            out.extend(json.loads(line) for line in data[:end].splitlines() if line.strip())
        return out

    def check_new(self) -> list[str]:
        problems = []
        for rec in self.new_records():
            problems += self.check(rec)
        self.failures += problems
        return problems

    def check(self, rec: dict[str, Any]) -> list[str]:
        target = rec.get("target", "")
        raw_path = urllib.parse.urlsplit(target).path
        version = ""
        path = raw_path
        if raw_path.startswith("/v") and raw_path[2:3].isdigit():
            head, _, rest = raw_path[2:].partition("/")
            version, path = head, "/" + rest
        else:
            version = rec.get("api_version", "")
        path = urllib.parse.unquote(path)
        if version not in VERSIONS:
            self.other_versions[version or "?"] += 1
            return []
        method, status = rec.get("method", ""), int(rec.get("status", 0))
        api = description(version)
        found = api.response_schema(method, path, status)
        if found is None:
            self.undocumented[f"{method} {path if '/' not in path[1:] else path.split('/')[1]}"] += 1
            return []
        template, schema = found
        if schema is None:
            stream_def = known.STREAM_MESSAGES.get((method.lower(), template))
            if stream_def is not None and status == 200:
                schema = {"$ref": f"#/definitions/{stream_def}"}
            elif status >= 400:
                schema = {"$ref": "#/definitions/ErrorResponse"}
            else:
                self.validated[version] += 1
                return []
        docs = _documents(rec)
        if docs is None:
            self.validated[version] += 1
            return []
        self.validated[version] += 1
        self.messages[version] += len(docs)
        out = []
        for i, doc in enumerate(docs):
            for v in api.validate(schema, doc):
                reason = known.explained(version, template, method, v)
                if reason is not None:
                    self.explained[f"{version} {method} {template} {v.partition(': ')[0]}: {reason}"] += 1
                    continue
                where = f" (message {i + 1})" if len(docs) > 1 else ""
                out.append(f"v{version} {method} {target} → {status}{where}: {v}")
        return out

    def figures(self) -> dict[str, Any]:
        return {
            "responses_validated": dict(sorted(self.validated.items())),
            "json_documents_validated": dict(sorted(self.messages.items())),
            "responses_at_other_versions": dict(sorted(self.other_versions.items())),
            "undocumented_endpoints": dict(self.undocumented.most_common()),
            "explained_disagreements": dict(self.explained.most_common()),
            "violations": self.failures,
        }


def _documents(rec: dict[str, Any]) -> list[Any] | None:
    """The JSON documents of a recorded body: one, or one per line of a stream; None if not JSON."""
    ctype = (rec.get("content_type") or "").split(";")[0].strip().lower()
    body = rec.get("body")
    if body is None or ctype == "text/plain" or not body.strip():
        return None
    try:
        return [json.loads(body)]
    except ValueError:
        pass
    docs = []
    lines = body.split("\n")
    if rec.get("partial") or rec.get("truncated"):
        lines = lines[:-1]  # the last line may be cut
    for line in lines:
        line = line.strip().lstrip("\x1e")
        if line:
            try:
                docs.append(json.loads(line))
            except ValueError:
                return None
    return docs


_CHECKER: Checker | None = None
_OWN_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _CHECKER, _OWN_DIR
    if os.environ.get("APICHECK", "1") == "0":
        return
    missing = [v for v in VERSIONS if not (docs_dir() / f"v{v}.yaml").exists()]
    if missing:
        raise pytest.UsageError(
            f"apicheck: Docker's API description is missing in {docs_dir()} (v{', v'.join(missing)}.yaml); "
            "set APICHECK_DOCS to its directory, or APICHECK=0 to run without the response check"
        )
    record_dir = os.environ.get("APICHECK_RECORD_DIR")
    if not record_dir:
        record_dir = _OWN_DIR = tempfile.mkdtemp(prefix="apicheck-")
        os.environ["APICHECK_RECORD_DIR"] = record_dir
    _CHECKER = Checker(Path(record_dir))


@pytest.fixture(autouse=True)
def _apicheck() -> Any:
    """Fails the test whose requests got an answer that breaks Docker's description."""
    yield
    if _CHECKER is None:
        return
    problems = _CHECKER.check_new()
    if problems:
        pytest.fail("answers that break Docker's API description:\n" + "\n".join(problems[:20]), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _CHECKER is None:
        return
    late = _CHECKER.check_new()
    if late and session.exitstatus == 0:
        session.exitstatus = 1
    report = os.environ.get("APICHECK_REPORT")
    if report:
        Path(report).write_text(json.dumps(_CHECKER.figures(), indent=1) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _CHECKER is None:
        return
    f = _CHECKER.figures()
    tr = terminalreporter
    tr.section("API description check (compat/apicheck)")
    tr.write_line(
        f"responses validated per version: {f['responses_validated']} (JSON documents: {f['json_documents_validated']})"
    )
    tr.write_line(f"responses at versions without a yaml: {f['responses_at_other_versions']}")
    if f["undocumented_endpoints"]:
        tr.write_line(f"endpoints the description lacks: {f['undocumented_endpoints']}")
    tr.write_line(
        f"explained yaml/dockerd disagreements: {sum(_CHECKER.explained.values())} ({len(_CHECKER.explained)} places)"
    )
    tr.write_line(f"violations: {len(f['violations'])}")
    for v in f["violations"][:50]:
        tr.write_line("  " + v)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_DIR:
        shutil.rmtree(_OWN_DIR, ignore_errors=True)
