"""The story engine, the one API every adapter uses: one story per channel, a lock per
channel, every change committed before the adapters hear of it, slow work in cancellable
tasks (see writing, vote_timers, recovery, reading, configuration and supervision)."""

from __future__ import annotations

import logging
import random
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Unpack

from storycraft_bot.core import events as ev
from storycraft_bot.core.access import require_manager, require_part
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.book import Book
from storycraft_bot.core.choosing import Chooser
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.configuration import Configuration, GuildChanges, StoryChanges
from storycraft_bot.core.coordination import Coordination, LocalCoordination
from storycraft_bot.core.engine_config import EngineConfig, with_given
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.core.models import (
    Actor,
    GuildDefaults,
    ImageState,
    Language,
    Participation,
    Place,
    Platform,
    Rating,
    Segment,
    SegmentState,
    Session,
    SessionState,
    StatusReport,
    StoryLength,
    StorySettings,
)
from storycraft_bot.core.outage_retries import OutageRetries
from storycraft_bot.core.own_actions import OwnActions
from storycraft_bot.core.picture_reports import PictureReports
from storycraft_bot.core.ports import (
    GpuGate,
    Illustrator,
    Narrator,
    NarratorGate,
    PromptWriter,
    SeparateGpus,
    StoryView,
    UnlimitedNarrator,
)
from storycraft_bot.core.presses import PressKind, PressOutcome
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.reading import StoryReader
from storycraft_bot.core.recovery import Recovery
from storycraft_bot.core.rerolling import ChoiceReroller
from storycraft_bot.core.safety import Safety
from storycraft_bot.core.safety_store import LimitedAction, RedoKind
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.story_sources import StorySources, starting_premise
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.core.supervision import Supervisor
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.vote_timers import VoteTimers
from storycraft_bot.core.writing import Writer

__all__ = ["EngineConfig", "PressKind", "PressOutcome", "StoryEngine"]

