"""Stories played for `make eval`: the real engine, narrator, prompts, memory and SQLite,
against the Ollama at a given URL; a narrator that passes every call on to the real one
notes what came back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.eval_metrics import ModelTally, cast_keeping
from storycraft_bot.core import events as ev
from storycraft_bot.core.arc import PLANNED_PARTS
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.errors import NarratorError, StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Character,
    Language,
    Place,
    Platform,
    Segment,
    SegmentDraft,
    StoryLength,
    StoryMemory,
    StorySettings,
)
from storycraft_bot.core.ports import NullIllustrator, SegmentRequest
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.storage.sqlite import Store

log = logging.getLogger(__name__)

#: The bot's own defaults (config/settings.py), so a model is measured as the bot runs it.
BOT_OPTIONS = {"temperature": 0.8, "top_p": 0.9, "num_ctx": 8192, "num_predict": 1500}

PREMISES = {
    Language.EN: (
        "a lighthouse keeper finds a door in the rock below the lamp",
        "two rival couriers must cross a frozen city before dawn",
        "a child inherits a map that redraws itself every night",
    ),
    Language.RU: (
        "смотритель маяка находит дверь в скале под фонарём",
        "два соперника-курьера должны пересечь замёрзший город до рассвета",
        "ребёнок получает в наследство карту, которая каждую ночь меняется",
    ),
}


@dataclass(frozen=True, slots=True)
class EvalPlan:
    """What to play: how many stories, how long, in which languages and genres."""

    stories: int = 4
    parts: int = 6
    languages: tuple[Language, ...] = (Language.RU, Language.EN)
    genres: tuple[str, ...] = ("fantasy", "mystery")
    words: int = 120
    choices: int = 3
    seed: int = 1
    #: Seconds a part may take before the story is given up (a stuck server).
    part_timeout: float = 900.0
    first_token_timeout: float = 300.0
    #: The share of the stories (the last ones) played short, to their ending, whatever
    #: `parts` says: the only way to count endings reached.
    short_share: float = 0.0

    @property
    def short_stories(self) -> int:
        return round(self.stories * self.short_share)

    def is_short(self, number: int) -> bool:
        """Whether story `number` is played short; the last ones are, so that with two
        languages the short stories are in both."""
        return number >= self.stories - self.short_stories

    def story(self, number: int) -> tuple[Language, str, str]:
        """Language, genre and premise of the story with this number (round robin)."""
        language = self.languages[number % len(self.languages)]
        genre = self.genres[(number // len(self.languages)) % len(self.genres)]
        premises = PREMISES[language]
        return language, genre, premises[number % len(premises)]


class RecordingNarrator:
    """The Narrator port: the real narrator's answers, counted into a tally."""

    def __init__(self, inner: OllamaNarrator, tally: ModelTally) -> None:
        self._inner = inner
        self._tally = tally
        self.casts: defaultdict[int, list[tuple[Character, ...]]] = defaultdict(list)

    async def write_segment(
        self, request: SegmentRequest, on_text: Callable[[str], Awaitable[None]]
    ) -> SegmentDraft:
        started = time.perf_counter()
        try:
            draft = await self._inner.write_segment(request, on_text)
        except NarratorError as err:
            log.warning("part failed: %s", err)
            self._tally.add_failure(time.perf_counter() - started)
            raise
        self._tally.add_part(draft, request.language, time.perf_counter() - started)
        return draft

    async def update_memory(
        self, language: Language, memory: StoryMemory, segments: Sequence[Segment]
    ) -> StoryMemory:
        try:
            updated = await self._inner.update_memory(language, memory, segments)
        except NarratorError as err:
            log.warning("memory refused: %s", err)
            self._tally.memory_refused += 1
            raise
        self._tally.memory_kept += 1
        if segments:
            self.casts[segments[0].session_id].append(updated.characters)
        return updated

    async def new_choices(
        self, request: SegmentRequest, narration: str, old: Sequence[str]
    ) -> tuple[str, ...]:
        return await self._inner.new_choices(request, narration, old)


