"""lib/ is in layers, and no import runs back up a layer (docs/architecture.md).

A module may import from its own layer and the layers below it; lib never imports the
stages, and never typer (the command line is the stages' business).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib"
LAYERS = ("leaves", "io", "engine", "stores", "pipelines")  # bottom to top


def lib_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a lib or stages module, or of typer, in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
            if node.module == "lib" or node.module in {f"lib.{layer}" for layer in LAYERS}:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [
        (line, name) for line, name in found if name.split(".")[0] in ("lib", "stages", "typer")
    ]


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_of_lib_is_in_a_layer() -> None:
    loose = [path.name for path in LIB.glob("*.py") if path.name != "__init__.py"]
    assert loose == []
    assert sorted(
        p.name for p in LIB.iterdir() if p.is_dir() and p.name != "__pycache__"
    ) == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_runs_up_a_layer(layer: str) -> None:
    level = LAYERS.index(layer)
    upward = []
    for path in sorted((LIB / layer).rglob("*.py")):
        for line, module in lib_imports(path):
            target = layer_of(module)
            if module.split(".")[0] != "lib" or target is None or target > level:
                upward.append(f"{path.relative_to(LIB.parent)}:{line} imports {module}")
    assert upward == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from lib.pipelines.check import judge\nimport typer\nfrom lib.leaves import records\n"
    )
    assert lib_imports(module) == [
        (1, "lib.pipelines.check"),
        (2, "typer"),
        (3, "lib.leaves.records"),
    ]
    assert layer_of("lib.pipelines.check") == 4 and layer_of("lib.leaves.records") == 0
