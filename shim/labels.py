"""Label filters, as moby's filters.MatchKVList: pure, shared by every layer (like shim.errors).

A spec is `key` (the label exists) or `key=value` (it has that value).
"""

from __future__ import annotations


def label_matches(labels: dict[str, str], spec: str) -> bool:
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def labels_match(labels: dict[str, str], specs: list[str], *, any_: bool = False) -> bool:
    """Every spec holds (`label=` filters are ANDed); with any_, at least one (`label!=`)."""
    results = (label_matches(labels, s) for s in specs)
    return any(results) if any_ else all(results)
