"""Dependency direction: the core imports neither the MQTT bridge nor the web; only app/ wires them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fixtures.thirdparty import REPO

LAYERS = {
    "core": {"jarvis.mqtt", "jarvis.web", "jarvis.app", "jarvis.plugins"},
    "mqtt": {"jarvis.web", "jarvis.app", "jarvis.plugins"},
    "web": {"jarvis.mqtt", "jarvis.app"},
    "plugins": {"jarvis.mqtt", "jarvis.web", "jarvis.app"},
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    forbidden = LAYERS[layer]
    offenders = []
    for path in sorted((REPO / layer).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == [], "\n".join(offenders)


def test_plugins_use_only_the_public_core_api() -> None:
    offenders = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        if "/sim/" in str(path):
            continue  # the simulator is a test peer, not a plugin
        for module in imported_modules(path):
            if module.startswith("jarvis.core.") or (module.startswith("jarvis.plugins.")
                                                      and not module.startswith(_own(path))):
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == [], "\n".join(offenders)


def _own(path: Path) -> str:
    """The package prefix of a plugin file (``jarvis.plugins.proxmox``)."""
    return "jarvis.plugins." + path.relative_to(REPO / "plugins").parts[0]
