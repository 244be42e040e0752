"""Vote windows: a timer per open group vote, and deciding a choice when one ends.

A decision (by a press, a timer or the starter closing the vote) commits the choice and
the next segment, cancels the vote's timer and starts writing what follows.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import PlaceLocks
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    DecidedBy,
    NoVoteRule,
    Participation,
    Segment,
    SegmentState,
    Session,
    SessionState,
)
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.supervision import Supervisor
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.voting import pick_winner
from storycraft_bot.core.writing import Writer

log = logging.getLogger(__name__)


class VoteTimers:
    """Schedules the end of each vote window and decides choices."""

    def __init__(
        self,
        store: StoryStore,
        clock: Clock,
        rng: random.Random,
        locks: PlaceLocks,
        tasks: Supervisor,
        writer: Writer,
        announce: Announcer,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng
        self._locks = locks
        self._tasks = tasks
        self._writer = writer
        self._announce = announce

    def schedule(self, session: Session, segment: Segment) -> None:
        """End the segment's vote when its window closes (one timer per segment; it
        follows the stored deadline when that moves)."""
        if self._tasks.has_timer(segment.id) or segment.vote_closes_at is None:
            return

        async def end_vote() -> None:
            while True:  # the deadline may move (an empty vote extended, a first vote)
                fresh = await self._store.get_segment(segment.id)
                if fresh is None or fresh.vote_closes_at is None:
                    self._tasks.forget_timer(segment.id)
                    return
                wait = fresh.vote_closes_at - self._clock.now()
                if wait <= 0:
                    break
                await self._clock.sleep(wait)
            await self.close_due(session, segment.id)

        self._tasks.start_timer(segment.id, end_vote())

    async def close_due(self, session: Session, segment_id: int) -> None:
        """Decide the segment's vote whose window has ended, if it is still open (a
        timer here, or a vote claimed from another process by the fleet sweep)."""
        async with self._locks(session.place.key):
            self._tasks.forget_timer(segment_id)
            fresh = await self._store.get_segment(segment_id)
            live = await self._store.get_session(session.id)
            if fresh is None or fresh.state is not SegmentState.OPEN or live is None:
                return
            if live.state is not SessionState.ACTIVE:
                return
            await self.finish(live, fresh, closed_early=False)

    def restart(self, session: Session, segment: Segment) -> None:
        """The deadline moved: a new timer for it."""
        self._tasks.cancel_timer(segment.id)
        self.schedule(session, segment)

    async def opened(self, session: Session, segment: Segment) -> Segment:
        """A part opened: a group vote's first window starts now (so a vote nobody
        joins still ends); other parts wait for their press."""
        if not (session.place.is_group and session.settings.participation is Participation.VOTE):
            return segment
        closes_at = self._clock.now() + session.settings.vote_window_seconds
        await self._store.move_vote_deadline(segment.id, closes_at, 0)
        segment = replace(segment, vote_closes_at=closes_at)
        self.restart(session, segment)
        return segment

    async def finish(self, session: Session, segment: Segment, *, closed_early: bool) -> None:
        """Decide by the votes cast (the caller holds the channel's lock)."""
        tally = await self._store.tally(segment)
        result = pick_winner(tally.counts, self._rng, closed_early=closed_early)
        if result is None:
            # A window left from before the mode changed decides nothing.
            if not closed_early and session.settings.participation is Participation.VOTE:
                await self._nobody_voted(session, segment)
            return
        await self.decide(session, segment, result.choice_index, result.decided_by, result.votes)

    async def _nobody_voted(self, session: Session, segment: Segment) -> None:
        """The window ended without a vote: extended once; then a random choice decides,
        or the starter's next press (the story's NoVoteRule)."""
        lang = session.language
        key = session.place.key
        if segment.vote_extensions == 0:
            window = session.settings.vote_window_seconds
            closes_at = self._clock.now() + window
            await self._store.move_vote_deadline(segment.id, closes_at, 1)
            log.info("story %d: nobody voted on part %d, extended", session.id, segment.index)
            params = (("window", f"{window:.0f}"),)
            await self._announce(ev.Notice(key, session.id, lang, Msg.VOTE_EXTENDED, params))
            extended = replace(segment, vote_closes_at=closes_at, vote_extensions=1)
            await self._announce(
                ev.VotesChanged(key, session.id, lang, await self._store.tally(extended))
            )
            self.restart(session, extended)
            return
        if session.settings.no_votes is NoVoteRule.RANDOM:
            choice = self._rng.randrange(len(segment.choices))
            await self.decide(session, segment, choice, DecidedBy.NO_VOTES, 0)
            return
        await self._store.move_vote_deadline(segment.id, None, 2)
        log.info("story %d: nobody voted on part %d, starter decides", session.id, segment.index)
        waiting = replace(segment, vote_closes_at=None, vote_extensions=2)
        await self._announce(ev.Notice(key, session.id, lang, Msg.STARTER_DECIDES))
        tally = await self._store.tally(waiting)
        await self._announce(ev.VotesChanged(key, session.id, lang, tally))

    async def decide(
        self, session: Session, segment: Segment, choice_index: int, how: DecidedBy, votes: int
    ) -> None:
        """Commit the decision and the next segment, tell the adapters, start writing."""
        following = await self._store.decide(segment, choice_index, how, self._clock.now())
        if following is None:
            raise StoryActionError(Msg.CHOICE_CLOSED)
        self._tasks.cancel_timer(segment.id)
        log.info(
            "story %d: segment %d decided (%s) -> %r",
            session.id,
            segment.index,
            how.value,
            segment.choices[choice_index],
        )
        await self._announce(
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
        self._tasks.spawn(session.id, self._writer.write(session, following))
