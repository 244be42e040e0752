"""The core's ports: what it needs from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

from storycraft_bot.core.arc import Arc
from storycraft_bot.core.events import StoryEvent
from storycraft_bot.core.lore import StoryCard
from storycraft_bot.core.models import (
    ImagePrompt,
    Language,
    Picture,
    PictureFailure,
    PictureJob,
    PictureStyle,
    Place,
    Rating,
    Segment,
    SegmentDraft,
    StoryMemory,
    SubmittedPrompt,
)


class StoryView(Protocol):
    """The adapter side: shows engine events to people."""

    async def show(self, event: StoryEvent) -> None:
        """Render one event; must not raise for platform errors (log them instead)."""
        ...


@dataclass(frozen=True, slots=True)
class SegmentRequest:
    """Everything the narrator needs to write the next segment."""

    language: Language
    genre: str
    premise: str
    words: int
    choices: int
    memory: StoryMemory
    recent: Sequence[Segment]  # last few segments, oldest first, each with its chosen choice
    chosen: str  # the choice that leads to this segment ("" for the opening)
    rating: Rating = Rating.SAFE
    #: Where the part stands in the story's arc (None: an endless story, as before).
    arc: Arc | None = None
    #: The character card the story was started from, told as story material.
    hero: StoryCard | None = None
    #: Lorebook entries whose keys appear in the recent story, told as world facts.
    lore: tuple[str, ...] = ()


class Narrator(Protocol):
    """Writes segments and keeps the story memory (Ollama in production)."""

    async def write_segment(
        self, request: SegmentRequest, on_text: Callable[[str], Awaitable[None]]
    ) -> SegmentDraft:
        """Write one segment; call `on_text` with the narration so far as it grows, and
        with "" when what it sent so far is discarded (the reply is asked again)."""
        ...

    async def update_memory(
        self, language: Language, memory: StoryMemory, segments: Sequence[Segment]
    ) -> StoryMemory:
        """Fold `segments` into the memory: summary plus characters' looks."""
        ...

    async def new_choices(
        self, request: SegmentRequest, narration: str, old: Sequence[str]
    ) -> tuple[str, ...]:
        """`request.choices` new choices for a part whose `narration` stays (issue 16):
        one small request; MalformedReply when none are usable."""
        ...


class PromptWriter(Protocol):
    """Turns a finished segment into an English image prompt."""

    async def image_prompt(
        self,
        genre: str,
        segment: Segment,
        memory: StoryMemory,
        style: PictureStyle | None = None,
    ) -> ImagePrompt:
        """Never raises: falls back to a rule-made prompt. It carries `style` (None: the
        genre's)."""
        ...


class PictureReporter(Protocol):
    """How an Illustrator tells the engine what became of a job."""

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        """The prompt goes to ComfyUI now: stored, so a restart waits for it again."""
        ...

    async def picture_queued(self, job: PictureJob, ahead: int) -> None: ...

    async def picture_progress(self, job: PictureJob, percent: int) -> None: ...

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None: ...

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        """`reason` is short and user-safe; an OUTAGE means the story goes on in text."""
        ...

    async def picture_dropped(self, job: PictureJob) -> None:
        """The job was replaced by a newer one, or cancelled, before it finished."""
        ...


class Illustrator(Protocol):
    """Draws pictures (ComfyUI in production) and reports through a PictureReporter."""

    @property
    def draws(self) -> bool:
        """False when no pictures can ever come (then no image prompt is written)."""
        ...

    async def enqueue(self, job: PictureJob, reporter: PictureReporter) -> None:
        """Queue the picture for a segment, replacing the session's older pending one."""
        ...

    async def cancel_session(
        self, session_id: int, segment_ids: Collection[int] | None = None
    ) -> None:
        """Drop the session's pending pictures and interrupt its running ones: all of
        them, or only those of `segment_ids` (what a redraw, retry or undo supersedes)."""
        ...

    async def forget(self, prompt: SubmittedPrompt) -> None:
        """Make sure a prompt submitted before a restart, which no part wants any more,
        is not drawn: deleted from its server's queue, or interrupted."""
        ...


class NullIllustrator:
    """An Illustrator that draws nothing: pictures off, or no ComfyUI configured."""

    @property
    def draws(self) -> bool:
        return False

    async def enqueue(self, job: PictureJob, reporter: PictureReporter) -> None:
        return None

    async def cancel_session(
        self, session_id: int, segment_ids: Collection[int] | None = None
    ) -> None:
        return None

    async def forget(self, prompt: SubmittedPrompt) -> None:
        return None


class GpuGate(Protocol):
    """How the engine takes its turn on the GPU for text."""

    def text_turn(
        self, place: Place, session_id: int, job_id: str
    ) -> AbstractAsyncContextManager[object]:
        """Hold the GPU for one text request."""
        ...


class SeparateGpus:
    """Text and pictures on different cards: text never waits."""

    def text_turn(
        self, place: Place, session_id: int, job_id: str
    ) -> AbstractAsyncContextManager[object]:
        return nullcontext()


class TextKind(IntEnum):
    """What a text request is for; a lower value is served first when the narrator is busy.

    The memory goes before image prompts because the next story part waits for it.
    Prewriting (a part written in advance, issue 14) goes last: it only fills idle slots
    and gives its slot up when anything else waits."""

    STORY = 0
    MEMORY = 1
    IMAGE_PROMPT = 2
    PREWRITE = 3


@runtime_checkable
class Promotable(Protocol):
    """A prewrite's slot that a gate may take back; `promote()` makes it a real turn's
    (a player joined the draft), which is never taken back. `taken_back`: the gate
    cancelled its task to free the slot (the draft may be tried again later)."""

    taken_back: bool

    def promote(self) -> None: ...


#: Told how many requests are ahead when a request has to wait for the narrator.
OnQueued = Callable[[int], Awaitable[None]]


class NarratorGate(Protocol):
    """How the engine takes its turn on the narrator's capacity (Ollama's parallel slots)."""

    def turn(
        self, place: Place, kind: TextKind, on_queued: OnQueued | None = None
    ) -> AbstractAsyncContextManager[object]:
        """Hold one of the narrator's slots for one request; waiting here is not failing."""
        ...


class UnlimitedNarrator:
    """A narrator with room for everyone: nothing waits (tests, the console default)."""

    def turn(
        self, place: Place, kind: TextKind, on_queued: OnQueued | None = None
    ) -> AbstractAsyncContextManager[object]:
        return nullcontext()
