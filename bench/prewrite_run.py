"""Instant turns (issue 14) measured: the real engine, narrator, illustrator and SQLite on a
paced fake Ollama (one narrator slot) and a fake ComfyUI with a set drawing time, with
prewriting off and on, for a private story and for a group vote."""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Language,
    Place,
    Platform,
    Segment,
    StorySettings,
)
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.prewriting import CHARS_PER_TOKEN, PrewriteFigures, PrewriteMode
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import ComfyIllustrator
from storycraft_bot.storage.sqlite import Store
from tests.conftest import sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply

FIRST_TOKEN = 0.3  # seconds before the model's first token
TOKENS_PER_SECOND = 40.0
CHUNK = 16  # characters in one streamed chunk (the fake's)
STEPS, STEP_DELAY = 20, 0.05  # one picture: 1.0 s of drawing
DRAWING = STEPS * STEP_DELAY
# Players think 5-20 s and a group votes for 60 s; both are compressed (the model is not),
# which makes the hit rate here a pessimistic one.
THINK, THINK_SCALE = (5.0, 20.0), 0.4
WINDOW, WINDOW_SCALE = 60.0, 0.1
PRIVATE_PRESSES, GROUP_ROUNDS = 8, 5
VOTERS = 3


class _Paced(deque[Reply]):
    """A script that never runs out: every request is answered at the set pace."""

    def __init__(self) -> None:
        super().__init__()
        delay = CHUNK / CHARS_PER_TOKEN / TOKENS_PER_SECOND
        self._reply = Reply(first_token_delay=FIRST_TOKEN, chunk_delay=delay, chunk_size=CHUNK)

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        return self._reply


@dataclass
class _CountingOllama(FakeOllama):
    """Counts every character the model was asked to write (drafts, turns, prompts)."""

    written_chars: int = 0

    def _default_content(self, body: dict[str, Any]) -> str:
        content = super()._default_content(body)
        self.written_chars += len(content)
        return content


class _Timeline:
    """The story events a player would see, with the moment each arrived."""

    def __init__(self) -> None:
        self.part: Segment | None = None
        self.finished: dict[int, float] = {}
        self.decided: dict[int, float] = {}  # by the part whose choice was made
        self.pictures: dict[int, float] = {}
        self.changed = asyncio.Event()

    async def show(self, event: ev.StoryEvent) -> None:
        now = time.perf_counter()
        if isinstance(event, ev.SegmentFinished):
            self.part = event.segment
            self.finished.setdefault(event.segment.id, now)
            self.changed.set()
        elif isinstance(event, ev.ChoiceDecided):
            self.decided.setdefault(event.segment_id, now)
        elif isinstance(event, ev.PictureReady):
            self.pictures.setdefault(event.segment_id, now)

    async def next_part(self, after: int | None) -> Segment:
        while self.part is None or self.part.id == after:
            self.changed.clear()
            await self.changed.wait()
        return self.part


@dataclass
class Run:
    """One scenario's figures: seconds from the choice to the complete next part and to
    its picture, prewriting's counts and the model's whole output in tokens."""

    parts: list[float] = field(default_factory=list)
    pictures: list[float] = field(default_factory=list)
    figures: PrewriteFigures = field(default_factory=PrewriteFigures)
    model_tokens: int = 0


