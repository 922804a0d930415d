"""Docker's OpenAPI (Swagger 2.0) description of one API version, as JSON Schemas for responses.

Why jsonschema and not openapi-core or schemathesis: Docker's yaml is Swagger 2.0, which
openapi-core does not read (OpenAPI 3.0/3.1 only); schemathesis generates requests to fuzz a
server, while here the requests are the suites' own and only the answers are checked.
jsonschema (already shimd's dependency) against the yaml's `definitions` does exactly that.

The yaml is made strict before use, so that what it does not say fails:
- an object schema with `properties` and no `additionalProperties` gets `additionalProperties:
  false` (an extra field is a violation); `allOf` is merged first so this holds for composed types;
- `x-omitempty: false` properties become `required` (go-swagger's "never omitted");
- `x-nullable: true` admits null. Go encodes a nil slice, map or pointer as null, and the yaml
  marks few of them nullable, so null is admitted for every array and object (the one blanket
  rule; whether dockerd says null or [] per field is checked against the reference dockerd by
  compat/test_fields.py, not here). Scalars stay strict.
Where dockerd and the yaml disagree beyond that, compat/apicheck/known.py says so, field by field.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from compat.apicheck import known

VERSIONS = ("1.41", "1.50", "1.56")
ROOT = Path(__file__).resolve().parents[2]


def docs_dir() -> Path:
    return Path(os.environ.get("APICHECK_DOCS") or ROOT.parent / "shared" / "reference" / "api-docs")


def _resolve(defs: dict[str, Any], s: Any) -> Any:
    if isinstance(s, dict) and "$ref" in s:
        return defs[s["$ref"].rsplit("/", 1)[-1]]
    return s


def _merge_all_of(defs: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in s.items() if k != "allOf"}
    props: dict[str, Any] = dict(out.get("properties") or {})
    required: list[str] = list(out.get("required") or [])
    for part in s["allOf"]:
        part = _resolve(defs, part)
        if "allOf" in part:
            part = _merge_all_of(defs, part)
        props.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
        for k in ("type", "additionalProperties", "description"):
            if k in part and k not in out:
                out[k] = part[k]
    out["properties"] = props
    if required:
        out["required"] = required
    out.setdefault("type", "object")
    return out


def _strict(defs: dict[str, Any], s: Any) -> Any:
    if isinstance(s, list):
        return [_strict(defs, x) for x in s]
    if not isinstance(s, dict):
        return s
    if "$ref" in s:
        return {"$ref": s["$ref"]}  # the definitions themselves admit null where they are objects
    if "allOf" in s:
        s = _merge_all_of(defs, s)
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k in ("properties",):
            out[k] = {name: _strict(defs, sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties") and isinstance(v, dict):
            out[k] = _strict(defs, v)
        elif k in ("example", "x-go-name", "x-go-type", "x-omitempty", "x-nullable", "description", "title"):
            continue
        elif k == "format":
            continue  # Go formats (int64, dateTime, uint8…) are not JSON Schema's
        else:
            out[k] = copy.deepcopy(v)
    if "properties" in out:
        out.setdefault("type", "object")
        out.setdefault("additionalProperties", False)
        never_omitted = [
            n for n, sub in s["properties"].items() if isinstance(sub, dict) and sub.get("x-omitempty") is False
        ]
        req = list(out.get("required") or []) + [n for n in never_omitted if n not in (out.get("required") or [])]
        if req:
            out["required"] = req
    t = out.get("type")
    nullable = s.get("x-nullable") or t in ("array", "object") or (t is None and "enum" not in out)
    if nullable and isinstance(t, str):
        out["type"] = [t, "null"]
    if "enum" in out and s.get("x-nullable"):
        out["enum"] = [*out["enum"], None]
    return out


class ApiDescription:
    """One version's yaml, its paths as regexes and its definitions made strict."""

    def __init__(self, version: str, path: Path | None = None) -> None:
        self.version = version
        doc = yaml.safe_load((path or docs_dir() / f"v{version}.yaml").read_text())
        raw_defs: dict[str, Any] = doc["definitions"]
        known.patch_definitions(version, raw_defs)
        self.definitions = {name: _strict(raw_defs, d) for name, d in raw_defs.items()}
        self._paths: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        for template, ops in doc["paths"].items():
            self._paths.append((_template_re(template), template, ops))
        # literal paths before templated ones, then the longest literal text first
        self._paths.sort(key=lambda p: ("{" in p[1], -len(re.sub(r"\{[^}]+\}", "", p[1]))))
        self._raw_defs = raw_defs

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for rx, template, ops in self._paths:
            if rx.fullmatch(path) and method.lower() in ops:
                return template, ops[method.lower()]
        return None

    def response_schema(self, method: str, path: str, status: int) -> tuple[str, dict[str, Any] | None] | None:
        """(template, schema or None) for a documented operation and status; None if undocumented."""
        found = self.operation(method, path)
        if found is None:
            return None
        template, op = found
        responses = op.get("responses") or {}
        resp = responses.get(status) or responses.get(str(status)) or responses.get("default")
        if resp is None:
            return template, None
        schema = resp.get("schema")
        if schema is None:
            return template, None
        patched = known.patch_response(self.version, template, method, status, schema)
        return template, _strict(self._raw_defs, patched)

    def validate(self, schema: dict[str, Any], value: Any) -> list[str]:
        root = dict(schema, definitions=self.definitions)
        v = jsonschema.Draft4Validator(root)
        errors = sorted(v.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        return [f"{_path(err.absolute_path)}: {_short(err)}" for err in errors]


def _template_re(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    rx = ""
    for p in parts:
        if p.startswith("{"):
            # image, plugin and distribution names hold slashes; everything else is one segment
            greedy = p in ("{name}",) and template.split("/")[1] in ("images", "plugins", "distribution")
            rx += "(.+)" if greedy else "([^/]+)"
        else:
            rx += re.escape(p)
    return re.compile(rx)


def _path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _short(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        extra = (
            sorted(set(err.instance) - set(err.schema.get("properties", {}))) if isinstance(err.instance, dict) else []
        )
        return f"field(s) not in the description: {', '.join(extra)}"
    if err.validator == "required":
        return err.message.replace("is a required property", "is missing")
    if err.validator in ("anyOf", "oneOf") and err.context:
        best = jsonschema.exceptions.best_match(err.context)
        return f"{json.dumps(err.instance)[:80]}: {best.message[:200]}"
    return err.message[:300]


@functools.cache
def description(version: str) -> ApiDescription:
    return ApiDescription(version)
