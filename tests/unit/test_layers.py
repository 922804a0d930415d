"""The layering rules of docs/ARCHITECTURE.md, checked on the source of every module of shim/:
imports only point downward. Every import counts: module level, inside functions and under
`if TYPE_CHECKING:` (a type-only import is still a dependency of the layer's design)."""

import ast
import re
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "shim"

# Pure modules every layer may import: they import nothing of shim's but each other.
SHARED = {"errors", "labels", "filters", "times", "platforms", "jsonin"}
# The process around the layers (flags, listeners, TLS, systemd, metrics): beside them, not in them.
PROCESS = {"__init__", "__main__", "config", "hosts", "listeners", "tlsrelay", "systemd", "metrics", "blockguard"}
# Import plumbing any layer may use (deferring a third-party package's __init__, issue 17): it
# imports nothing of shim's.
PLUMBING = {"pkginit"}
# The composition root: the one module that builds runtime adapters and hands them to the engine.
ROOT = "shim.app"
# The daemon's `Settings` (shim/config.py) are the engine's input: Engine, the network service and
# SIGHUP's reload take them typed. config.py's parser reaches back only inside functions (the
# log-opts check, the version bounds), so no import cycle runs at load time.
ENGINE_MAY_IMPORT = {"shim.config"}

# The ports: the engine's Protocols and the facts that cross them (engine/ports.py, engine/netports.py
# and any module split off them beside them whose name ends in `ports`, or a package engine/ports/).
# Not engine/validation/ports.py: that one checks published ports.
PORTS = re.compile(r"^shim\.engine\.\w*ports(\.\w+)*$")
# The engine's facts that translate/ renders (dataclasses, no services, no I/O). A new facts module
# goes here; a service module never does.
ENGINE_FACTS = {
    "shim.engine.containerconfig",  # pure: container.Config/HostConfig field tables and defaults
    "shim.engine.model",
    "shim.engine.netmodel",
    "shim.engine.distribution.model",
    "shim.engine.distribution.progress",
}

