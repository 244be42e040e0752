"""Test doubles for the core's own ports: a clock tests move by hand, a view that records."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import TypeVar

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.models import (
    ImagePrompt,
    ImageSource,
    Language,
    PictureJob,
    PictureStyle,
    Segment,
    SegmentDraft,
    StoryMemory,
    SubmittedPrompt,
)
from storycraft_bot.core.ports import PictureReporter, SegmentRequest

E = TypeVar("E", bound=ev.StoryEvent)


class FakeClock:
    """Time stands still until `advance()`; sleepers wake when their time comes."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._fell_asleep = asyncio.Condition()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        async with self._fell_asleep:
            self._fell_asleep.notify_all()
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward and let every woken task run."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Until `count` tasks are asleep on this clock (waits up to 10 s)."""

        def asleep() -> int:
            return sum(not future.done() for _, _, future in self._sleepers)

        async with asyncio.timeout(10), self._fell_asleep:
            await self._fell_asleep.wait_for(lambda: asleep() >= count)


class RecordingView:
    """A StoryView that keeps every event, like a chat that shows everything."""

    def __init__(self) -> None:
        self.events: list[ev.StoryEvent] = []
        self._changed = asyncio.Condition()

    async def show(self, event: ev.StoryEvent) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(
        self, kind: type[E], where: Callable[[E], bool] = lambda e: True, count: int = 1
    ) -> E:
        """The `count`-th event of `kind` matching `where` (waits up to 10 s)."""

        def found() -> list[E]:
            return [e for e in self.of(kind) if where(e)]

        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count)
        return found()[count - 1]


class RecordingIllustrator:
    """An Illustrator port that takes jobs and never draws: for engine tests."""

    def __init__(self) -> None:
        self.jobs: list[PictureJob] = []
        self.cancelled: list[int] = []
        self.forgotten: list[SubmittedPrompt] = []

    @property
    def draws(self) -> bool:
        return True

    async def enqueue(self, job: PictureJob, reporter: PictureReporter) -> None:
        self.jobs.append(job)

    async def cancel_session(
        self, session_id: int, segment_ids: Collection[int] | None = None
    ) -> None:
        self.cancelled.append(session_id)

    async def forget(self, prompt: SubmittedPrompt) -> None:
        self.forgotten.append(prompt)


@contextlib.asynccontextmanager
async def ticking(clock: FakeClock, step: float = 0.05) -> AsyncIterator[None]:
    """Inside the block the fake clock runs on its own, `step` seconds a turn, while a
    test waits for real servers (paced edits come out; timers far away do not fire)."""

    async def run() -> None:
        while True:
            await clock.advance(step)
            await asyncio.sleep(0.002)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def no_escapes(caplog: pytest.LogCaptureFixture) -> None:
    """No platform error left as a task exception or a traceback."""
    gc.collect()  # unretrieved task exceptions are reported when the task is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    ours = ("adapters", "storycraft_bot", "asyncio")  # a library may log its own tracebacks
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(ours)]


class ScriptedNarrator:
    """A Narrator port that writes numbered parts at once, except the continuations of
    choices a test holds: those send half their text and wait until released."""

    def __init__(self) -> None:
        self.requests: list[SegmentRequest] = []
        self.held: dict[str, asyncio.Event] = {}
        self.halfway: dict[str, asyncio.Event] = {}
        self.rerolled: list[str] = []  # narrations whose choices were asked anew

    def hold(self, choice: str) -> asyncio.Event:
        """The continuation of `choice` stops halfway until the returned event is set."""
        self.halfway[choice] = asyncio.Event()
        return self.held.setdefault(choice, asyncio.Event())

    def written_after(self, choice: str) -> int:
        return sum(r.chosen == choice for r in self.requests)

    async def write_segment(
        self, request: SegmentRequest, on_text: Callable[[str], Awaitable[None]]
    ) -> SegmentDraft:
        self.requests.append(request)
        n = len(self.requests)
        narration = f"Part {n}, after {request.chosen or 'the start'}. The road goes on."
        gate = self.held.get(request.chosen)
        if gate is not None:
            await on_text(narration[:10])
            self.halfway[request.chosen].set()
            await gate.wait()
        await on_text(narration)
        choices = tuple(f"{n}{letter}" for letter in "abc")
        return SegmentDraft(narration, choices, f"scene {n}", "scripted")

    async def update_memory(
        self, language: Language, memory: StoryMemory, segments: Sequence[Segment]
    ) -> StoryMemory:
        return StoryMemory(f"{memory.summary} +{len(segments)}", segments[-1].index)

    async def new_choices(
        self, request: SegmentRequest, narration: str, old: Sequence[str]
    ) -> tuple[str, ...]:
        self.rerolled.append(narration)
        return tuple(f"new {len(self.rerolled)}{letter}" for letter in "abc"[: request.choices])


class ScriptedPromptWriter:
    """A PromptWriter port: the picture of a part is its narration's first words."""

    async def image_prompt(
        self,
        genre: str,
        segment: Segment,
        memory: StoryMemory,
        style: PictureStyle | None = None,
    ) -> ImagePrompt:
        words = f", {style.positive}" if style is not None else ""
        return ImagePrompt(f"picture: {segment.narration[:20]}{words}", "", ImageSource.MODEL)
