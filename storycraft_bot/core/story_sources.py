"""What a story is started from besides a typed premise: a character card (its premise
and main character) and a lorebook, kept with the story so a restart tells the same."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from storycraft_bot.core.access import require_manager
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.core.models import Actor, Session, StoryMemory
from storycraft_bot.core.store import StoryStore

log = logging.getLogger(__name__)


def starting_premise(premise: str, card: StoryCard | None) -> str:
    """A typed premise wins; a card without one gives its own."""
    return premise or (card.premise if card is not None else "")


class StorySources:
    """Keeps a story's card and lorebook."""

    def __init__(self, store: StoryStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def keep(
        self, session: Session, card: StoryCard | None, lore: Sequence[LoreEntry]
    ) -> None:
        """Store what a new story starts from (before its first part is written)."""
        if card is not None:
            await self._store.save_card(session.id, card, self._clock.now())
            # The hero's looks are known before the first part: pictures keep them.
            memory = StoryMemory(characters=(card.hero,))
            await self._store.save_memory(session.id, memory, self._clock.now())
            log.info("story %d starts from the card of %s", session.id, card.name)
        if lore:
            await self._store.save_lore(session.id, lore, self._clock.now())
            log.info("story %d: lorebook of %d entries", session.id, len(lore))

    async def attach(self, session: Session, actor: Actor, lore: Sequence[LoreEntry]) -> int:
        """Replace the story's lorebook (the starter or a moderator); its entry count."""
        require_manager(session, actor)
        await self._store.save_lore(session.id, lore, self._clock.now())
        log.info(
            "story %d: lorebook of %d entries attached by %s", session.id, len(lore), actor.user_id
        )
        return len(lore)
