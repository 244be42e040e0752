"""Limits on abuse (issue 15): per user a cooldown on starting stories and on own actions
and a cap on the stories one runs at once; per part of a story a cap on retries and
redraws. Presses and votes are never limited. A refusal says when to try again; what a
restart must not forget (cooldowns, counts) is kept in the store."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Place, Segment, Session
from storycraft_bot.core.safety_store import LimitedAction, RedoKind, SafetyStore
from storycraft_bot.core.texts import Msg, Wait

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AbuseLimits:
    """The limits; 0 turns one off (the engine's default: all off, the bot's settings
    turn them on)."""

    start_cooldown_seconds: float = 0.0
    own_action_cooldown_seconds: float = 0.0
    stories_per_user: int = 0
    retries_per_part: int = 0
    redraws_per_part: int = 0


_COOLDOWN_REFUSALS = {
    LimitedAction.START: Msg.START_COOLDOWN,
    LimitedAction.OWN_ACTION: Msg.OWN_ACTION_COOLDOWN,
}
_REDO_REFUSALS = {RedoKind.RETRY: Msg.RETRY_LIMIT, RedoKind.REDRAW: Msg.REDRAW_LIMIT}


class Limits:
    """Checks and counts the limited actions; each `take_*` refuses or counts at once, so
    two requests at the same moment cannot both pass."""

    def __init__(self, store: SafetyStore, clock: Clock, limits: AbuseLimits) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits

    async def check_stories(self, place: Place, actor: Actor) -> None:
        """Refuse a new story while the user runs as many as allowed (on this platform:
        user ids belong to one)."""
        cap = self._limits.stories_per_user
        if cap and await self._store.live_stories_of(place.key.platform, actor.user_id) >= cap:
            log.info("story refused for user %s: %d running already", actor.user_id, cap)
            raise StoryActionError(Msg.TOO_MANY_STORIES, stories=cap)

    async def check(self, place: Place, actor: Actor, action: LimitedAction) -> None:
        """Refuse `action` as `take` would, without counting it (before work that should
        not be done in vain, such as a new thread)."""
        if self._cooldown(action):
            last = await self._store.last_done(place.key.platform, actor.user_id, action)
            self._refuse_early(actor, action, last)

    async def take(self, place: Place, actor: Actor, action: LimitedAction) -> None:
        """Count `action` now, or refuse it with the time until the user's cooldown ends."""
        seconds = self._cooldown(action)
        if not seconds:
            return
        now = self._clock.now()
        last = await self._store.take_cooldown(
            place.key.platform, actor.user_id, action, now, seconds
        )
        self._refuse_early(actor, action, last)

    def _refuse_early(self, actor: Actor, action: LimitedAction, last: float | None) -> None:
        wait = 0 if last is None else math.ceil(last + self._cooldown(action) - self._clock.now())
        if wait > 0:
            log.info("%s refused for user %s: cooldown, %d s left", action, actor.user_id, wait)
            raise StoryActionError(_COOLDOWN_REFUSALS[action], wait=Wait(wait))

    async def take_redo(self, session: Session, segment: Segment, kind: RedoKind) -> None:
        """Count one more retry or redraw of the part, or refuse it: it may be asked for
        again on the next part."""
        cap = self._redo_cap(kind)
        if cap and not await self._store.take_redo(session.id, segment.index, kind, cap):
            log.info(
                "story %d: %s of part %d refused, %d done", session.id, kind, segment.index, cap
            )
            raise StoryActionError(_REDO_REFUSALS[kind], times=cap)

    def _cooldown(self, action: LimitedAction) -> float:
        if action is LimitedAction.START:
            return self._limits.start_cooldown_seconds
        return self._limits.own_action_cooldown_seconds

    def _redo_cap(self, kind: RedoKind) -> int:
        if kind is RedoKind.RETRY:
            return self._limits.retries_per_part
        return self._limits.redraws_per_part
