"""API layer: a compiled yes/no answer to "does jsonschema accept this body?", asked first.

jsonschema walks a `docker run` create body in ~1–1.7 ms (a validator object per subschema it
descends into; issue 17, third pass), and nearly every body it sees is valid. `compile_schema`
turns one of shim/api/schemas into nested closures that answer, for a decoded JSON body, whether
the schema accepts it, in ~0.1 ms. validate.py asks it first and runs jsonschema only when it says
no: jsonschema stays the judge and every 400 keeps its words.

Soundness is the one rule: an answer of *yes* must be jsonschema's too (the jsonschema
Draft 2020-12 validator of validate.py, with its `integer` and `goType`). *No* only costs the
jsonschema walk. So:
- only the keywords our schemas use are compiled (type, properties, additionalProperties, items,
  required, maxItems, minimum, maximum, anyOf, goType; title/description/$schema/$comment are
  annotations); a schema with any other keyword (`$ref`, `pattern`, `format`…) gets no fast
  answer (None) and every body goes to jsonschema;
- values are judged by exact type (`type(x) is dict` …): for what shim/jsonin.py decodes (dict,
  list, str, int, float, bool, None) that is what jsonschema's type checker answers, and any other
  type anywhere makes the answer *no*.
tests/unit/test_schemafast.py holds it to jsonschema's verdict on drawn and mutated bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"title", "description", "$schema", "$comment"})
KEYWORDS = frozenset(
    {"type", "properties", "additionalProperties", "items", "required", "maxItems", "minimum", "maximum", "anyOf"}
)

# JSON Schema type name -> the Python types of decoded JSON it names (validate.py's checker:
# `integer` is an int and never a bool; `number` an int or a float, never a bool)
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
PLAIN = frozenset(t for ts in TYPES.values() for t in ts)


class Unsupported(Exception):
    """A schema this module can't answer for exactly."""


def compile_schema(schema: Any, go_ints: dict[str, tuple[int, int]]) -> Check | None:
    """The schema's yes/no check, or None when it uses anything beyond the keywords above."""
    try:
        return _node(schema, go_ints)
    except Unsupported:
        return None


def _yes(_x: Any) -> bool:
    return True


def _no(_x: Any) -> bool:
    return False


def _node(schema: Any, go_ints: dict[str, tuple[int, int]]) -> Check:
    if schema is True:
        return _yes
    if schema is False:
        return _no
    if type(schema) is not dict:
        raise Unsupported(f"schema {schema!r}")
    unknown = set(schema) - KEYWORDS - ANNOTATIONS - {"goType"}
    if unknown:
        raise Unsupported(f"keywords {sorted(unknown)}")
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type(schema["type"]))
    if "goType" in schema:
        if schema["goType"] not in go_ints:
            raise Unsupported(f"goType {schema['goType']!r}")
        checks.append(_go_range(*go_ints[schema["goType"]]))
    if "properties" in schema or "additionalProperties" in schema:
        checks.append(_object(schema, go_ints))
    if "required" in schema:
        checks.append(_required(schema["required"]))
    if "items" in schema:
        checks.append(_items(_node(schema["items"], go_ints)))
    if "maxItems" in schema:
        checks.append(_max_items(schema["maxItems"]))
    if "minimum" in schema or "maximum" in schema:
        checks.append(_bounds(schema.get("minimum"), schema.get("maximum")))
    if "anyOf" in schema:
        subs = schema["anyOf"]
        if type(subs) is not list or not subs:
            raise Unsupported("anyOf")
        checks.append(_any_of([_node(s, go_ints) for s in subs]))
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _plain
    if len(checks) == 1:
        only = checks[0]
        return only
    first, *rest = checks

    def check(x: Any) -> bool:
        return first(x) and all(c(x) for c in rest)

    return check


def _plain(x: Any) -> bool:
    """An empty schema accepts anything; an unexpected Python type is answered by jsonschema."""
    return type(x) in PLAIN


def _type(names: Any) -> Check:
    names = [names] if type(names) is str else names
    if type(names) is not list or not names or any(n not in TYPES for n in names):
        raise Unsupported(f"type {names!r}")
    allowed = frozenset(t for n in names for t in TYPES[n])

    def check(x: Any) -> bool:
        return type(x) in allowed

    return check


def _go_range(lo: int, hi: int) -> Check:
    def check(x: Any) -> bool:
        t = type(x)
        if t is int:
            return bool(lo <= x <= hi)
        return t in PLAIN  # goType judges integers only ("type" judges the rest)

    return check


def _object(schema: dict[str, Any], go_ints: dict[str, tuple[int, int]]) -> Check:
    props_schema = schema.get("properties", {})
    if type(props_schema) is not dict:
        raise Unsupported("properties")
    props = {k: _node(v, go_ints) for k, v in props_schema.items()}
    extra_schema = schema.get("additionalProperties", True)
    extra: Check = _node(extra_schema, go_ints)

    def check(x: Any) -> bool:
        t = type(x)
        if t is not dict:
            return t in PLAIN  # properties and additionalProperties judge objects only
        for k, v in x.items():
            sub = props.get(k)
            if not (extra(v) if sub is None else sub(v)):
                return False
        return True

    return check


def _required(names: Any) -> Check:
    if type(names) is not list:
        raise Unsupported("required")
    need = tuple(names)

    def check(x: Any) -> bool:
        t = type(x)
        if t is not dict:
            return t in PLAIN
        return all(n in x for n in need)

    return check


def _items(sub: Check) -> Check:
    def check(x: Any) -> bool:
        t = type(x)
        if t is not list:
            return t in PLAIN
        return all(sub(v) for v in x)

    return check


def _max_items(n: Any) -> Check:
    if type(n) is not int:
        raise Unsupported("maxItems")

    def check(x: Any) -> bool:
        t = type(x)
        if t is not list:
            return t in PLAIN
        return len(x) <= n

    return check


def _bounds(lo: Any, hi: Any) -> Check:
    if any(b is not None and type(b) not in (int, float) for b in (lo, hi)):
        raise Unsupported("minimum/maximum")

    def check(x: Any) -> bool:
        t = type(x)
        if t is not int and t is not float:
            return t in PLAIN  # minimum and maximum judge numbers only (never a bool)
        return (lo is None or x >= lo) and (hi is None or x <= hi)

    return check


def _any_of(subs: list[Check]) -> Check:
    def check(x: Any) -> bool:
        return any(s(x) for s in subs)

    return check
