"""The layering rules of docs/ARCHITECTURE.md, checked on the source: imports only point downward."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "shim"

# prometheus_client: the metrics exporter (shim/metrics.py) is the only module that may load it,
# and only when --metrics-addr is given; the layers report through Protocols.
FORBIDDEN = {
    "engine": {"aiohttp", "subprocess", "pyroute2", "iptc", "shim.api", "shim.runtime", "prometheus_client"},
    "translate": {
        "aiohttp",
        "subprocess",
        "pyroute2",
        "iptc",
        "shim.api",
        "shim.runtime",
        "asyncio",
        "prometheus_client",
    },
    "api": {"shim.runtime", "subprocess", "pyroute2", "iptc", "prometheus_client"},
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_downward(layer):
    bad = []
    for path in sorted((PKG / layer).glob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    assert not bad, "\n".join(bad)
