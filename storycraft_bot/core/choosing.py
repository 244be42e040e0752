"""A press on a choice, by the story's participation mode (issue 16): in a private chat
and in `anyone` mode the press decides, in `starter` mode only the starter's does, in
`vote` mode it is a vote in a timed window (see vote_timers for its end)."""

from __future__ import annotations

import logging
from dataclasses import replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    DecidedBy,
    Participation,
    Place,
    Segment,
    Session,
)
from storycraft_bot.core.open_parts import open_part, starts
from storycraft_bot.core.presses import VOTE_PRESSES, PressKind, PressOutcome
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.store import StoryStore, VoteOutcome
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.vote_timers import VoteTimers

log = logging.getLogger(__name__)

#: `vote_extensions` of a part whose empty vote ran out: the starter's press decides.
STARTER_DECIDES = 2


class Chooser:
    """Turns presses on choices into decisions or votes (the caller holds the lock)."""

    def __init__(
        self,
        store: StoryStore,
        clock: Clock,
        votes: VoteTimers,
        announce: Announcer,
        prewriter: Prewriter,
    ) -> None:
        self._store = store
        self._clock = clock
        self._votes = votes
        self._announce = announce
        self._prewriter = prewriter

    async def press(
        self, place: Place, actor: Actor, segment_id: int, choice_index: int
    ) -> PressOutcome:
        session, segment = await self._open_part(place, segment_id, choice_index)
        choice = segment.choices[choice_index]
        mode = session.settings.participation
        if mode is Participation.STARTER and session.place.is_group and not starts(session, actor):
            log.info("story %d: %s may not choose (starter mode)", session.id, actor.user_id)
            raise StoryActionError(Msg.STARTER_CHOOSES)
        waiting_for_starter = segment.vote_extensions >= STARTER_DECIDES and starts(session, actor)
        if not session.place.is_group or mode is not Participation.VOTE or waiting_for_starter:
            await self._votes.decide(session, segment, choice_index, DecidedBy.PRESS, votes=1)
            return PressOutcome(PressKind.DECIDED, choice)
        return await self._vote(session, segment, actor, choice_index)

    async def _vote(
        self, session: Session, segment: Segment, actor: Actor, choice_index: int
    ) -> PressOutcome:
        """A vote; the first one starts the window (replacing the window that ran while
        nobody voted, which only decides what happens to an empty vote)."""
        now = self._clock.now()
        first = (await self._store.tally(segment)).voters == 0
        result = await self._store.cast_vote(segment.id, actor, choice_index, now)
        if segment.vote_closes_at is None or (first and result is VoteOutcome.NEW):
            closes_at = now + session.settings.vote_window_seconds
            await self._store.move_vote_deadline(segment.id, closes_at, segment.vote_extensions)
            segment = replace(segment, vote_closes_at=closes_at)
            self._votes.restart(session, segment)
        tally = await self._store.tally(segment)
        if result != VoteOutcome.SAME:
            key = session.place.key
            await self._announce(ev.VotesChanged(key, session.id, session.language, tally))
            self._prewriter.plan(session, segment)  # follow the lead
        return PressOutcome(VOTE_PRESSES[result], segment.choices[choice_index], tally)

    async def _open_part(
        self, place: Place, segment_id: int, choice_index: int
    ) -> tuple[Session, Segment]:
        """The story and its open part the press is on (see open_parts.py), the choice
        one the part offers."""
        session, segment = await open_part(self._store, place, segment_id)
        if not 0 <= choice_index < len(segment.choices):
            raise StoryActionError(Msg.PART_OVER)
        return session, segment
