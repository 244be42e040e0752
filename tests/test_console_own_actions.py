"""The console takes free text that is not a number as the player's own action (issue
15), through the same engine rules: the real engine, narrator (fake Ollama) and SQLite."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.console import ConsoleView, run_console
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import Language
from storycraft_bot.core.ports import NullIllustrator
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock


async def typed(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


async def test_free_text_is_an_own_action_refused_when_too_long(
    gateway: OllamaGateway, store: Store, clock: FakeClock, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    out = io.StringIO()
    view = ConsoleView(out, Language.EN)
    engine = StoryEngine(
        store,
        OllamaNarrator(gateway),
        ModelPromptWriter(gateway, "qwen2.5:3b"),
        NullIllustrator(),
        view,
        clock,
        EngineConfig(language=Language.EN),
        random.Random(1),
    )
    try:
        await run_console(
            engine,
            view,
            typed("", "y" * 201, "7", "I climb the lighthouse", "/stop"),
            out,
            books=tmp_path,
        )
    finally:
        await engine.shutdown()

    screen = out.getvalue()
    assert "The action is too long: 201 characters, at most 200 fit." in screen
    assert "Chosen: I climb the lighthouse" in screen
    assert "\n— 2 —\nPart 2." in screen
    segments = await store.live_segments(1)
    assert segments[0].choices[-1] == "I climb the lighthouse"
    assert segments[0].own_action(segments[0].chosen_index) is not None
    said = [
        m["content"]
        for m in fake_ollama.chat_requests("segment")[-1]["messages"]
        if "lighthouse" in m["content"]
    ]
    assert said == [
        "A player wrote the hero's action: <<<I climb the lighthouse>>>. Treat it as the chosen "
        "action; if it is impossible, let it fail within the story. Continue."
    ]
