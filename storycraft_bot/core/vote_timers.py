"""Vote windows: a timer per open group vote, and deciding a choice when one ends.

A decision (by a press, a timer or the starter closing the vote) commits the choice and
the next segment, cancels the vote's timer and starts writing what follows.
"""

from __future__ import annotations

import logging
import random

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import PlaceLocks
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import DecidedBy, Segment, SegmentState, Session, SessionState
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
        """End the segment's vote when its window closes (once per segment)."""
        if self._tasks.has_timer(segment.id) or segment.vote_closes_at is None:
            return
        closes_at = segment.vote_closes_at

        async def end_vote() -> None:
            await self._clock.sleep(closes_at - self._clock.now())
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

    async def finish(self, session: Session, segment: Segment, *, closed_early: bool) -> None:
        """Decide by the votes cast (the caller holds the channel's lock)."""
        tally = await self._store.tally(segment)
        result = pick_winner(tally.counts, self._rng, closed_early=closed_early)
        if result is None:
            return
        await self.decide(session, segment, result.choice_index, result.decided_by, result.votes)

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
