"""One handle on what guards typed text and limited actions, for the engine and for
features that take typed text (own actions): `engine.safety`."""

from __future__ import annotations

from dataclasses import dataclass

from storycraft_bot.core.blocklist import Blocklist
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.limits import AbuseLimits, Limits
from storycraft_bot.core.models import Actor, Place
from storycraft_bot.core.moderation import PREMISE_MAX_CHARS, checked_premise
from storycraft_bot.core.safety_store import RefusalReason, SafetyStore
from storycraft_bot.core.texts import Msg


@dataclass(frozen=True, slots=True)
class Safety:
    """The place's blocklist and the limits on abuse."""

    blocklist: Blocklist
    limits: Limits
    store: SafetyStore
    clock: Clock

    @classmethod
    def build(cls, store: SafetyStore, clock: Clock, limits: AbuseLimits) -> Safety:
        return cls(Blocklist(store, clock), Limits(store, clock, limits), store, clock)

    async def check_typed(
        self,
        place: Place,
        author: Actor,
        typed: str,
        limit: int = PREMISE_MAX_CHARS,
        too_long: Msg = Msg.PREMISE_TOO_LONG,
    ) -> str:
        """Typed text as the narrator gets it: control characters out, within `limit`
        (refused out loud with `too_long`, given `length` and `limit`; never cut), no
        pattern the place blocks. Every refusal is a StoryActionError that does not repeat
        the text, logged and kept with the author."""
        try:
            cleaned = checked_premise(typed, author, limit)
        except StoryActionError as refused:
            await self.store.note_refusal(
                place.key.platform,
                place.guild_id,
                author.user_id,
                RefusalReason.TOO_LONG,
                self.clock.now(),
            )
            raise StoryActionError(too_long, **refused.params) from None
        # The raw text too: cleaning turns a zero-width space inside a word into a space.
        await self.blocklist.check(place, author, cleaned, typed[: len(cleaned) * 2 + 100])
        return cleaned
