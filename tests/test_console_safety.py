"""The core's rules on what the console's player types (issue 15): free text (an own
action) and premises meet the operator's blocked words, the length limit and the
cooldowns, said without the word and with the time to wait; numbers (presses) are never
limited; a premise that tries to instruct the model reaches it quoted; a restart keeps
the rules."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.console import ConsoleView, run_console
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import Language
from storycraft_bot.core.ports import NullIllustrator
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock
from tests.injection import INJECTION, assert_quoted_for_the_model

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."

OWN_COOLDOWN = AbuseLimits(own_action_cooldown_seconds=60)
START_COOLDOWN = AbuseLimits(start_cooldown_seconds=60)

#: A line that moves the fake clock on by this many seconds instead of being typed.
WAIT = "wait "


async def typed(clock: FakeClock, *lines: str) -> AsyncIterator[str]:
    for line in lines:
        if line.startswith(WAIT):
            await clock.advance(float(line.removeprefix(WAIT)))
            continue
        yield line + "\n"


async def play(
    gateway: OllamaGateway,
    store: Store,
    clock: FakeClock,
    folder: Path,
    *lines: str,
    limits: AbuseLimits = OWN_COOLDOWN,
) -> str:
    """One run of the console (one process) with `limits`; its screen."""
    out = io.StringIO()
    view = ConsoleView(out, Language.EN)
    engine = StoryEngine(
        store,
        OllamaNarrator(gateway),
        ModelPromptWriter(gateway, "qwen2.5:3b"),
        NullIllustrator(),
        view,
        clock,
        EngineConfig(language=Language.EN, limits=limits),
        random.Random(1),
    )
    try:
        await run_console(engine, view, typed(clock, *lines), out, books=folder)
    finally:
        await engine.shutdown()
    return out.getvalue()


async def test_free_text_meets_blocked_words_and_the_cooldown_across_a_restart(
    gateway: OllamaGateway, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    first = await play(
        gateway,
        store,
        clock,
        tmp_path,
        "",
        "/settings block dragon",
        "I feed the DRAGON",
        "I open the door",
        "wait 20",
        "I close the door",
        "1",  # a choice's number: never limited
    )
    assert "Blocked: dragon" in first
    assert BLOCKED in first
    assert first.casefold().count("dragon") == 1  # the operator's list, never the refusal
    assert "Chosen: I open the door" in first
    assert "You can suggest your own action again in 40 seconds." in first
    assert "\n— 3 —\nPart 3." in first

    second = await play(  # a new process on the same database
        gateway,
        store,
        clock,
        tmp_path,
        "wait 10",
        "I wake the dragon",
        "I sneak past",
        "wait 30",
        "I sneak past",
    )
    assert second.count(BLOCKED) == 1
    assert "dragon" not in second
    assert "You can suggest your own action again in 30 seconds." in second
    assert "Chosen: I sneak past" in second
    assert "\n— 4 —\nPart 4." in second
    parts = await store.live_segments(1)
    assert [p.choices[p.chosen_index or 0] for p in parts if p.own_actions] == [
        "I open the door",
        "I sneak past",
    ]


async def test_premises_meet_the_length_the_blocked_words_and_the_start_cooldown(
    gateway: OllamaGateway, store: Store, clock: FakeClock, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    first = await play(
        gateway,
        store,
        clock,
        tmp_path,
        "x" * 1001,
        INJECTION,
        "/settings block dragon",
        "/stop",
        limits=START_COOLDOWN,
    )
    assert "The premise is too long: 1001 characters, at most 1000 fit." in first
    assert_quoted_for_the_model(fake_ollama)
    assert "\n— 1 —\nPart 1." in first  # the injected premise's part kept its form

    second = await play(  # a new process on the same database
        gateway,
        store,
        clock,
        tmp_path,
        "A wyvern tale",
        "wait 60",
        "A DRAGON tale",
        "A wyvern tale",
        "/stop",
        limits=START_COOLDOWN,
    )
    assert "You can start a new story in 60 seconds." in second
    assert BLOCKED in second
    assert "dragon" not in second.casefold()
    assert "\n— 1 —\nPart 2." in second  # the fake model numbers its replies
    sessions = [r async for r in store.table_rows("sessions")]
    assert [s["premise"] for s in sessions] == [INJECTION, "A wyvern tale"]


async def test_a_command_typed_before_any_story_is_answered_not_taken_as_a_premise(
    gateway: OllamaGateway, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    screen = await play(gateway, store, clock, tmp_path, "/status", "A wyvern tale", "/stop")
    assert "There is no story yet: type a premise (or press Enter for a surprise)" in screen
    sessions = [r async for r in store.table_rows("sessions")]
    assert [s["premise"] for s in sessions] == ["A wyvern tale"]
