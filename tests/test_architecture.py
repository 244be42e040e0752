"""The core knows no platform: walk its imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "storycraft_bot"
FORBIDDEN = {"discord", "telegram", "adapters", "config", "bot", "aiohttp"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_platform_library_nor_outer_layer() -> None:
    offenders = {
        f"{path.name}: {sorted(imported_roots(path) & FORBIDDEN)}"
        for path in CORE.glob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert not offenders


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom discord.ui import Button\n")
    assert "discord" in imported_roots(sample)
