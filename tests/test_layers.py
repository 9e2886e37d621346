"""The packages form layers: a module imports only from layers below its own, so following a
parameter from the command line to its use goes down and never comes back (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "reidprune"

#: lowest first; a package may import from any package of a lower layer, never from its own or above
LAYERS = (
    {"errors"},
    {"atomic", "validation", "progress", "run_key", "console"},
    {"data", "models", "select", "eval"},
    {"scores", "dynamics", "export"},
    {"train", "report"},
    {"presets"},
    {"pipeline"},
    {"experiments"},
    {"commands"},
    {"cli"},
    {"__main__"},
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("reidprune.")}
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.stem != "__init__" or len(p.relative_to(SRC).parts) > 1)


def test_every_package_has_a_layer():
    packages = {_package(p) for p in MODULES} - {"__init__"}
    assert packages <= set(RANK), f"add to LAYERS: {sorted(packages - set(RANK))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_down_the_layers(path):
    own = _package(path)
    if own == "__init__":
        return
    upward = sorted(p for p in _imported_packages(path) - {own} if RANK[p] >= RANK[own])
    assert not upward, f"{path.relative_to(SRC)} ({own}, layer {RANK[own]}) imports {upward} from its layer or above"


def test_the_checker_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from reidprune.pipeline.options import ScoreOptions\nimport reidprune.select.purify\n")
    assert _imported_packages(module) == {"pipeline", "select"}
