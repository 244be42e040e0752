"""The rings of the house, checked by walking every module's imports with ast.

The core (`storycraft_bot/core`) knows no vendor and no outer ring; the outer rings
(narration, pictures, storage) know the core but not each other's adapters; nothing in
`storycraft_bot` knows the adapters, the settings or the composition root.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "storycraft_bot"
VENDORS = {
    "discord",
    "telegram",
    "httpx",
    "websockets",
    "ollama",
    "aiosqlite",
    "psycopg",
    "psycopg_pool",
    "PIL",
    "aiohttp",
}
OUTSIDE = {"adapters", "config", "bot", "bench", "tests"}
RINGS = ("narration", "pictures", "storage", "cards")


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def roots(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def modules_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_every_subpackage_is_walked() -> None:
    walked = {p.parent.name for p in modules_in(PACKAGE)}
    assert {"core", *RINGS} <= walked


@pytest.mark.parametrize("path", modules_in(PACKAGE / "core"), ids=lambda p: p.name)
def test_core_knows_no_vendor_and_no_outer_ring(path: Path) -> None:
    imported = imported_modules(path)
    assert not roots(imported) & (VENDORS | OUTSIDE)
    outer = {m for m in imported for ring in RINGS if m.startswith(f"storycraft_bot.{ring}")}
    assert not outer


@pytest.mark.parametrize(
    "path",
    [p for ring in RINGS for p in modules_in(PACKAGE / ring)],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_outer_rings_import_no_adapter_nor_root(path: Path) -> None:
    imported = imported_modules(path)
    assert not roots(imported) & (OUTSIDE | {"discord", "telegram"})
    own = path.parent.name
    others = {
        m
        for m in imported
        for ring in RINGS
        if ring != own and m.startswith(f"storycraft_bot.{ring}")
    }
    assert not others, f"{path.name} reaches into another ring: {sorted(others)}"


def test_the_check_sees_forbidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "storycraft_bot" / "core" / "sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("import os\nfrom discord.ui import Button\nfrom ..pictures import x\n")
    imported = imported_modules(sample, tmp_path)
    assert "discord" in roots(imported)
    assert "storycraft_bot.pictures" in imported