# Third-party and stdlib modules a layer must not import. prometheus_client: the metrics exporter
# (shim/metrics.py) is the only module that may load it, and only with --metrics-addr.
FORBIDDEN_LIBS = {
    "engine": {"aiohttp", "subprocess", "pyroute2", "iptc", "prometheus_client"},
    "translate": {"aiohttp", "subprocess", "pyroute2", "iptc", "asyncio", "prometheus_client"},
    "api": {"subprocess", "pyroute2", "iptc", "prometheus_client"},
    "runtime": {"prometheus_client"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if module == ROOT:
        return "root"
    if len(parts) == 1 or parts[1] in PROCESS:
        return "process"
    if parts[1] in SHARED:
        return "shared"
    if parts[1] in PLUMBING:
        return "plumbing"
    if parts[1] in ("api", "translate", "engine", "runtime"):
        return parts[1]
    return "unplaced"


def _is_module(name: str) -> bool:
    path = PKG.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of the file, relative ones resolved; `from pkg import mod`
    names the submodule when it is one."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((node.lineno, sub if base.startswith("shim") and _is_module(sub) else base))
    return out


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violation(module: str, imported: str) -> str | None:
    """Why `module` may not import `imported`, or None when it may."""
    layer = layer_of(module)
    top = imported.split(".")[0]
    if top in FORBIDDEN_LIBS.get(layer, ()):
        return f"the {layer} layer does not use {top}"
    if top == "prometheus_client" and module != "shim.metrics":
        return "only shim/metrics.py loads prometheus_client"
    if top == "blockbuster" and module != "shim.blockguard":
        return "only shim/blockguard.py loads blockbuster (a test dependency, opt-in in shimd)"
    if top != "shim" or imported == "shim":
        return None
    target = layer_of(imported)
    if target == "plumbing" and layer != "plumbing":
        return None
    if target == "runtime" and layer not in ("runtime", "root"):
        return "only shim/app.py (the composition root) imports runtime adapters"
    if target == "root":
        return None if module == "shim.__main__" else "nothing imports the composition root but __main__"
    allowed = {
        "shared": {"shared"},
        "plumbing": set(),
        "translate": {"shared", "translate"},
        "engine": {"shared", "engine"},
        "runtime": {"shared", "runtime"},
        "api": {"shared", "api", "translate", "engine"},
        "process": {"shared", "process", "translate", "engine", "api"},
        "root": {"shared", "process", "translate", "engine", "api", "runtime"},
    }[layer]
    if layer == "engine" and imported in ENGINE_MAY_IMPORT:
        return None
    if layer == "runtime" and target == "engine" and PORTS.match(imported):
        return None
    if layer == "translate" and target == "engine" and (imported in ENGINE_FACTS or PORTS.match(imported)):
        return None
    if target not in allowed:
        return f"the {layer} layer does not import the {target} layer"
    return None


MODULES = sorted(PKG.rglob("*.py"))


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in MODULES if layer_of(module_name(p)) == "unplaced"]
    assert not unplaced, f"place these in a layer (tests/unit/test_layers.py, docs/ARCHITECTURE.md): {unplaced}"


@pytest.mark.parametrize("layer", ["api", "translate", "engine", "runtime", "shared", "plumbing", "process", "root"])
def test_imports_point_downward(layer):
    bad = [
        f"{path.relative_to(PKG.parent)}:{line} imports {name}: {why}"
        for path in MODULES
        if layer_of(module_name(path)) == layer
        for line, name in imports(path)
        if (why := violation(module_name(path), name))
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_modules_stay_pure(name):
    io_modules = {"aiohttp", "subprocess", "pyroute2", "asyncio", "os", "shutil", "socket"}
    bad = [
        imported
        for _, imported in imports(PKG / f"{name}.py")
        if (imported.startswith("shim.") and imported.split(".")[1] not in SHARED)
        or imported.split(".")[0] in io_modules
    ]
    assert not bad, f"shim/{name}.py imports {bad}"


# The checker itself: each rule of docs/ARCHITECTURE.md refuses what it should, so a broken
# rule can't pass silently.
@pytest.mark.parametrize(
    ("module", "imported", "ok"),
    [
        ("shim.runtime.runc", "shim.engine.ports", True),
        ("shim.runtime.dns", "shim.engine.netports", True),
        ("shim.runtime.runc", "shim.engine.ports.images", True),  # if ports.py becomes a package
        ("shim.runtime.runc", "shim.engine.imageports", True),  # or splits into siblings
        ("shim.runtime.host", "shim.engine.validation", False),
        ("shim.runtime.runc", "shim.engine.validation.ports", False),
        ("shim.runtime.registry.client", "shim.engine.distribution.registries", False),
        ("shim.engine.containers.service", "shim.api.services", False),
        ("shim.engine.containers.service", "shim.translate.containers", False),
        ("shim.engine.containers.service", "aiohttp", False),
        ("shim.engine.containers.service", "shim.runtime.runc", False),
        ("shim.translate.containers", "shim.engine.model", True),
        ("shim.translate.distribution", "shim.engine.distribution.service", False),
        ("shim.translate.containers", "shim.api.params", False),
        ("shim.api.containers", "shim.runtime.runc", False),
        ("shim.api.containers", "shim.engine.containers", True),
        ("shim.config", "shim.runtime.host", False),
        ("shim.app", "shim.runtime.runc", True),
        ("shim.errors", "shim.engine.model", False),
        ("shim.engine.daemon", "shim.config", True),
        ("shim.engine.daemon", "shim.listeners", False),
        ("shim.api.services", "shim.app", False),
        ("shim.__main__", "shim.app", True),
        ("shim.runtime.netlink", "shim.pkginit", True),
        ("shim.pkginit", "shim.errors", False),
    ],
)
def test_the_rules_refuse_what_they_should(module, imported, ok):
    assert (violation(module, imported) is None) is ok


def test_function_level_and_type_checking_imports_count(tmp_path, monkeypatch):
    pkg = tmp_path / "shim"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    src = pkg / "engine" / "x.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from shim.api import services\n"
        "def f():\n    import aiohttp\n    from ..translate import containers\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    assert [name for _, name in imports(src)] == ["typing", "shim.api", "aiohttp", "shim.translate"]