class _Outcomes:
    """The StoryView: each story's finished or failed parts, in order, and its ending."""

    def __init__(self) -> None:
        self.queues: defaultdict[int, asyncio.Queue[ev.StoryEvent]] = defaultdict(asyncio.Queue)
        self.endings: dict[int, ev.StoryEnded] = {}  # session id -> its ending

    async def show(self, event: ev.StoryEvent) -> None:
        if isinstance(event, ev.SegmentFinished | ev.SegmentFailed):
            self.queues[event.session_id].put_nowait(event)
        elif isinstance(event, ev.StoryEnded):
            self.endings[event.session_id] = event


async def evaluate_model(url: str, model: str, plan: EvalPlan) -> ModelTally:
    """Play `plan` on `model` and count what its replies were like."""
    tally = ModelTally(model, plan.words)
    config = OllamaConfig(
        model=model,
        options=BOT_OPTIONS,
        first_token_timeout=plan.first_token_timeout,
        token_timeout=120.0,
    )
    engine_config = EngineConfig(
        story=StorySettings(pictures=False, segment_words=plan.words, choices=plan.choices),
        # The bot folds 4 parts at a time behind the last 3; folding each part behind the
        # last 2 gives short stories several memory replies to compare.
        recent_segments=2,
        memory_every=1,
        outage_retries=0,  # a part that cannot be written counts as failed, not retried
    )
    with tempfile.TemporaryDirectory() as folder:
        async with (
            # A whole unstreamed reply of a CPU model may take minutes: no read timeout.
            open_pool(
                [url], SystemClock(), parallel=1, timeouts=httpx.Timeout(60.0, read=None)
            ) as pool,
            Store(Path(folder) / "eval.db") as store,
        ):
            gateway = OllamaGateway(pool, config)
            narrator = RecordingNarrator(OllamaNarrator(gateway), tally)
            view = _Outcomes()
            engine = StoryEngine(
                store,
                narrator,
                ModelPromptWriter(gateway, model),
                NullIllustrator(),
                view,
                SystemClock(),
                engine_config,
                random.Random(plan.seed),
            )
            rng = random.Random(plan.seed)
            try:
                for number in range(plan.stories):
                    ended = await _play(engine, view, plan, number, rng)
                    tally.stories += 1
                    if plan.is_short(number):
                        tally.short_stories += 1
                    if ended is not None:
                        tally.endings += 1
                        tally.ending_parts.append(ended.parts)
                await engine.wait_idle()
            finally:
                await engine.shutdown()
    tally.cast = [cast_keeping(casts) for casts in narrator.casts.values()]
    return tally


async def _play(
    engine: StoryEngine, view: _Outcomes, plan: EvalPlan, number: int, rng: random.Random
) -> ev.StoryEnded | None:
    """Play story `number`; its ending, if it reached one."""
    language, genre, premise = plan.story(number)
    place = Place(ChannelKey(Platform.CONSOLE, f"eval-{number}"), f"eval-{number}", False)
    player = Actor("eval", "Eval")
    short = plan.is_short(number)
    session = await engine.start(
        place,
        player,
        premise=premise,
        genre=genre,
        language=language,
        length=StoryLength.SHORT if short else None,
    )
    queue = view.queues[session.id]
    # A short story is given room for its ending, and one part more to see it ends there.
    parts = PLANNED_PARTS[StoryLength.SHORT] + 1 if short else plan.parts
    for part in range(parts):
        try:
            async with asyncio.timeout(plan.part_timeout):
                event = await queue.get()
        except TimeoutError:
            log.warning("story %d: part %d took too long; giving up the story", number, part)
            break
        if isinstance(event, ev.SegmentFailed) or part == parts - 1:
            break
        assert isinstance(event, ev.SegmentFinished)
        if not event.segment.choices:  # an ending: nothing left to choose
            break
        choice = rng.randrange(len(event.segment.choices))
        await engine.press(place, player, event.segment.id, choice)
    await engine.wait_idle()
    with contextlib.suppress(StoryActionError):  # a failed or ended story is over already
        await engine.stop(place, player)
    return view.endings.get(session.id)
