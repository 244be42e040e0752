"""Stories driven through the real engine, narrator and SQLite on the fake Ollama."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import httpx

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform
from storycraft_bot.core.ports import NullIllustrator
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama


class Counter:
    """The StoryView that notes each story's newest finished segment."""

    def __init__(self) -> None:
        self.finished: dict[int, int] = {}
        self.changed = asyncio.Event()

    async def show(self, event: ev.StoryEvent) -> None:
        if isinstance(event, ev.SegmentFinished):
            self.finished[event.session_id] = event.segment.id
            self.changed.set()


TIMEOUTS = httpx.Timeout(5.0, read=60.0)


async def play(engine: StoryEngine, view: Counter, places: list[Place], turns: int) -> int:
    """Start a story in each place, then press the first choice in every story, `turns`
    times over, each time once all of them have finished a segment; the segments seen."""
    player = Actor("p", "P")
    sessions = [await engine.start(place, player) for place in places]
    seen = 0
    for _ in range(turns):
        while len(view.finished) < len(places):
            view.changed.clear()
            await view.changed.wait()
        current = dict(view.finished)
        view.finished.clear()
        seen += len(current)
        for place, session in zip(places, sessions, strict=True):
            await engine.press(place, player, current[session.id], 0)
    await engine.wait_idle()
    return seen


async def run_stories(stories: int, segments_each: int) -> tuple[float, int]:
    server = FakeOllama()
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with (
                open_pool([server.url], SystemClock(), parallel=stories, timeouts=TIMEOUTS) as pool,
                Store(Path(folder) / "bench.db") as store,
            ):
                gateway = OllamaGateway(pool, OllamaConfig(model="llama3.1:8b"))
                view = Counter()
                engine = StoryEngine(
                    store,
                    OllamaNarrator(gateway),
                    ModelPromptWriter(gateway, "qwen2.5:3b"),
                    NullIllustrator(),
                    view,
                    SystemClock(),
                    EngineConfig(language=Language.EN, narration_interval=0.5),
                    random.Random(1),
                )
                places = [
                    Place(ChannelKey(Platform.CONSOLE, str(n)), str(n), False)
                    for n in range(stories)
                ]
                started = time.perf_counter()
                done = await play(engine, view, places, segments_each)
                seconds = time.perf_counter() - started
                await engine.shutdown()
                return seconds, done
    finally:
        await server.stop()
