"""The story engine: the one API every adapter uses.

It keeps one story per channel, serialises everything that happens in a channel with a
per-channel lock, commits each change before telling the adapters, and runs the slow
work (writing a segment, preparing its picture) as background tasks it can cancel.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import weakref
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.errors import (
    MalformedReply,
    ModelNotInstalled,
    NarratorError,
    NarratorTimeout,
    NarratorUnavailable,
    StoryActionError,
)
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    DecidedBy,
    GuildDefaults,
    ImagePrompt,
    ImageState,
    Language,
    Picture,
    PictureJob,
    Place,
    Platform,
    Segment,
    SegmentState,
    Session,
    SessionState,
    StatusReport,
    StoryMemory,
    StorySettings,
    VoteTally,
)
from storycraft_bot.core.ports import (
    GpuGate,
    Illustrator,
    Narrator,
    PromptWriter,
    SegmentRequest,
    SeparateGpus,
    StoryView,
)
from storycraft_bot.core.store import StoryStore, VoteOutcome
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.voting import pick_winner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Defaults for new stories and how the engine paces itself."""

    language: Language = Language.RU
    genre: str = "fantasy"
    story: StorySettings = field(default_factory=StorySettings)
    recent_segments: int = 3
    memory_every: int = 4
    narration_interval: float = 1.0


class PressKind(enum.StrEnum):
    """What a press on a choice did."""

    DECIDED = "decided"
    VOTE_COUNTED = "vote_counted"
    VOTE_CHANGED = "vote_changed"
    VOTE_SAME = "vote_same"


@dataclass(frozen=True, slots=True)
class PressOutcome:
    """The answer to a press, for the adapter's instant reply to the presser."""

    kind: PressKind
    choice_text: str
    tally: VoteTally | None = None


_REASONS: dict[type[NarratorError], Msg] = {
    ModelNotInstalled: Msg.MODEL_NOT_INSTALLED,
    NarratorTimeout: Msg.NARRATOR_TIMEOUT,
    MalformedReply: Msg.MALFORMED_REPLY,
    NarratorUnavailable: Msg.NARRATOR_UNAVAILABLE,
}


