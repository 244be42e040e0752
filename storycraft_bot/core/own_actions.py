"""A player's own action (issue 15): free text typed for the open part instead of one of
the offered choices. It is cleaned like a premise, then appended to the part's choices
with its author, so the vote, the decision and the book treat it as any other choice;
the narrator gets it quoted as story input (narration/narrator.py), never as
instructions. In a private story it decides at once; in a group it is one more ballot
entry that anyone may vote for."""

from __future__ import annotations

import logging

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.coordination import PlaceLocks
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    DecidedBy,
    Participation,
    Place,
    Segment,
    Session,
)
from storycraft_bot.core.moderation import without_controls
from storycraft_bot.core.open_parts import open_part, starts
from storycraft_bot.core.presses import PressKind, PressOutcome
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.safety import Safety
from storycraft_bot.core.safety_store import LimitedAction
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg
from storycraft_bot.core.vote_timers import VoteTimers

log = logging.getLogger(__name__)

#: The longest own action a player may type.
OWN_ACTION_MAX_CHARS = 200
#: Own actions one part's ballot takes; with the offered choices they stay within the
#: ten a button's one-digit choice number can name.
OWN_ACTIONS_PER_PART = 4


def checked_action(typed: str, author: Actor, limit: int = OWN_ACTION_MAX_CHARS) -> str:
    """The action as the ballot and the narrator get it: one line without control
    characters; refused (never cut) when it is empty or too long, logged with who typed it.
    Blocked words are checked after it, by the place's blocklist."""
    action = " ".join(without_controls(typed).split())
    if not action:
        raise StoryActionError(Msg.OWN_ACTION_EMPTY)
    if len(action) > limit:
        log.info(
            "own action refused for user %s: %d characters, at most %d",
            author.user_id,
            len(action),
            limit,
        )
        raise StoryActionError(Msg.OWN_ACTION_TOO_LONG, length=len(action), limit=limit)
    return action


class OwnActions:
    """Takes players' own actions for the open part of a channel's story."""

    def __init__(
        self,
        store: StoryStore,
        locks: PlaceLocks,
        votes: VoteTimers,
        prewriter: Prewriter,
        announce: Announcer,
        safety: Safety,
    ) -> None:
        self._safety = safety
        self._store = store
        self._lock = locks
        self._votes = votes
        self._prewriter = prewriter
        self._announce = announce

    async def check(self, place: Place, actor: Actor, segment_id: int) -> None:
        """Whether `actor` may type an action for part `segment_id` now (before a screen
        asks for the text): StoryActionError saying why not. It reads without the
        channel's lock, so a screen's single quick answer (Discord's modal) never waits
        behind other work; `submit` checks again."""
        await self._open_part(place, actor, segment_id)
        # A player on cooldown hears when before typing an action in vain.
        await self._safety.limits.check(place, actor, LimitedAction.OWN_ACTION)

    async def submit(self, place: Place, actor: Actor, segment_id: int, typed: str) -> PressOutcome:
        """Put `typed` on part `segment_id`'s ballot: decided at once in a private story,
        one more entry in a group vote (at most one per player per part)."""
        action = checked_action(typed, actor)
        # The place's blocked words; the raw text too, as for premises.
        await self._safety.blocklist.check(place, actor, action, typed[: len(action) * 2 + 100])
        async with self._lock(place.key):
            session, segment = await self._open_part(place, actor, segment_id)
            await self._safety.limits.take(place, actor, LimitedAction.OWN_ACTION)
            grown = await self._store.add_own_action(segment, actor, action)
            if grown is None:  # not reachable under the lock; the store checks it anyway
                raise StoryActionError(Msg.PART_OVER)
            index = len(grown.choices) - 1
            log.info(
                "story %d: own action %d of part %d by user %s",
                session.id,
                index,
                grown.index,
                actor.user_id,
            )
            # As a press would: decided at once unless the group votes (see choosing.py).
            if not session.place.is_group or session.settings.participation is not (
                Participation.VOTE
            ):
                await self._votes.decide(session, grown, index, DecidedBy.PRESS, votes=1)
                return PressOutcome(PressKind.DECIDED, action)
            await self._announce(ev.BallotGrew(place.key, session.id, session.language, grown))
            self._prewriter.plan(session, grown)
            return PressOutcome(PressKind.OWN_ACTION_ADDED, action)

    async def _open_part(
        self, place: Place, actor: Actor, segment_id: int
    ) -> tuple[Session, Segment]:
        """The story and its open part `segment_id`, if `actor` may add an action to it;
        a forged or stale part id is a part that is over, as for buttons."""
        session, segment = await open_part(self._store, place, segment_id)
        if (
            session.settings.participation is Participation.STARTER
            and session.place.is_group
            and not starts(session, actor)
        ):
            raise StoryActionError(Msg.STARTER_CHOOSES)
        if not session.settings.own_actions:
            log.info("own action refused for user %s: turned off", actor.user_id)
            raise StoryActionError(Msg.OWN_ACTIONS_OFF)
        if any(a.user_id == actor.user_id for a in segment.own_actions):
            raise StoryActionError(Msg.OWN_ACTION_TAKEN)
        if len(segment.own_actions) >= OWN_ACTIONS_PER_PART:
            raise StoryActionError(Msg.OWN_ACTIONS_FULL)
        return session, segment