log = logging.getLogger(__name__)


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
        narration: NarratorGate | None = None,
        coordination: Coordination | None = None,
    ) -> None:
        self._store = store
        self._illustrator = illustrator
        self._clock = clock
        self._config = config
        self._emit = Announcer(view)
        #: Blocked patterns and limits on abuse, for every command that takes typed text.
        self.safety = Safety.build(store, clock, config.limits)
        self._fleet = coordination or LocalCoordination()
        self._lock = self._fleet.place_lock
        self._tasks = Supervisor()
        self._outages = OutageRetries(store, clock, self._lock, self._tasks, self._emit)
        self._writer = Writer(
            store,
            narrator,
            prompt_writer,
            illustrator,
            gpu or SeparateGpus(),
            clock,
            config,
            self._emit,
            PictureReports(store, self._emit),
            self._outages.schedule,
            narration,
            self._fleet,
        )
        self._outages.attach(self._writer)
        self._prewriter = Prewriter(
            store,
            narrator,
            prompt_writer,
            illustrator,
            narration or UnlimitedNarrator(),
            gpu or SeparateGpus(),
            clock,
            config.prewrite,
            config.prewrite_cap,
            self._writer.request_for,
            config.styles,
            self._fleet,
        )
        self._writer.attach(self._prewriter)
        self._votes = VoteTimers(
            store, clock, rng or random.Random(), self._lock, self._tasks, self._writer, self._emit
        )
        self._writer.on_open(self._votes.opened)
        self._chooser = Chooser(store, clock, self._votes, self._emit, self._prewriter)
        self._reroller = ChoiceReroller(
            store,
            narrator,
            narration or UnlimitedNarrator(),
            gpu or SeparateGpus(),
            self._lock,
            self._emit,
            self._prewriter,
            self._votes,
            self._writer.request_for,
        )
        self._reader = StoryReader(store, self._prewriter)
        self._configuration = Configuration(store, clock, config.story, config.styles)
        self._sources = StorySources(store, clock)
        self._recovery = Recovery(
            store,
            clock,
            self._lock,
            self._tasks,
            self._writer,
            illustrator,
            self._votes,
            self._prewriter,
            self._outages,
            self._fleet,
        )
        self._own = OwnActions(
            store, self._lock, self._votes, self._prewriter, self._emit, self.safety
        )

    # Commands

    async def start(
        self,
        place: Place,
        starter: Actor,
        *,
        premise: str = "",
        genre: str | None = None,
        language: Language | None = None,
        rating: Rating | None = None,
        length: StoryLength | None = None,
        participation: Participation | None = None,
        card: StoryCard | None = None,
        lore: Sequence[LoreEntry] = (),
        style: str | None = None,
    ) -> Session:
        """Open a story in the channel and start writing its first segment; `rating`,
        `length`, `participation` and `style` (a picture style's name) None take the
        defaults. A `card` gives the premise when none is typed and the main character;
        `lore` is the story's lorebook."""
        chosen_style = self._config.styles.chosen(style)  # an unknown one starts nothing
        premise = starting_premise(await self.safety.check_typed(place, starter, premise), card)
        async with self._lock(place.key):
            if await self._store.live_session(place.key) is not None:
                raise StoryActionError(Msg.STORY_EXISTS)
            settings = with_given(
                await self._configuration.new_story(place, starter, rating),
                length=length,
                participation=participation,
                style=chosen_style,
            )
            await self.safety.limits.check_stories(place, starter)
            await self.safety.limits.take(place, starter, LimitedAction.START)
            now = self._clock.now()
            session = await self._store.create_session(
                place,
                starter,
                language or self._config.language,
                (genre or self._config.genre).strip()[:60],
                premise,
                settings,
                now,
            )
            await self._sources.keep(session, card, lore)
            segment = await self._store.add_segment(session.id, 0, "", now)
            log.info("story %d started in %s by %s", session.id, place.key, starter.user_id)
            self._tasks.spawn(session.id, self._writer.write(session, segment))
            return session

    async def press(
        self, place: Place, actor: Actor, segment_id: int, choice_index: int
    ) -> PressOutcome:
        """A press on a choice, by the story's participation mode (core/choosing.py)."""
        async with self._lock(place.key):
            return await self._chooser.press(place, actor, segment_id, choice_index)

    async def close_vote(
        self, place: Place, actor: Actor, *, segment_id: int | None = None
    ) -> None:
        """The starter (or a moderator) ends the group vote now; `segment_id` (a button's
        part) must be the part whose vote is open."""
        async with self._lock(place.key):
            session = await self._require_session(place, segment_id)
            segment = await self._store.current_segment(session.id)
            require_part(segment, segment_id)
            require_manager(session, actor)
            if segment is None or segment.state is not SegmentState.OPEN:
                raise StoryActionError(Msg.PART_OVER if segment_id else Msg.CHOICE_CLOSED)
            if (await self._store.tally(segment)).voters == 0:
                raise StoryActionError(Msg.NO_VOTES_YET)
            await self._votes.finish(session, segment, closed_early=True)

    async def stop(self, place: Place, actor: Actor) -> Session:
        """End the story: cancel its work, keep everything it wrote."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            require_manager(session, actor)
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
        """Pause the channel's story (the bot lost access); a retry or undo reactivates it."""
        async with self._lock(place.key):
            session = await self._store.live_session(place.key)
            if session is None or session.state is not SessionState.ACTIVE:
                return
            await self._halt(session)
            await self._store.set_session_state(session.id, SessionState.PAUSED, self._clock.now())
            log.info("story %d paused", session.id)

    async def status(self, place: Place, viewer: Actor | None = None) -> StatusReport:
        """The channel's story, its current segment and votes (and its drafts, for the
        starter)."""
        return await self._reader.status(await self._require_session(place), viewer)

    async def book(self, where: Place | Session) -> Book:
        """The book of a story: its chosen path so far (see StoryReader.book)."""
        return await self._reader.book(where)

    async def book_by_id(self, book_id: str) -> Book | None:
        """The book with this (unguessable, read-only) id; None for an unknown id."""
        return await self._reader.book_by_id(book_id)

    async def retry(self, place: Place, actor: Actor, *, segment_id: int | None = None) -> None:
        """Write the newest segment again (the starter or a moderator; anyone after a
        failure); `segment_id` (a button's part) must be the newest part."""
        async with self._lock(place.key):
            session = await self._require_session(place, segment_id)
            current = await self._store.current_segment(session.id)
            require_part(current, segment_id)
            if current is None:
                raise StoryActionError(Msg.NO_STORY)
            if current.state is not SegmentState.FAILED:  # a failure is never capped
                require_manager(session, actor)
                await self.safety.limits.take_redo(session, current, RedoKind.RETRY)
            await self._halt(session, pictures_of=[current.id])
            if session.state is SessionState.PAUSED:
                session = await self._reactivate(session)
            segment = await self._store.replace_segment(current, self._clock.now())
            # The backlog may have queued it after `_halt` and before it was replaced.
            await self._illustrator.cancel_session(session.id, [current.id])
            log.info(
                "story %d: segment %d rewritten by %s", session.id, segment.index, actor.user_id
            )
            await self._emit(
                ev.SegmentSuperseded(
                    place.key, session.id, session.language, current.id, ev.Superseded.RETRIED
                )
            )
            self._tasks.spawn(session.id, self._writer.write(session, segment))

    async def undo(self, place: Place, actor: Actor) -> Segment:
        """Go back one choice: the newest segment is dropped, the one before reopens."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            require_manager(session, actor)
            segments = await self._store.live_segments(session.id)
            if len(segments) < 2:
                raise StoryActionError(Msg.NOTHING_TO_UNDO)
            await self._halt(session, pictures_of=[segments[-1].id])
            if session.state is SessionState.PAUSED:
                session = await self._reactivate(session)
            previous = await self._store.step_back(segments[-1], segments[-2], self._clock.now())
            # The backlog may have queued it after `_halt` and before it was dropped.
            await self._illustrator.cancel_session(session.id, [segments[-1].id])
            await self._emit(
                ev.SegmentSuperseded(
                    place.key, session.id, session.language, segments[-1].id, ev.Superseded.UNDONE
                )
            )
            log.info(
                "story %d: undo to segment %d by %s", session.id, previous.index, actor.user_id
            )
            await self._emit(ev.Notice(place.key, session.id, session.language, Msg.UNDONE))
            is_group, own = session.place.is_group, session.settings.own_actions
            await self._emit(
                ev.SegmentFinished(place.key, session.id, session.language, previous, is_group, own)
            )
            self._prewriter.plan(session, previous)
            return previous

    async def configure(
        self, place: Place, actor: Actor, **changes: Unpack[StoryChanges]
    ) -> StorySettings:
        """Change the story's settings (the starter or a moderator); None keeps a value."""
        async with self._lock(place.key):
            session = await self._require_session(place)
            return await self._configuration.story(session, place, actor, changes)

    async def attach_lore(self, place: Place, actor: Actor, lore: Sequence[LoreEntry]) -> int:
        """Give the live story a lorebook (the starter or a moderator); its entry count."""
        async with self._lock(place.key):
            return await self._sources.attach(await self._require_session(place), actor, lore)

    async def guild_defaults(self, place: Place) -> GuildDefaults:
        """The server's defaults for new stories."""
        return await self._configuration.guild_defaults(place)

    async def configure_guild(
        self, place: Place, actor: Actor, **changes: Unpack[GuildChanges]
    ) -> GuildDefaults:
        """Change the server's defaults for new stories (Manage Server); None keeps a value."""
        return await self._configuration.guild(place, actor, changes)

    async def redraw(self, place: Place, actor: Actor, *, segment_id: int | None = None) -> Segment:
        """A new picture (new seed) for the newest segment. After a failed picture anyone
        may ask; otherwise the starter or a moderator. `segment_id` (a button's part) must
        be the newest part with a picture."""
        async with self._lock(place.key):
            session = await self._require_session(place, segment_id)
            segments = await self._store.live_segments(session.id)
            drawable = [s for s in segments if s.state in (SegmentState.OPEN, SegmentState.DECIDED)]
            require_part(drawable[-1] if drawable else None, segment_id)
            if not session.settings.pictures or not self._illustrator.draws:
                raise StoryActionError(Msg.PICTURES_DISABLED)
            if not drawable:
                raise StoryActionError(Msg.BUSY_GENERATING)
            segment = drawable[-1]
            if segment.image_state is not ImageState.FAILED:  # a failure is never capped
                require_manager(session, actor)
                await self.safety.limits.take_redo(session, segment, RedoKind.REDRAW)
            await self._illustrator.cancel_session(session.id, [segment.id])
            log.info(
                "story %d: redraw of segment %d by %s", session.id, segment.index, actor.user_id
            )
            self._tasks.spawn(
                session.id, self._writer.illustrate(session, segment, reuse_prompt=True)
            )
            return segment

    async def reroll(self, place: Place, actor: Actor, *, segment_id: int | None = None) -> None:
        """New choices for the open part, its narration kept (see core/rerolling.py)."""
        async with self._lock(place.key):
            session = await self._require_session(place, segment_id)
            segment = await self._store.current_segment(session.id)
            self._tasks.spawn(session.id, self._reroller.begin(session, actor, segment, segment_id))

    async def resume(self, platforms: Collection[Platform] | None = None) -> int:
        """After a restart: continue every active story (of these platforms) where it
        was, and (processes sharing the store) take over what others leave. How many."""
        return await self._recovery.resume(platforms)

    async def wait_idle(self) -> None:
        """Wait until no segment is being written or illustrated (votes may stay open)."""
        await self._tasks.wait_idle()
        await self._prewriter.wait_idle()
        await self._tasks.wait_idle()

    async def shutdown(self) -> None:
        """Cancel all background work (the database keeps the state for `resume`)."""
        await self._prewriter.shutdown()
        await self._tasks.shutdown()

    @property
    def styles(self) -> StyleBook:
        """The picture styles a story may choose (screens offer their names)."""
        return self._config.styles

    @property
    def own_actions(self) -> OwnActions:
        """Players' own actions: typed text for the open part (issue 15)."""
        return self._own

    @property
    def prewriting(self) -> Prewriter:
        """The drafts written in advance: their figures for logs and the benchmark."""
        return self._prewriter

    async def _require_session(self, place: Place, segment_id: int | None = None) -> Session:
        """The channel's live story; a button's press (`segment_id`) on a channel without
        one is on a part that is over."""
        session = await self._store.live_session(place.key)
        if session is None:
            raise StoryActionError(Msg.PART_OVER if segment_id is not None else Msg.NO_STORY)
        return session

    async def _reactivate(self, session: Session) -> Session:
        await self._store.set_session_state(session.id, SessionState.ACTIVE, self._clock.now())
        return replace(session, state=SessionState.ACTIVE)

    async def _halt(self, session: Session, pictures_of: list[int] | None = None) -> None:
        """Cancel the session's background work, vote timers and pictures: all of them,
        or only those of `pictures_of` (the parts a retry or undo supersedes; the older
        parts' pictures, recovered backlog included, still count)."""
        segments = await self._store.live_segments(session.id)
        # A retry or undo keeps the picture backlog going for the parts that still count.
        keep = pictures_of is not None
        await self._tasks.halt(session.id, [s.id for s in segments], keep_lasting=keep)
        await self._prewriter.drop(session.id)
        await self._illustrator.cancel_session(session.id, pictures_of)
