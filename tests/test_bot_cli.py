"""`python bot.py` as a user runs it: start-up checks, the console game, SIGTERM, restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from config.settings import Settings
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fake_telegram import TOKEN, FakeTelegram

BOT = Path(__file__).resolve().parent.parent / "bot.py"


def bot_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        DATABASE_PATH=str(tmp_path / "story.sqlite3"),
        DATA_DIR=str(tmp_path / "data"),
        STORY_LANGUAGE="en",
        PYTHONUNBUFFERED="1",
        WEB_PORT="0",  # any free port: tests run side by side
        PREWRITE="off",  # the fake numbers parts as written: drafts would take numbers
    )
    env.update(values)
    return env


async def spawn_bot(
    tmp_path: Path, *args: str, stdin: int = asyncio.subprocess.PIPE, **values: str
) -> asyncio.subprocess.Process:
    """`python bot.py ARGS` in tmp_path, with pipes, no .env, and these settings."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(BOT),
        *args,
        "--env-file",
        str(tmp_path / "none.env"),
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=bot_env(tmp_path, **values),
    )


async def run_bot(
    tmp_path: Path, *args: str, stdin: bytes = b"", **values: str
) -> tuple[int, str, str]:
    process = await spawn_bot(tmp_path, *args, stdin=asyncio.subprocess.PIPE, **values)
    async with asyncio.timeout(30):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Console:
    """A running `bot.py console`, read and typed into like a terminal."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen = ""

    async def read_until(self, marker: str) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(20):
            while marker not in self.seen:
                chunk = await self.process.stdout.read(1024)
                if not chunk:
                    raise AssertionError(f"bot exited before {marker!r}; it printed:\n{self.seen}")
                self.seen += chunk.decode()
        head, _, self.seen = self.seen.partition(marker)
        return head + marker

    async def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()


@pytest.fixture
async def start_console(
    tmp_path: Path, fake_ollama: FakeOllama
) -> AsyncIterator[Callable[..., Awaitable[Console]]]:
    """Starts `bot.py console` processes (with extra settings); kills them afterwards."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(**values: str) -> Console:
        process = await spawn_bot(
            tmp_path, "console", stdin=asyncio.subprocess.PIPE, OLLAMA_URL=fake_ollama.url, **values
        )
        processes.append(process)
        return Console(process)

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.fixture
async def console(start_console: Callable[..., Awaitable[Console]]) -> Console:
    return await start_console()


async def test_no_platform_says_how_to_configure(tmp_path: Path) -> None:
    code, _, err = await run_bot(tmp_path, WEB_ENABLED="false")
    assert code == 2
    assert "set DISCORD_TOKEN or TELEGRAM_TOKEN" in err
    assert "WEB_ENABLED=true" in err
    assert "python bot.py console" in err
    assert "Traceback" not in err


