"""A non-editable install finds its migrations and workflows: built into a fresh venv, played."""

from __future__ import annotations

import asyncio
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.test_bot_cli import Console, bot_env

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("pyproject.toml", "bot.py", "storycraft_bot", "adapters", "config", "migrations")
ORIGINS = (
    "import importlib.util as u; print(*(u.find_spec(m).origin for m in ('bot', 'migrations')))"
)


async def check_output(*command: str | Path, cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


async def install_copy(tmp_path: Path) -> Path:
    """A fresh venv with a copy of the project installed (no -e); returns its python."""
    source = tmp_path / "source"  # a copy, so the build leaves the checkout untouched
    source.mkdir()
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("*.pyc"))
        else:
            shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    await check_output(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = await check_output(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    # A bare path line lends this venv's dependencies (pip and setuptools too) without the
    # editable install of the checkout: .pth files in a folder added this way are not run.
    (Path(purelib.strip()) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    await check_output(
        python,
        *("-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation"),
        *("--ignore-installed", source),  # never touch the editable install the path lends
        cwd=tmp_path,
    )
    return python


@pytest.mark.slow
async def test_an_installed_copy_plays_a_story_with_pictures(
    tmp_path: Path, fake_ollama: FakeOllama, fake_comfy: FakeComfyUI
) -> None:
    python = await install_copy(tmp_path)
    origins = await check_output(python, "-c", ORIGINS, cwd=tmp_path)
    assert all(Path(o).is_relative_to(tmp_path / "venv") for o in origins.split())

    process = await asyncio.create_subprocess_exec(
        *(python, "-m", "bot", "console", "--env-file", tmp_path / "none.env"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=bot_env(
            tmp_path,
            OLLAMA_URL=fake_ollama.url,
            COMFYUI_URLS=fake_comfy.url,
            COMFYUI_CHECKPOINT="random-sd15.safetensors",
            PICTURE_WIDTH="64",
            PICTURE_HEIGHT="64",
            PICTURE_STEPS="2",
        ),
    )
    console = Console(process)
    try:
        await console.read_until("(Enter for a surprise): ")
        await console.type("")
        assert "Part 1." in await console.read_until("3. Path 1.3")  # migrated database
        assert ".png" in await console.read_until(".png")  # the shipped sd15 workflow
        await console.type("/stop")
        await console.read_until("Thanks for playing!")
        async with asyncio.timeout(10):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
