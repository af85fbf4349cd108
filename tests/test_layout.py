"""The package layout is the design map: packages talk only through each other's public names, and the
foundations (store, observability, runtime, errors) import nothing above them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "firebox"
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
FOUNDATIONS = {"store", "observability", "runtime"}
# Which packages each one may use; the request path runs frontend -> assignment -> placement -> worker -> sandbox.
ALLOWED = {
    "frontend": {"assignment", "events", "worker", "store", "observability", "queues"},
    "assignment": {"placement", "worker", "store", "journal"},
    "journal": {"store"},
    "placement": {"worker"},
    "worker": {"sandbox", "runtime", "store", "observability"},
    "sandbox": set(),
    "store": set(),
    "observability": set(),
    "runtime": set(),
    "events": {"worker", "store", "queues"},
    "queues": set(),
    "cli": {"config", "embedded"},
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _firebox_imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("firebox"):
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names if alias.name.startswith("firebox"))
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_use_only_public_names_of_others(package: str) -> None:
    for path in _modules(package):
        for module in _firebox_imports(path):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] == package:
                continue
            other = parts[1]
            assert len(parts) == 2 or other not in PACKAGES, f"{path.relative_to(ROOT)} reaches into {module}"
            if other in PACKAGES:
                assert other in ALLOWED.get(package, set()), f"{package} must not depend on {other} ({path.name})"


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist(package: str) -> None:
    module = importlib.import_module(f"firebox.{package}")
    exported = getattr(module, "__all__", None)
    assert exported, f"firebox.{package} declares no __all__"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"firebox.{package}.__all__ names what it does not have: {missing}"


def test_foundations_stand_alone() -> None:
    for package in FOUNDATIONS:
        for path in _modules(package):
            for module in _firebox_imports(path):
                parts = module.split(".")
                assert len(parts) < 2 or parts[1] in (package, "errors"), f"{path} imports {module}"
