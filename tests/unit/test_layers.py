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
    bad = [
        f"{path.relative_to(PKG.parent)} imports {name}"
        for path in sorted((PKG / layer).rglob("*.py"))  # packages too (engine/images/, engine/networks/)
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert not bad, "\n".join(bad)


# Pure modules every layer may import: they import nothing of shim's but each other.
SHARED = {"errors", "labels", "filters", "times", "platforms", "jsonin"}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_modules_stay_pure(name):
    io_modules = {"aiohttp", "subprocess", "pyroute2", "asyncio", "os", "shutil", "socket"}
    bad = [
        imported
        for imported in _imports(PKG / f"{name}.py")
        if (imported.startswith("shim.") and imported.split(".")[1] not in SHARED)
        or imported.split(".")[0] in io_modules
    ]
    assert not bad, f"shim/{name}.py imports {bad}"
