"""The writing pipeline: one segment from request to stored text, then its picture.

Each call runs as a background task of its session (see `supervision`); a segment that was
superseded while it was being written is dropped quietly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.engine_config import EngineConfig
from storycraft_bot.core.errors import (
    MalformedReply,
    ModelNotInstalled,
    NarratorError,
    NarratorTimeout,
    NarratorUnavailable,
)
from storycraft_bot.core.models import (
    ImagePrompt,
    ImageState,
    PictureJob,
    Segment,
    SegmentState,
    Session,
    StoryMemory,
)
from storycraft_bot.core.ports import (
    GpuGate,
    Illustrator,
    Narrator,
    NarratorGate,
    PictureReporter,
    PromptWriter,
    SegmentRequest,
    TextKind,
    UnlimitedNarrator,
)
from storycraft_bot.core.rating import RATING_NEGATIVE, merge_negative
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

_REASONS: dict[type[NarratorError], Msg] = {
    ModelNotInstalled: Msg.MODEL_NOT_INSTALLED,
    NarratorTimeout: Msg.NARRATOR_TIMEOUT,
    MalformedReply: Msg.MALFORMED_REPLY,
    NarratorUnavailable: Msg.NARRATOR_UNAVAILABLE,
}
#: Failures that end when the narrator answers again: the part is tried again by itself.
_OUTAGES = (NarratorUnavailable, NarratorTimeout)

OnOutage = Callable[[Session, Segment], None]


class Writer:
    """Writes segments with the narrator and hands their pictures to the illustrator."""

    def __init__(
        self,
        store: StoryStore,
        narrator: Narrator,
        prompt_writer: PromptWriter,
        illustrator: Illustrator,
        gpu: GpuGate,
        clock: Clock,
        config: EngineConfig,
        announce: Announcer,
        reports: PictureReporter,
        on_outage: OnOutage | None = None,
        narration: NarratorGate | None = None,
    ) -> None:
        self._store = store
        self._narrator = narrator
        self._prompts = prompt_writer
        self._illustrator = illustrator
        self._gpu = gpu
        self._clock = clock
        self._config = config
        self._announce = announce
        self._reports = reports
        self._on_outage = on_outage
        self._narration = narration or UnlimitedNarrator()

    async def write(
        self,
        session: Session,
        segment: Segment,
        *,
        after_outage: bool = False,
        resumed: bool = False,
    ) -> None:
        """Write one segment, then prepare its picture. `after_outage`: an automatic try
        after the narrator was unreachable; its first words tell players it is back.
        `resumed`: it rewrites a part cut off by a restart (see SegmentStarted)."""
        key = session.place.key
        await self._announce(
            ev.SegmentStarted(
                key,
                session.id,
                session.language,
                segment.id,
                segment.index,
                session.place.is_group,
                resumed,
            )
        )
        throttle = Throttle(self._clock, self._config.narration_interval)
        untold = after_outage

        async def on_text(text: str) -> None:
            nonlocal untold
            if untold:
                untold = False
                await self._announce(
                    ev.Notice(key, session.id, session.language, Msg.NARRATOR_BACK)
                )
            if not text:  # the narrator discarded what it sent: say so at once, unthrottled
                await self._announce(
                    ev.NarrationGrew(
                        key, session.id, session.language, segment.id, "", restarted=True
                    )
                )
            elif throttle.ready():
                await self._announce(
                    ev.NarrationGrew(key, session.id, session.language, segment.id, text)
                )

        async def on_queued(ahead: int) -> None:
            params = (("ahead", str(ahead)),)
            await self._announce(
                ev.Notice(key, session.id, session.language, Msg.NARRATOR_BUSY, params)
            )

        try:
            request = await self._segment_request(session, segment)
            async with (
                self._narration.turn(session.place, TextKind.STORY, on_queued),
                self._gpu.text_turn(session.place, session.id, f"text-{segment.id}"),
            ):
                draft = await self._narrator.write_segment(request, on_text)
        except NarratorError as err:
            reason = next(
                (code for cls, code in _REASONS.items() if isinstance(err, cls)),
                Msg.NARRATOR_UNAVAILABLE,
            )
            log.warning("story %d: segment %d failed: %s", session.id, segment.index, err)
            await self._fail(session, segment, reason)
            if isinstance(err, _OUTAGES):
                await self._retry_later(session, segment)
            return
        except Exception:
            log.exception("story %d: segment %d failed unexpectedly", session.id, segment.index)
            await self._fail(session, segment, Msg.INTERNAL_ERROR)
            return
        finished = await self._store.finish_segment(segment.id, draft, self._clock.now())
        if finished.state is not SegmentState.OPEN:
            return  # superseded by retry, undo or stop while it was being written
        log.info(
            "story %d: segment %d written by %s (%d chars, %d choices)",
            session.id,
            finished.index,
            draft.model,
            len(draft.narration),
            len(draft.choices),
        )
        await self._announce(
            ev.SegmentFinished(key, session.id, session.language, finished, session.place.is_group)
        )
        if session.settings.pictures and self._illustrator.draws:
            await self.illustrate(session, finished)
        else:
            await self._store.set_image_state(finished.id, ImageState.OFF)

    async def illustrate(
        self,
        session: Session,
        segment: Segment,
        *,
        reuse_prompt: bool = False,
        backlog: bool = False,
    ) -> None:
        """Write the segment's image prompt (or reuse the stored one) and queue the picture."""
        if reuse_prompt and segment.image_prompt and segment.image_prompt_source is not None:
            prompt = ImagePrompt(
                segment.image_prompt, segment.image_negative, segment.image_prompt_source
            )
        else:
            memory = await self._store.memory(session.id)
            async with (
                self._narration.turn(session.place, TextKind.IMAGE_PROMPT),
                self._gpu.text_turn(session.place, session.id, f"prompt-{segment.id}"),
            ):
                prompt = await self._prompts.image_prompt(session.genre, segment, memory)
            await self._store.set_image_prompt(
                segment.id, prompt.positive, prompt.negative, prompt.source
            )
        await self._store.set_image_state(segment.id, ImageState.QUEUED)
        # The rating's negative is added here, not stored: a changed rating applies to redraws.
        rated = replace(
            prompt,
            negative=merge_negative(prompt.negative, RATING_NEGATIVE[session.settings.rating]),
        )
        job = PictureJob(
            session.id, segment.id, session.place, rated, session.settings.workflow, backlog
        )
        await self._illustrator.enqueue(job, self._reports)

    async def recover_pictures(self, session: Session, segments: list[Segment]) -> None:
        """After a restart: every written segment whose picture was asked for (queued or
        drawing) or never asked for (the restart came first) gets it, newest first, behind
        live pictures. Its stored image prompt is reused, or written again if missing."""
        drawing = session.settings.pictures and self._illustrator.draws
        missing = [
            s
            for s in segments
            if s.state in (SegmentState.OPEN, SegmentState.DECIDED)
            and s.image_state in (ImageState.NONE, ImageState.QUEUED, ImageState.DRAWING)
        ]
        for segment in sorted(missing, key=lambda s: s.index, reverse=True):
            if not drawing:
                # Nothing will draw it: settle the row, the picture can be redrawn later.
                await self._store.set_image_state(segment.id, ImageState.NONE)
                continue
            fresh = await self._store.get_segment(segment.id)
            if fresh is None or fresh.state not in (SegmentState.OPEN, SegmentState.DECIDED):
                continue  # undone or rewritten meanwhile
            log.info("story %d: picture of segment %d recovered", session.id, segment.index)
            await self.illustrate(session, fresh, reuse_prompt=True, backlog=True)

    async def _retry_later(self, session: Session, segment: Segment) -> None:
        """Plan the next automatic try (a few, each twice as late), stored for restarts."""
        if segment.auto_retries >= self._config.outage_retries or self._on_outage is None:
            return
        delay = self._config.outage_retry_delay * 2**segment.auto_retries
        due = self._clock.now() + delay
        await self._store.set_auto_retry(segment.id, segment.auto_retries, due)
        log.info("story %d: segment %d tried again in %.0fs", session.id, segment.index, delay)
        self._on_outage(session, replace(segment, auto_retry_at=due))

    async def _fail(self, session: Session, segment: Segment, reason: Msg) -> None:
        await self._store.fail_segment(segment.id, self._clock.now())
        await self._announce(
            ev.SegmentFailed(session.place.key, session.id, session.language, segment.id, reason)
        )

    async def _segment_request(self, session: Session, segment: Segment) -> SegmentRequest:
        earlier = [
            s for s in await self._store.live_segments(session.id) if s.index < segment.index
        ]
        memory = await self._refresh_memory(session, earlier, f"memory-{segment.id}")
        # Everything the summary does not cover yet goes verbatim, at least the last few.
        unsummarised = [s for s in earlier if s.index > memory.summary_upto]
        keep = max(self._config.recent_segments, len(unsummarised))
        return SegmentRequest(
            language=session.language,
            genre=session.genre,
            premise=session.premise,
            words=session.settings.segment_words,
            choices=session.settings.choices,
            memory=memory,
            recent=earlier[-keep:],
            chosen=segment.prompt_choice,
            rating=session.settings.rating,
        )

    async def _refresh_memory(
        self, session: Session, earlier: list[Segment], job_id: str
    ) -> StoryMemory:
        """Fold old segments into the summary every `memory_every` segments."""
        memory = await self._store.memory(session.id)
        cutoff = len(earlier) - self._config.recent_segments
        due = [s for s in earlier[: max(cutoff, 0)] if s.index > memory.summary_upto]
        if len(due) < self._config.memory_every:
            return memory
        try:
            async with (
                self._narration.turn(session.place, TextKind.MEMORY),
                self._gpu.text_turn(session.place, session.id, job_id),
            ):
                updated = await self._narrator.update_memory(session.language, memory, due)
        except NarratorError as err:
            log.warning("story %d: memory not refreshed (%s); keeping the old one", session.id, err)
            return memory
        await self._store.save_memory(session.id, updated, self._clock.now())
        log.info("story %d: memory refreshed up to segment %d", session.id, updated.summary_upto)
        return updated