async def run_story(group: bool, mode: PrewriteMode, seed: int) -> Run:
    rng = random.Random(seed)
    ollama_server = _CountingOllama(script=_Paced())
    comfy = FakeComfyUI(step_delay=STEP_DELAY)
    await ollama_server.start()
    await comfy.start()
    clock = SystemClock()
    result = Run()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with (
                open_pool(
                    [ollama_server.url], clock, parallel=4, timeouts=httpx.Timeout(5.0, read=60.0)
                ) as pool,
                httpx.AsyncClient() as comfy_http,
                Store(Path(folder) / "bench.db") as store,
            ):
                gateway = OllamaGateway(pool, OllamaConfig(model="llama3.1:8b"))
                illustrator = ComfyIllustrator(
                    ServerPool([ComfyClient(comfy.url, comfy_http, clock)], clock),
                    GpuQueue(clock=clock),
                    sd15_workflow(steps=STEPS),
                    Path(folder) / "pictures",
                    clock,
                    rng=random.Random(seed),
                )
                await illustrator.check_servers()
                view = _Timeline()
                story = StorySettings(vote_window_seconds=WINDOW * WINDOW_SCALE)
                engine = StoryEngine(
                    store,
                    OllamaNarrator(gateway),
                    ModelPromptWriter(gateway, "qwen2.5:3b"),
                    illustrator,
                    view,
                    clock,
                    EngineConfig(
                        language=Language.EN, story=story, narration_interval=0.5, prewrite=mode
                    ),
                    random.Random(seed),
                    narration=FairNarratorQueue(lambda: 1, clock),  # one GPU: one slot
                )
                place = Place(ChannelKey(Platform.CONSOLE, "1"), "1", group)
                players = [Actor(f"p{n}", f"P{n}") for n in range(VOTERS if group else 1)]
                await engine.start(place, players[0])
                part = await view.next_part(None)
                chosen_at: dict[int, float] = {}
                for _ in range(GROUP_ROUNDS if group else PRIVATE_PRESSES):
                    if group:
                        for player in players:  # votes come in during the first seconds
                            await asyncio.sleep(rng.uniform(0.1, 1.0))
                            choice = rng.randrange(len(part.choices))
                            await engine.press(place, player, part.id, choice)
                    else:
                        await asyncio.sleep(rng.uniform(*THINK) * THINK_SCALE)
                        pressed = time.perf_counter()
                        await engine.press(place, players[0], part.id, rng.randrange(3))
                    after = part.id
                    part = await view.next_part(after)
                    chosen_at[part.id] = view.decided[after] if group else pressed
                    result.parts.append(view.finished[part.id] - chosen_at[part.id])
                await asyncio.sleep(DRAWING * 3)  # the last picture
                result.pictures = [
                    view.pictures[s] - chosen_at[s] for s in chosen_at if s in view.pictures
                ]
                result.figures = engine.prewriting.figures
                await engine.shutdown()
                await illustrator.close()
    finally:
        await comfy.stop()
        await ollama_server.stop()
    result.model_tokens = ollama_server.written_chars // CHARS_PER_TOKEN
    return result


def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _line(name: str, mode: PrewriteMode, run: Run) -> str:
    f = run.figures
    used = f.hits + f.partial_hits + f.misses
    rate = f"{f.hits / used:.0%}" if used else "-"
    wasted = f.wasted_tokens / run.model_tokens if run.model_tokens else 0.0
    return (
        f"prewrite: {name}, prewriting {mode}: press -> complete next part "
        f"p50 {_p(run.parts, 50) * 1000:,.0f} ms, p90 {_p(run.parts, 90) * 1000:,.0f} ms "
        f"(goal p50 <= 300 ms); press -> picture p50 {_p(run.pictures, 50):.2f} s, "
        f"p90 {_p(run.pictures, 90):.2f} s (goal <= {DRAWING:.1f} s, one drawing); "
        f"hits {f.hits}, partial {f.partial_hits}, misses {f.misses} (hit rate {rate}); "
        f"~{f.wasted_tokens} of ~{run.model_tokens} model tokens in vain ({wasted:.0%})"
    )


async def _all() -> list[tuple[str, PrewriteMode, Run]]:
    """The four scenarios side by side (separate servers and engines), to stay short."""
    private = f"private story, {PRIVATE_PRESSES} presses after {THINK[0]:.0f}-{THINK[1]:.0f} s"
    private += f" x{THINK_SCALE}"
    group = f"group of {VOTERS}, {GROUP_ROUNDS} votes of {WINDOW:.0f} s x{WINDOW_SCALE}"
    cases = [
        (private, False, PrewriteMode.OFF),
        (private, False, PrewriteMode.AUTO),
        (group, True, PrewriteMode.OFF),
        (group, True, PrewriteMode.AUTO),
    ]
    # Off and on see the same players (the same seed).
    runs = await asyncio.gather(*(run_story(g, m, 2 if g else 1) for _, g, m in cases))
    return [(name, mode, run) for (name, _, mode), run in zip(cases, runs, strict=True)]


def bench_prewrite() -> None:
    """Press -> complete next part and -> picture, prewriting off and on."""
    print(
        f"prewrite: fake Ollama {FIRST_TOKEN:.1f} s to the first token, "
        f"{TOKENS_PER_SECOND:.0f} tokens/s, one narrator slot; fake ComfyUI {DRAWING:.1f} s "
        "a picture"
    )
    for name, mode, run in asyncio.run(_all()):
        print(_line(name, mode, run))
