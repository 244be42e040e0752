"""The writing pipeline: one segment from request to stored text, then its picture.

Each call runs as a background task of its session (see `supervision`); a segment that was
superseded while it was being written is dropped quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.arc import arc_after, asked_choices
from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.coordination import Coordination, LocalCoordination
from storycraft_bot.core.endings import end_story, shaped
from storycraft_bot.core.engine_config import EngineConfig
from storycraft_bot.core.errors import (
    MalformedReply,
    ModelNotInstalled,
    NarratorError,
    NarratorTimeout,
    NarratorUnavailable,
)
from storycraft_bot.core.faces import picture_looks
from storycraft_bot.core.leases import SegmentLeases
from storycraft_bot.core.lore import LoreEntry, StoryCard, chosen_lore
from storycraft_bot.core.models import (
    Draft,
    ImagePrompt,
    ImageState,
    PictureJob,
    Segment,
    SegmentState,
    Session,
    StoryMemory,
)
from storycraft_bot.core.picture_leases import PictureLeases
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
from storycraft_bot.core.prewriting import DraftUse, LiveDraft, Prewriter, request_basis
from storycraft_bot.core.rating import RATING_NEGATIVE, merge_negative
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.styles import apply_style, wants_picture
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RequestSources:
    """What a request is written from besides the parts: memory, lorebook, card."""

    memory: StoryMemory
    lore: tuple[LoreEntry, ...]
    hero: StoryCard | None


_REASONS: dict[type[NarratorError], Msg] = {
    ModelNotInstalled: Msg.MODEL_NOT_INSTALLED,
    NarratorTimeout: Msg.NARRATOR_TIMEOUT,
    MalformedReply: Msg.MALFORMED_REPLY,
    NarratorUnavailable: Msg.NARRATOR_UNAVAILABLE,
}
#: Failures that end when the narrator answers again: the part is tried again by itself.
_OUTAGES = (NarratorUnavailable, NarratorTimeout)

OnOutage = Callable[[Session, Segment], None]
OnOpen = Callable[[Session, Segment], Awaitable[Segment]]


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
        coordination: Coordination | None = None,
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
        self._leases = SegmentLeases(coordination or LocalCoordination(), clock)
        self._pictures = PictureLeases(coordination or LocalCoordination(), clock, illustrator)
        self._picture_reports = self._pictures.reporting(reports)
        self._prewriter: Prewriter | None = None
        self._on_open: OnOpen | None = None

    def attach(self, prewriter: Prewriter) -> None:
        """Turns use (and drop) the drafts this prewriter wrote in advance."""
        self._prewriter = prewriter

    def on_open(self, opened: OnOpen) -> None:
        """Told of every part that opens for a choice (a group vote's first window)."""
        self._on_open = opened

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
        `resumed`: it rewrites a part cut off by a restart (see SegmentStarted). Only
        under the segment's lease: another process sharing the store may hold it."""
        async with self._leases.writing(segment.id) as held:
            if held:
                await self._write(session, segment, after_outage=after_outage, resumed=resumed)

    async def _write(
        self, session: Session, segment: Segment, *, after_outage: bool, resumed: bool
    ) -> None:
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

        prewritten: Draft | None = None
        try:
            request = await self._segment_request(session, segment)
            prewritten = await self._prewritten(session, segment, request, on_text)
            if prewritten is not None:
                draft = prewritten.text
            else:
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
        draft = shaped(draft, request.arc, session, segment.index)
        written = self._store.finish_segment(segment.id, draft, self._clock.now())
        if self._prewriter is None:
            finished = await written
        else:  # at once: nothing drafted for this part is needed any more
            finished, _ = await asyncio.gather(written, self._prewriter.settle(session.id))
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
        ending = request.arc is not None and request.arc.ending
        if not ending and self._on_open is not None:
            finished = await self._on_open(session, finished)
        # An ending offers nothing to choose, so nothing to type either.
        is_group, own = session.place.is_group, session.settings.own_actions and not ending
        await self._announce(
            ev.SegmentFinished(key, session.id, session.language, finished, is_group, own)
        )
        if ending:
            await end_story(self._store, self._announce, session, finished, self._clock.now())
        if self._illustrator.draws and wants_picture(
            session.settings, finished.index, draft.new_scene
        ):
            prompt = prewritten.prompt if prewritten is not None else None
            if prompt is not None:  # written with the draft: the picture is queued at once
                await self._store.set_image_prompt(
                    finished.id, prompt.positive, prompt.negative, prompt.source
                )
                finished = replace(
                    finished,
                    image_prompt=prompt.positive,
                    image_negative=prompt.negative,
                    image_prompt_source=prompt.source,
                )
            await self.illustrate(
                session, finished, reuse_prompt=prompt is not None, memory=request.memory
            )
        else:
            await self._store.set_image_state(finished.id, ImageState.OFF)
        if self._prewriter is not None:
            self._prewriter.plan(session, finished)

    async def _prewritten(
        self,
        session: Session,
        segment: Segment,
        request: SegmentRequest,
        on_text: Callable[[str], Awaitable[None]],
    ) -> Draft | None:
        """The part's draft, if one was written from this very request: a finished one
        at once, one still being written joined where it is (its text so far shown at
        once, the rest as it comes). None: write it as usual."""
        if self._prewriter is None or segment.index == 0:
            return None  # the opening follows no choice
        finished, live = await self._prewriter.claim(session, segment)
        basis = request_basis(request)
        if finished is not None and finished.basis == basis:
            self._prewriter.count(DraftUse.HIT)
            return finished
        if live is not None and live.basis == basis:
            joined = await self._join(session, segment, live, on_text)
            if joined is not None:
                self._prewriter.count(DraftUse.PARTIAL)
                return joined
        self._prewriter.count(DraftUse.MISS)
        return None

    async def _join(
        self,
        session: Session,
        segment: Segment,
        live: LiveDraft,
        on_text: Callable[[str], Awaitable[None]],
    ) -> Draft | None:
        """Follow a draft underway; None if it ended without a text (its screens are told
        to start over, as when the narrator discards what it sent)."""
        live.join(on_text)
        if live.text:
            await self._announce(
                ev.NarrationGrew(
                    session.place.key, session.id, session.language, segment.id, live.text
                )
            )
        joined = await live.done
        if joined is None and live.text:
            await on_text("")
        return joined

    async def illustrate(
        self,
        session: Session,
        segment: Segment,
        *,
        reuse_prompt: bool = False,
        backlog: bool = False,
        memory: StoryMemory | None = None,
    ) -> None:
        """Write the segment's image prompt (or reuse the stored one) and queue the picture
        in the story's style, with the seed and portrait of the character it shows
        (`memory`: the one the part was written with, else the stored one). Only
        under the picture's claim: a backlog picture another live process draws is left
        to it; a new one (or a redraw) decided here takes the claim over."""
        if not await self._pictures.hold(session.id, segment.id, take=not backlog):
            return
        try:
            queued = await self._illustrate(session, segment, reuse_prompt, backlog, memory)
        except BaseException:
            await self._pictures.release(segment.id)
            raise
        if not queued:
            await self._pictures.release(segment.id)

    async def _illustrate(
        self,
        session: Session,
        segment: Segment,
        reuse_prompt: bool,
        backlog: bool,
        memory: StoryMemory | None,
    ) -> bool:
        style = self._config.styles.for_story(session.genre, session.settings)
        if memory is None:
            memory = await self._store.memory(session.id)
        fresh: ImagePrompt | None = None  # written now: stored with the queued state
        if reuse_prompt and segment.image_prompt and segment.image_prompt_source is not None:
            prompt = ImagePrompt(
                segment.image_prompt, segment.image_negative, segment.image_prompt_source
            )
        else:
            async with (
                self._narration.turn(session.place, TextKind.IMAGE_PROMPT),
                self._gpu.text_turn(session.place, session.id, f"prompt-{segment.id}"),
            ):
                written = await self._prompts.image_prompt(session.genre, segment, memory, style)
            prompt = fresh = apply_style(written, style)
        await self._store.queue_picture(segment.id, fresh)
        if backlog and not await self._counts(segment.id):
            return False  # retried or undone while its prompt was written: no picture
        # The rating's negative is added here, not stored: a changed rating applies to redraws.
        # A prompt written before the story's style changed is drawn in the new one.
        styled = apply_style(prompt, style)
        rated = replace(
            styled,
            negative=merge_negative(styled.negative, RATING_NEGATIVE[session.settings.rating]),
        )
        looks = await picture_looks(
            self._store, session.id, segment, memory, style, self._clock.now()
        )
        job = PictureJob(
            session.id,
            segment.id,
            session.place,
            rated,
            style.workflow or session.settings.workflow,
            backlog,
            # A recovered picture waits for the prompt submitted before the restart.
            segment.submitted if backlog else None,
            looks,
            language=session.language,
        )
        await self._illustrator.enqueue(job, self._picture_reports)
        return True

    async def _counts(self, segment_id: int) -> bool:
        """The segment is still one of the story's parts (not retried or undone)."""
        fresh = await self._store.get_segment(segment_id)
        return fresh is not None and fresh.state in (SegmentState.OPEN, SegmentState.DECIDED)

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
        # Every read at once: under load each trip waits its turn at the database, and
        # these stand between the press and the narrator.
        segments, sources = await asyncio.gather(
            self._store.live_segments(session.id), self._read_sources(session.id)
        )
        earlier = [s for s in segments if s.index < segment.index]
        return await self.request_for(
            session,
            earlier,
            segment.prompt_choice,
            f"memory-{segment.id}",
            TextKind.MEMORY,
            sources,
        )

    async def _read_sources(self, session_id: int) -> RequestSources:
        memory, lore, hero = await asyncio.gather(
            self._store.memory(session_id),
            self._store.lore(session_id),
            self._store.story_card(session_id),
        )
        return RequestSources(memory, lore, hero)

    async def request_for(
        self,
        session: Session,
        earlier: Sequence[Segment],
        chosen: str,
        job_id: str,
        memory_kind: TextKind,
        sources: RequestSources | None = None,
    ) -> SegmentRequest:
        """The request of the turn after `earlier` for `chosen`: the real turn's, and the
        very same for a draft written in advance (its memory refresh at `memory_kind`);
        `sources` when they were read already."""
        if sources is None:
            sources = await self._read_sources(session.id)
        memory = await self._refresh_memory(
            session, sources.memory, list(earlier), job_id, memory_kind
        )
        # Everything the summary does not cover yet goes verbatim, at least the last few.
        unsummarised = [s for s in earlier if s.index > memory.summary_upto]
        keep = max(self._config.recent_segments, len(unsummarised))
        length = session.settings.length
        recent = earlier[-keep:]
        entries = sources.lore
        scanned = [*(s.narration for s in recent), chosen, session.premise]
        return SegmentRequest(
            language=session.language,
            genre=session.genre,
            premise=session.premise,
            words=session.settings.segment_words,
            choices=asked_choices(length, len(earlier), session.settings.choices),
            memory=memory,
            recent=recent,
            chosen=chosen,
            rating=session.settings.rating,
            arc=arc_after(length, earlier),
            hero=sources.hero,
            lore=chosen_lore(entries, scanned) if entries else (),
        )

    async def _refresh_memory(
        self,
        session: Session,
        memory: StoryMemory,
        earlier: list[Segment],
        job_id: str,
        kind: TextKind,
    ) -> StoryMemory:
        """Fold old segments into the stored `memory` every `memory_every` segments."""
        cutoff = len(earlier) - self._config.recent_segments
        due = [s for s in earlier[: max(cutoff, 0)] if s.index > memory.summary_upto]
        if len(due) < self._config.memory_every:
            return memory
        try:
            async with (
                self._narration.turn(session.place, kind),
                self._gpu.text_turn(session.place, session.id, job_id),
            ):
                updated = await self._narrator.update_memory(session.language, memory, due)
        except NarratorError as err:
            log.warning("story %d: memory not refreshed (%s); keeping the old one", session.id, err)
            return memory
        await self._store.save_memory(session.id, updated, self._clock.now())
        log.info("story %d: memory refreshed up to segment %d", session.id, updated.summary_upto)
        return updated