class StoryEngine:
    """Starts, continues, votes on, rewinds and stops stories."""

    def __init__(
        self,
        store: StoryStore,
        narrator: Narrator,
        prompt_writer: PromptWriter,
        illustrator: Illustrator,
        view: StoryView,
        clock: Clock,
        config: EngineConfig,
        rng: random.Random | None = None,
        gpu: GpuGate | None = None,
    ) -> None:
        self._store = store
        self._narrator = narrator
        self._prompts = prompt_writer
        self._illustrator = illustrator
        self._view = view
        self._clock = clock
        self._config = config
        self._rng = rng or random.Random()
        self._gpu = gpu or SeparateGpus()
        self._outage_told: set[int] = set()  # sessions told "pictures are off" this outage
        self._locks: weakref.WeakValueDictionary[ChannelKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._work: dict[int, set[asyncio.Task[None]]] = {}  # per session: writing, pictures
        self._vote_timers: dict[int, asyncio.Task[None]] = {}  # per segment

    @property
    def config(self) -> EngineConfig:
        return self._config

    # Commands

    async def start(
        self,
        place: Place,
        starter: Actor,
        *,
        premise: str = "",
        genre: str | None = None,
        language: Language | None = None,
    ) -> Session:
        """Open a story in the channel and start writing its first segment."""
        async with self._lock(place.key):
            if await self._store.live_session(place.key) is not None:
                raise StoryActionError(Msg.STORY_EXISTS)
            now = self._clock.now()
            session = await self._store.create_session(
                place,
                starter,
                language or self._config.language,
                (genre or self._config.genre).strip()[:60],
                premise.strip()[:1000],
                await self._new_story_settings(place),
                now,
            )
            segment = await self._store.add_segment(session.id, 0, "", now)
            log.info("story %d started in %s by %s", session.id, place.key, starter.user_id)
            self._spawn(session.id, self._write(session, segment))
            return session

    async def press(
        self, place: Place, actor: Actor, segment_id: int, choice_index: int
    ) -> PressOutcome:
        """A press on a choice: decides at once in private, counts as a vote in a group."""
        async with self._lock(place.key):
            session = await self._store.live_session(place.key)
            segment = await self._store.get_segment(segment_id)
            if (
                session is None
                or session.state is not SessionState.ACTIVE
                or segment is None
                or segment.session_id != session.id
                or segment.state is not SegmentState.OPEN
                or not 0 <= choice_index < len(segment.choices)
            ):
                raise StoryActionError(Msg.CHOICE_CLOSED)
            choice = segment.choices[choice_index]
            if not session.place.is_group:
                await self._decide(session, segment, choice_index, DecidedBy.PRESS, votes=1)
                return PressOutcome(PressKind.DECIDED, choice)
            now = self._clock.now()
            result = await self._store.cast_vote(segment.id, actor, choice_index, now)
            if segment.vote_closes_at is None:
                closes_at = now + session.settings.vote_window_seconds
                await self._store.set_vote_deadline(segment.id, closes_at)
                segment = replace(segment, vote_closes_at=closes_at)
                self._schedule_vote_end(session, segment)
            tally = await self._store.tally(segment)
            if result != VoteOutcome.SAME:
                await self._emit(ev.VotesChanged(place.key, session.id, session.language, tally))
            kind = {
                VoteOutcome.NEW: PressKind.VOTE_COUNTED,
                VoteOutcome.CHANGED: PressKind.VOTE_CHANGED,
                VoteOutcome.SAME: PressKind.VOTE_SAME,
            }[result]
            return PressOutcome(kind, choice, tally)

    async def close_vote(self, place: Place, actor: Actor) -> None:
        """The starter (or a moderator) ends the group vote now."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            self._require_manager(session, actor)
            segment = await self._store.current_segment(session.id)
            if segment is None or segment.state is not SegmentState.OPEN:
                raise StoryActionError(Msg.CHOICE_CLOSED)
            if (await self._store.tally(segment)).voters == 0:
                raise StoryActionError(Msg.NO_VOTES_YET)
            await self._finish_vote(session, segment, closed_early=True)

    async def has_story(self, place: Place) -> bool:
        """Whether the channel has a live (active or paused) story."""
        return await self._store.live_session(place.key) is not None

    async def stop(self, place: Place, actor: Actor) -> Session:
        """End the story: cancel its work, keep everything it wrote."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            self._require_manager(session, actor)
            await self._halt(session)
            await self._store.set_session_state(session.id, SessionState.STOPPED, self._clock.now())
            log.info("story %d stopped by %s", session.id, actor.user_id)
            newest = await self._store.current_segment(session.id)
            await self._emit(
                ev.StoryStopped(
                    place.key, session.id, session.language, newest.id if newest else None
                )
            )
            return session

    async def pause(self, place: Place) -> None:
        """Pause the channel's story (the bot lost access); `resume_channel` undoes it."""
        async with self._lock(place.key):
            session = await self._store.live_session(place.key)
            if session is None or session.state is not SessionState.ACTIVE:
                return
            await self._halt(session)
            await self._store.set_session_state(session.id, SessionState.PAUSED, self._clock.now())
            log.info("story %d paused", session.id)

    async def status(self, place: Place) -> StatusReport:
        """The channel's story, its current segment and votes."""
        session = await self._require_session(place)
        segments = await self._store.live_segments(session.id)
        current = segments[-1] if segments else None
        tally = None
        if current is not None and current.state is SegmentState.OPEN and session.place.is_group:
            tally = await self._store.tally(current)
        memory = await self._store.memory(session.id)
        return StatusReport(session, len(segments), current, tally, memory)

    async def retry(self, place: Place, actor: Actor) -> None:
        """Write the newest segment again (the starter or a moderator; anyone after a failure)."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            current = await self._store.current_segment(session.id)
            if current is None:
                raise StoryActionError(Msg.NO_STORY)
            if current.state is not SegmentState.FAILED:
                self._require_manager(session, actor)
            await self._halt(session)
            if session.state is SessionState.PAUSED:
                session = await self._reactivate(session)
            segment = await self._store.replace_segment(current, self._clock.now())
            log.info(
                "story %d: segment %d rewritten by %s", session.id, segment.index, actor.user_id
            )
            await self._emit(
                ev.SegmentSuperseded(
                    place.key, session.id, session.language, current.id, ev.Superseded.RETRIED
                )
            )
            self._spawn(session.id, self._write(session, segment))

    async def undo(self, place: Place, actor: Actor) -> Segment:
        """Go back one choice: the newest segment is dropped, the one before reopens."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            self._require_manager(session, actor)
            segments = await self._store.live_segments(session.id)
            if len(segments) < 2:
                raise StoryActionError(Msg.NOTHING_TO_UNDO)
            await self._halt(session)
            if session.state is SessionState.PAUSED:
                session = await self._reactivate(session)
            previous = await self._store.step_back(segments[-1], segments[-2], self._clock.now())
            await self._emit(
                ev.SegmentSuperseded(
                    place.key, session.id, session.language, segments[-1].id, ev.Superseded.UNDONE
                )
            )
            log.info(
                "story %d: undo to segment %d by %s", session.id, previous.index, actor.user_id
            )
            await self._emit(ev.Notice(place.key, session.id, session.language, Msg.UNDONE))
            await self._emit(
                ev.SegmentFinished(
                    place.key, session.id, session.language, previous, session.place.is_group
                )
            )
            return previous

    async def configure(
        self,
        place: Place,
        actor: Actor,
        *,
        vote_window_seconds: float | None = None,
        pictures: bool | None = None,
        workflow: str | None = None,
    ) -> StorySettings:
        """Change the story's settings (the starter or a moderator); None keeps a value."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            self._require_manager(session, actor)
            settings = _with_given(
                session.settings,
                vote_window_seconds=_window(vote_window_seconds),
                pictures=pictures,
                workflow=workflow,
            )
            await self._store.update_settings(session.id, settings, self._clock.now())
            return settings

    async def guild_defaults(self, place: Place) -> GuildDefaults:
        """The server's defaults for new stories."""
        return await self._store.guild_defaults(place.key.platform, place.guild_id)

    async def configure_guild(
        self,
        place: Place,
        actor: Actor,
        *,
        vote_window_seconds: float | None = None,
        pictures: bool | None = None,
        workflow: str | None = None,
        threads: bool | None = None,
    ) -> GuildDefaults:
        """Change the server's defaults for new stories (Manage Server); None keeps a value."""
        if not actor.can_manage_guild:
            raise StoryActionError(Msg.NOT_ALLOWED_GUILD)
        defaults = _with_given(
            await self.guild_defaults(place),
            vote_window_seconds=_window(vote_window_seconds),
            pictures=pictures,
            workflow=workflow,
            threads=threads,
        )
        await self._store.save_guild_defaults(
            place.key.platform, place.guild_id, defaults, self._clock.now()
        )
        log.info("guild %s defaults changed by %s: %s", place.guild_id, actor.user_id, defaults)
        return defaults

    async def redraw(self, place: Place, actor: Actor) -> Segment:
        """A new picture (new seed) for the newest segment. After a failed picture anyone
        may ask; otherwise the starter or a moderator."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            if not session.settings.pictures or not self._illustrator.draws:
                raise StoryActionError(Msg.PICTURES_DISABLED)
            segments = await self._store.live_segments(session.id)
            drawable = [s for s in segments if s.state in (SegmentState.OPEN, SegmentState.DECIDED)]
            if not drawable:
                raise StoryActionError(Msg.BUSY_GENERATING)
            segment = drawable[-1]
            if segment.image_state is not ImageState.FAILED:
                self._require_manager(session, actor)
            await self._illustrator.cancel_session(session.id)
            log.info(
                "story %d: redraw of segment %d by %s", session.id, segment.index, actor.user_id
            )
            self._spawn(session.id, self._illustrate(session, segment, reuse_prompt=True))
            return segment

    async def resume(self, platforms: Collection[Platform] | None = None) -> int:
        """After a restart: continue every active story (of these platforms) where it
        was. Returns how many."""
        sessions = [
            s
            for s in await self._store.active_sessions()
            if platforms is None or s.place.key.platform in platforms
        ]
        for session in sessions:
            async with self._lock(session.place.key):
                current = await self._store.current_segment(session.id)
                if current is None:
                    current = await self._store.add_segment(session.id, 0, "", self._clock.now())
                if current.state is SegmentState.GENERATING:
                    log.info(
                        "story %d: rewriting segment %d cut off by the restart",
                        session.id,
                        current.index,
                    )
                    segment = await self._store.replace_segment(current, self._clock.now())
                    self._spawn(session.id, self._write(session, segment))
                elif current.state is SegmentState.OPEN:
                    if current.vote_closes_at is not None:
                        self._schedule_vote_end(session, current)
                    if (
                        current.image_state in (ImageState.QUEUED, ImageState.DRAWING)
                        and current.image_prompt
                    ):
                        self._spawn(session.id, self._illustrate(session, current))
        if sessions:
            log.info("resumed %d stories", len(sessions))
        return len(sessions)

    async def wait_idle(self) -> None:
        """Wait until no segment is being written or illustrated (votes may stay open)."""
        while True:
            pending = [t for tasks in self._work.values() for t in tasks if not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel all background work (the database keeps the state for `resume`)."""
        tasks = [t for tasks in self._work.values() for t in tasks]
        tasks += list(self._vote_timers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._work.clear()
        self._vote_timers.clear()

    # Picture reports (the PictureReporter port)

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        await self._picture_event(
            job,
            ImageState.QUEUED,
            lambda s: ev.PictureQueued(job.place.key, s.id, s.language, job.segment_id, ahead),
        )

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        percent = max(0, min(100, percent))
        await self._picture_event(
            job,
            ImageState.DRAWING,
            lambda s: ev.PictureProgress(job.place.key, s.id, s.language, job.segment_id, percent),
        )

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        await self._store.save_picture(job.segment_id, picture)
        self._outage_told.discard(job.session_id)  # pictures are back
        await self._picture_event(
            job,
            None,
            lambda s: ev.PictureReady(
                job.place.key, s.id, s.language, job.segment_id, picture.path
            ),
        )

    async def picture_failed(self, job: PictureJob, reason: str, *, outage: bool) -> None:
        if outage and job.session_id not in self._outage_told:
            self._outage_told.add(job.session_id)
            session = await self._store.get_session(job.session_id)
            if session is not None and session.state is SessionState.ACTIVE:
                await self._emit(
                    ev.Notice(job.place.key, session.id, session.language, Msg.PICTURES_OFF)
                )
        await self._picture_event(
            job,
            ImageState.FAILED,
            lambda s: ev.PictureFailed(
                job.place.key, s.id, s.language, job.segment_id, reason, outage
            ),
        )

    async def picture_dropped(self, job: PictureJob) -> None:
        segment = await self._store.get_segment(job.segment_id)
        if segment is not None and segment.image_state in (ImageState.QUEUED, ImageState.DRAWING):
            await self._store.set_image_state(job.segment_id, ImageState.NONE)
        session = await self._store.get_session(job.session_id)
        if session is not None:
            await self._emit(
                ev.PictureDropped(job.place.key, session.id, session.language, job.segment_id)
            )

    # Internals

    async def _new_story_settings(self, place: Place) -> StorySettings:
        defaults = await self.guild_defaults(place)
        return _with_given(
            self._config.story,
            vote_window_seconds=defaults.vote_window_seconds,
            pictures=defaults.pictures,
            workflow=defaults.workflow,
        )

    def _lock(self, key: ChannelKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def _require_session(self, place: Place) -> Session:
        session = await self._store.live_session(place.key)
        if session is None:
            raise StoryActionError(Msg.NO_STORY)
        return session

    @staticmethod
    def _require_manager(session: Session, actor: Actor) -> None:
        if actor.user_id != session.starter.user_id and not actor.can_moderate:
            raise StoryActionError(Msg.NOT_ALLOWED)

    async def _reactivate(self, session: Session) -> Session:
        await self._store.set_session_state(session.id, SessionState.ACTIVE, self._clock.now())
        return replace(session, state=SessionState.ACTIVE)

    async def _emit(self, event: ev.StoryEvent) -> None:
        try:
            await self._view.show(event)
        except Exception:
            # An adapter's failure must never lose the story's state (already committed).
            log.exception("adapter failed to show %s", type(event).__name__)

    def _spawn(self, session_id: int, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"story-{session_id}")
        tasks = self._work.setdefault(session_id, set())
        tasks.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            tasks.discard(done)
            if not tasks:
                self._work.pop(session_id, None)

        task.add_done_callback(forget)

    async def _halt(self, session: Session) -> None:
        """Cancel the session's background work, vote timers and pictures."""
        current = asyncio.current_task()
        tasks = [t for t in self._work.pop(session.id, set()) if t is not current]
        for segment in await self._store.live_segments(session.id):
            timer = self._vote_timers.pop(segment.id, None)
            if timer is not None and timer is not current:
                tasks.append(timer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._illustrator.cancel_session(session.id)

    async def _decide(
        self, session: Session, segment: Segment, choice_index: int, how: DecidedBy, votes: int
    ) -> None:
        """Commit the decision and the next segment, tell the adapters, start writing."""
        following = await self._store.decide(segment, choice_index, how, self._clock.now())
        if following is None:
            raise StoryActionError(Msg.CHOICE_CLOSED)
        timer = self._vote_timers.pop(segment.id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        log.info(
            "story %d: segment %d decided (%s) -> %r",
            session.id,
            segment.index,
            how.value,
            segment.choices[choice_index],
        )
        await self._emit(
            ev.ChoiceDecided(
                session.place.key,
                session.id,
                session.language,
                segment.id,
                choice_index,
                segment.choices[choice_index],
                how,
                votes,
            )
        )
        self._spawn(session.id, self._write(session, following))

    def _schedule_vote_end(self, session: Session, segment: Segment) -> None:
        if segment.id in self._vote_timers or segment.vote_closes_at is None:
            return
        closes_at = segment.vote_closes_at

        async def end_vote() -> None:
            await self._clock.sleep(closes_at - self._clock.now())
            async with self._lock(session.place.key):
                self._vote_timers.pop(segment.id, None)
                fresh = await self._store.get_segment(segment.id)
                live = await self._store.get_session(session.id)
                if fresh is None or fresh.state is not SegmentState.OPEN or live is None:
                    return
                if live.state is not SessionState.ACTIVE:
                    return
                await self._finish_vote(live, fresh, closed_early=False)

        self._vote_timers[segment.id] = asyncio.create_task(end_vote(), name=f"vote-{segment.id}")

    async def _finish_vote(self, session: Session, segment: Segment, *, closed_early: bool) -> None:
        tally = await self._store.tally(segment)
        result = pick_winner(tally.counts, self._rng, closed_early=closed_early)
        if result is None:
            return
        await self._decide(session, segment, result.choice_index, result.decided_by, result.votes)

    async def _write(self, session: Session, segment: Segment) -> None:
        """Background: write one segment, then prepare its picture."""
        key = session.place.key
        await self._emit(
            ev.SegmentStarted(
                key,
                session.id,
                session.language,
                segment.id,
                segment.index,
                session.place.is_group,
            )
        )
        throttle = Throttle(self._clock, self._config.narration_interval)

        async def on_text(text: str) -> None:
            if throttle.ready():
                await self._emit(
                    ev.NarrationGrew(key, session.id, session.language, segment.id, text)
                )

        try:
            async with self._gpu.text_turn(session.place, session.id, f"text-{segment.id}"):
                request = await self._segment_request(session, segment)
                draft = await self._narrator.write_segment(request, on_text)
        except NarratorError as err:
            reason = next(
                (code for cls, code in _REASONS.items() if isinstance(err, cls)),
                Msg.NARRATOR_UNAVAILABLE,
            )
            log.warning("story %d: segment %d failed: %s", session.id, segment.index, err)
            await self._fail(session, segment, reason)
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
        await self._emit(
            ev.SegmentFinished(key, session.id, session.language, finished, session.place.is_group)
        )
        if session.settings.pictures and self._illustrator.draws:
            await self._illustrate(session, finished)
        else:
            await self._store.set_image_state(finished.id, ImageState.OFF)

    async def _fail(self, session: Session, segment: Segment, reason: Msg) -> None:
        await self._store.fail_segment(segment.id, self._clock.now())
        await self._emit(
            ev.SegmentFailed(session.place.key, session.id, session.language, segment.id, reason)
        )

    async def _segment_request(self, session: Session, segment: Segment) -> SegmentRequest:
        earlier = [
            s for s in await self._store.live_segments(session.id) if s.index < segment.index
        ]
        memory = await self._refresh_memory(session, earlier)
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
        )

    async def _refresh_memory(self, session: Session, earlier: list[Segment]) -> StoryMemory:
        """Fold old segments into the summary every `memory_every` segments."""
        memory = await self._store.memory(session.id)
        cutoff = len(earlier) - self._config.recent_segments
        due = [s for s in earlier[: max(cutoff, 0)] if s.index > memory.summary_upto]
        if len(due) < self._config.memory_every:
            return memory
        try:
            updated = await self._narrator.update_memory(session.language, memory, due)
        except NarratorError as err:
            log.warning("story %d: memory not refreshed (%s); keeping the old one", session.id, err)
            return memory
        await self._store.save_memory(session.id, updated, self._clock.now())
        log.info("story %d: memory refreshed up to segment %d", session.id, updated.summary_upto)
        return updated

    async def _illustrate(
        self, session: Session, segment: Segment, *, reuse_prompt: bool = False
    ) -> None:
        if reuse_prompt and segment.image_prompt:
            prompt = ImagePrompt(
                segment.image_prompt, segment.image_negative, segment.image_prompt_source
            )
        else:
            memory = await self._store.memory(session.id)
            async with self._gpu.text_turn(session.place, session.id, f"prompt-{segment.id}"):
                prompt = await self._prompts.image_prompt(session.genre, segment, memory)
            await self._store.set_image_prompt(
                segment.id, prompt.positive, prompt.negative, prompt.source
            )
        await self._store.set_image_state(segment.id, ImageState.QUEUED)
        job = PictureJob(session.id, segment.id, session.place, prompt, session.settings.workflow)
        await self._illustrator.enqueue(job, self)

    async def _picture_event(self, job: PictureJob, state: ImageState | None, make: Any) -> None:
        session = await self._store.get_session(job.session_id)
        segment = await self._store.get_segment(job.segment_id)
        if session is None or segment is None or segment.state is SegmentState.SUPERSEDED:
            return
        if state is not None:
            await self._store.set_image_state(job.segment_id, state)
        await self._emit(make(session))


def _window(seconds: float | None) -> float | None:
    """A vote window within sensible bounds (5 s to an hour); None stays None."""
    return None if seconds is None else max(5.0, min(3600.0, seconds))


T = TypeVar("T", StorySettings, GuildDefaults)


def _with_given(settings: T, **values: Any) -> T:
    """`settings` with the values that were given (not None) put in."""
    return replace(settings, **{k: v for k, v in values.items() if v is not None})
