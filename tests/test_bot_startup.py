"""Every start-up failure of `python bot.py` is one line naming the setting or file, and a
non-zero exit; a second process on the same database refuses to start."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama
from tests.test_bot_cli import Console, run_bot, spawn_bot

Prepare = Callable[[Path], dict[str, str]]


def corrupt_database(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "story.sqlite3").write_bytes(b"this is not a database, just text " * 200)
    return {}


def newer_database(tmp_path: Path) -> dict[str, str]:
    db = sqlite3.connect(tmp_path / "story.sqlite3")
    db.execute("PRAGMA user_version = 999")
    db.close()
    return {}


def data_dir_is_a_file(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "blocker").write_text("a file, not a folder")
    return {"DATA_DIR": str(tmp_path / "blocker" / "data")}


def database_folder_is_a_file(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "blocker").write_text("a file, not a folder")
    return {"DATABASE_PATH": str(tmp_path / "blocker" / "story.sqlite3")}


def bad_style_file(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "styles.toml"
    path.write_text('[[style]]\nname = "ink"\nprompt = "ink"\nlora_strength = 50\n')
    return {"PICTURE_STYLES_FILE": str(path)}


def setting(**values: str) -> Prepare:
    return lambda tmp_path: values


CASES: list[tuple[str, Prepare, int, list[str]]] = [
    (
        "ollama port out of range",
        setting(OLLAMA_URL="http://127.0.0.1:99999"),
        2,
        ["invalid setting OLLAMA_URL", "bad port", "99999"],
    ),
    (
        "ollama port not a number",
        setting(OLLAMA_URL="http://127.0.0.1:11434x"),
        2,
        ["invalid setting OLLAMA_URL", "bad port"],
    ),
    ("ollama url without host", setting(OLLAMA_URL="http://:11434"), 2, ["OLLAMA_URL", "host"]),
    ("keep_alive forever", setting(KEEP_ALIVE="forever"), 2, ["KEEP_ALIVE", "5m, 1h30m"]),
    ("keep_alive with a space", setting(KEEP_ALIVE="10 m"), 2, ["KEEP_ALIVE"]),
    ("comfyui bad port", setting(COMFYUI_URLS="http://gpu:8188,http://gpu:0"), 2, ["COMFYUI_URLS"]),
    ("telegram url scheme", setting(TELEGRAM_API_URL="api.telegram.org"), 2, ["TELEGRAM_API_URL"]),
    ("token timeout zero", setting(TOKEN_TIMEOUT="0"), 2, ["TOKEN_TIMEOUT", "greater than 0"]),
    ("num_predict too small", setting(NUM_PREDICT="10"), 2, ["NUM_PREDICT"]),
    ("unreachable ollama", setting(OLLAMA_URL="http://127.0.0.1:9"), 1, ["OLLAMA_URL=http"]),
    ("corrupt database", corrupt_database, 1, ["story.sqlite3", "not a database"]),
    ("newer database", newer_database, 1, ["story.sqlite3", "schema version 999"]),
    ("data folder unusable", data_dir_is_a_file, 1, ["DATA_DIR", "blocker"]),
    ("database folder unusable", database_folder_is_a_file, 1, ["DATABASE_PATH", "blocker"]),
    ("style file breaks a bound", bad_style_file, 1, ["PICTURE_STYLES_FILE", "lora_strength"]),
]


@pytest.mark.parametrize(
    ("prepare", "code", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_a_start_up_failure_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, fake_ollama: FakeOllama, prepare: Prepare, code: int, says: list[str]
) -> None:
    values = {"OLLAMA_URL": fake_ollama.url, **prepare(tmp_path)}

    exit_code, _, err = await run_bot(tmp_path, "console", stdin=b"", **values)

    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("storycraft: ")
    for fragment in says:
        assert fragment in lines[0]
    assert exit_code == code


async def test_a_second_process_on_the_same_database_refuses_to_start(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    first = Console(await spawn_bot(tmp_path, "console", OLLAMA_URL=fake_ollama.url))
    try:
        await first.read_until("(Enter for a surprise): ")

        code, _, err = await run_bot(tmp_path, "console", OLLAMA_URL=fake_ollama.url)

        assert code == 1
        assert err.strip() == (
            f"storycraft: database {tmp_path / 'story.sqlite3'} is in use by another "
            f"StoryCraft (process {first.process.pid}); stop it first (DATABASE_PATH)"
        )
        assert first.process.returncode is None  # the first one runs on, untouched
        await first.type("/stop")
    finally:
        if first.process.returncode is None:
            first.process.kill()
        async with asyncio.timeout(10):
            await first.process.wait()

    # Once the first has gone, the lock is free again.
    code, out, _ = await run_bot(
        tmp_path, "console", stdin=b"\n/stop\n", OLLAMA_URL=fake_ollama.url
    )
    assert code == 0
    assert "3. Path" in out