async def test_no_token_plays_in_the_browser(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    process = await spawn_bot(tmp_path, OLLAMA_URL=fake_ollama.url, WEB_PORT="0")
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("StoryCraft in the browser: http://127.0.0.1:")
        address = line.split(": ", 1)[1].strip()
        async with aiohttp.ClientSession() as http, http.get(address + "/") as page:
            assert page.status == 200
            assert 'action="/start"' in await page.text()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    assert "Traceback" not in (await process.stderr.read()).decode()


async def test_the_web_off_loopback_needs_a_token(tmp_path: Path) -> None:
    code, _, err = await run_bot(tmp_path, WEB_HOST="0.0.0.0")
    assert code == 2
    assert "WEB_TOKEN is required when WEB_HOST is '0.0.0.0'" in err


async def test_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    code, _, err = await run_bot(tmp_path, "console", STORY_CHOICES="9")
    assert code == 2
    assert (
        err.strip()
        == "storycraft: invalid setting STORY_CHOICES: Input should be less than or equal to 4"
    )


async def test_an_unreachable_ollama_is_one_line(tmp_path: Path) -> None:
    code, _, err = await run_bot(tmp_path, "console", OLLAMA_URL="http://127.0.0.1:9")
    assert code == 1
    assert "Ollama is not reachable" in err
    assert "OLLAMA_URL=http://127.0.0.1:9" in err
    assert "Traceback" not in err


async def test_a_missing_model_names_the_pull_command(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    code, _, err = await run_bot(
        tmp_path, "console", OLLAMA_URL=fake_ollama.url, STORY_MODEL="mistral:7b"
    )
    assert code == 1
    assert "model mistral:7b is not installed: run `ollama pull mistral:7b`" in err


async def test_a_story_in_the_terminal(console: Console, tmp_path: Path) -> None:
    await console.read_until("Story premise (Enter for a surprise): ")
    await console.type("A lighthouse keeper finds a map")
    first = await console.read_until("3. Path 1.3")
    assert "Part 1. Mara the wanderer" in first
    assert "1. Path 1.1" in first

    await console.type("2")
    second = await console.read_until("3. Path 2.3")
    assert "» Chosen: Path 1.2" in second
    assert "Part 2." in second

    await console.type("7")
    assert "Type a number from 1 to 3." in await console.read_until("1 to 3.")
    await console.type("/status")
    status = await console.read_until("Waiting for a choice.")
    assert "A fantasy story, 2 parts so far. Premise: A lighthouse keeper finds a map." in status
    await console.type("/undo")
    again = await console.read_until("3. Path 1.3")
    assert "undone" in again
    assert "Part 1. Mara" in again  # the reopened part is shown again in full
    await console.type("/stop")
    assert "The story has ended" in await console.read_until("Thanks for playing!")
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0


async def test_a_console_with_stdin_from_dev_null_ends_cleanly(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    process = await spawn_bot(
        tmp_path, "console", stdin=asyncio.subprocess.DEVNULL, OLLAMA_URL=fake_ollama.url
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0
    assert out.decode().endswith("(Enter for a surprise): \n")
    assert "Traceback" not in err.decode()
    assert "Exception" not in err.decode()


def segment_reply(narration: str, cut_after_chunks: int | None = None) -> Reply:
    """A well-formed reply, streamed slowly enough for the terminal to show it growing."""
    content = json.dumps(
        {"narration": narration, "choices": ["Go on", "Turn back"], "scene": "snow"}
    )
    return Reply(content, chunk_size=8, chunk_delay=0.03, cut_after_chunks=cut_after_chunks)


async def test_a_stream_cut_and_asked_again_is_printed_again_in_the_terminal(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    cut = "Wind was drawing shapes on the frozen glass of the mill."
    again = "Heavy clouds rolled in, swollen with snow."
    fake_ollama.then(segment_reply(cut, cut_after_chunks=8), segment_reply(again))
    code, out, err = await run_bot(
        tmp_path, "console", stdin=b"\n/stop\n", OLLAMA_URL=fake_ollama.url
    )
    assert code == 0
    assert "Wind was drawing" in out  # the cut reply had been shown...
    # ...and the new one replaced it: printed again whole, not glued to the cut text.
    assert f"↻ The narrator started this part over:\n— 1 —\n{again}\n\n  1. Go on\n" in out
    assert out.count(again) == 1
    assert "Traceback" not in err


async def test_a_malformed_reply_asked_again_is_printed_again_in_the_terminal(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    rambling = json.dumps({"narration": "The first try rambles on and on and on", "choices": []})
    fake_ollama.then(Reply(content=rambling, chunk_size=8, chunk_delay=0.03))
    code, out, _ = await run_bot(
        tmp_path, "console", stdin=b"\n/stop\n", OLLAMA_URL=fake_ollama.url
    )
    assert code == 0
    assert "The first try" in out
    part = out.split("↻ The narrator started this part over:\n— 1 —\n", 1)[1]
    assert part.startswith("Part 1. Mara the wanderer")
    assert "rambles" not in part
    assert "Part 1. Mara" not in out.split("↻", 1)[0]


async def test_sigterm_shuts_down_cleanly_and_a_restart_continues(
    console: Console, tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    await console.read_until("(Enter for a surprise): ")
    await console.type("")
    await console.read_until("3. Path 1.3")

    console.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0
    assert console.process.stderr is not None
    assert "Traceback" not in (await console.process.stderr.read()).decode()
    assert not (tmp_path / "story.sqlite3-wal").exists()  # closed, so checkpointed
    db = sqlite3.connect(tmp_path / "story.sqlite3")
    try:
        assert db.execute("SELECT state FROM sessions").fetchall() == [("active",)]
    finally:
        db.close()

    code, out, _ = await run_bot(
        tmp_path, "console", stdin=b"1\n/stop\n", OLLAMA_URL=fake_ollama.url
    )
    assert code == 0
    assert "3. Path 1.3" in out  # the same choices, shown again after the restart
    assert "Chosen: Path 1.1" in out
    assert "Part 2." in out


async def test_a_story_with_pictures_in_the_terminal(
    start_console: Callable[..., Awaitable[Console]], fake_comfy: FakeComfyUI, tmp_path: Path
) -> None:
    console = await start_console(
        COMFYUI_URLS=fake_comfy.url,
        COMFYUI_CHECKPOINT="random-sd15.safetensors",
        PICTURE_WIDTH="64",
        PICTURE_HEIGHT="64",
        PICTURE_STEPS="2",
    )
    await console.read_until("(Enter for a surprise): ")
    await console.type("")
    shown = await console.read_until(".png")
    path = Path(shown.rsplit("🖼", 1)[1].strip())
    assert path.is_file()
    assert path.is_relative_to(tmp_path / "data" / "pictures")
    assert fake_comfy.posted_prompts()[0]["prompt"]["5"]["inputs"]["width"] == 64
    await console.type("/stop")
    await console.read_until("Thanks for playing!")


async def test_a_missing_checkpoint_stops_start_up_with_the_choices(
    tmp_path: Path, fake_ollama: FakeOllama, fake_comfy: FakeComfyUI
) -> None:
    code, _, err = await run_bot(
        tmp_path, "console", OLLAMA_URL=fake_ollama.url, COMFYUI_URLS=fake_comfy.url
    )
    assert code == 1
    assert err.strip() == (
        "storycraft: checkpoint 'v1-5-pruned-emaonly.safetensors' is not installed on "
        f"{fake_comfy.url}; it has: junk.safetensors, random-sd15.safetensors "
        "(set COMFYUI_CHECKPOINT)"
    )


async def test_an_unknown_workflow_names_the_choices(
    tmp_path: Path, fake_ollama: FakeOllama, fake_comfy: FakeComfyUI
) -> None:
    code, _, err = await run_bot(
        tmp_path,
        "console",
        OLLAMA_URL=fake_ollama.url,
        COMFYUI_URLS=fake_comfy.url,
        COMFYUI_WORKFLOW="flux",
    )
    assert code == 1
    assert err.strip() == (
        "storycraft: no workflow 'flux'; the choices are: sd15, sd15_lora, sd15_reference, sdxl"
    )


async def test_comfyui_down_at_start_up_the_story_goes_on_in_text(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    code, out, err = await run_bot(
        tmp_path,
        "console",
        stdin=b"\n/stop\n",
        OLLAMA_URL=fake_ollama.url,
        COMFYUI_URLS="http://127.0.0.1:9",
    )
    assert code == 0
    assert "3. Path 1.3" in out
    assert "no ComfyUI server answers" in err


async def test_telegram_runs_from_bot_py_and_stops_on_sigterm(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    process = await spawn_bot(
        tmp_path, OLLAMA_URL=fake_ollama.url, TELEGRAM_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url
    )
    try:
        await tg.wait_until(lambda: tg.calls("getUpdates"))
        alice = tg.user(501, "Alice")
        chat = tg.private_chat(alice)
        tg.send_text(chat, alice, "/story A storm at sea")
        story = await tg.wait_until(
            lambda: next((m for m in tg.bot_messages(chat["id"]) if m.get("reply_markup")), None)
        )
        assert story["text"].startswith("Part 1.")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert "Traceback" not in log
    assert TOKEN not in log  # the secret never reaches the log


async def test_a_wrong_telegram_token_is_one_line_without_the_token(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    code, _, err = await run_bot(
        tmp_path,
        OLLAMA_URL=fake_ollama.url,
        TELEGRAM_TOKEN="999:wrong",
        TELEGRAM_API_URL=tg.url,
        WEB_ENABLED="false",  # else the bot plays on in the browser
    )
    assert code == 1
    assert "Telegram refused TELEGRAM_TOKEN: check it with @BotFather" in err
    assert "999:wrong" not in err
    assert "Traceback" not in err


async def test_no_token_reaches_the_log_even_at_debug(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    process = await spawn_bot(
        tmp_path,
        OLLAMA_URL=fake_ollama.url,
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.url,
        LOG_LEVEL="DEBUG",
    )
    try:
        await tg.wait_until(lambda: tg.calls("getUpdates"))
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert "DEBUG" in log
    assert "<redacted>" in log  # the libraries did log the URL that carries the token...
    assert TOKEN not in log  # ...and it was redacted


async def test_the_console_writes_the_book_and_prints_its_path(
    console: Console, tmp_path: Path
) -> None:
    await console.read_until("Story premise (Enter for a surprise): ")
    await console.type("The lighthouse map")
    await console.read_until("3. Path 1.3")
    await console.type("2")
    await console.read_until("3. Path 2.3")

    await console.type("/book")
    said = await console.read_until(".html")
    path = Path(said.rsplit("Book saved: ", 1)[1])
    assert path == (tmp_path / "data" / "books" / "story-the-lighthouse-map.html").resolve()
    page = path.read_text(encoding="utf-8")
    assert page.index("Part 1. Mara") < page.index("» chosen: Path 1.2") < page.index("Part 2.")
    assert "The story goes on…" in page
    await console.type("/stop")
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0


async def test_the_console_keeps_the_cores_rules_on_typed_text_across_a_restart(
    start_console: Callable[..., Awaitable[Console]],
) -> None:
    console = await start_console()
    await console.read_until("(Enter for a surprise): ")
    await console.type("x" * 1001)  # refused out loud, and asked again
    refused = await console.read_until("(Enter for a surprise): ")
    assert "The premise is too long: 1001 characters, at most 1000 fit." in refused
    await console.type("A lighthouse keeper finds a map")
    await console.read_until("3. Path 1.3")
    await console.type("/settings block Dragon")  # the operator is the place's admin
    await console.read_until("Blocked: dragon")
    await console.type("/stop")
    await console.read_until("Thanks for playing!")
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0

    console = await start_console()  # the same database: the list and the cooldown stay
    await console.read_until("(Enter for a surprise): ")
    await console.type("Here be a DRAGON")
    blocked = await console.read_until("(Enter for a surprise): ")
    assert "This text contains a word the administrators blocked here." in blocked
    assert "DRAGON" not in blocked
    await console.type("A quiet sea")
    # START_COOLDOWN_SECONDS (30 by default) since the first story began.
    assert "You can start a new story in " in await console.read_until("(Enter for a surprise): ")
    assert console.process.stderr is not None
    console.process.stdin.close()  # type: ignore[union-attr]
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0
    assert "Traceback" not in (await console.process.stderr.read()).decode()
