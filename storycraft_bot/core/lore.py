"""Character cards and lorebooks as the core knows them (parsed and cleaned outside, see
storycraft_bot/cards/), and the choice of lorebook entries for one narrator request:
entries whose keys appear in what was just told, constant ones first, within a budget."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storycraft_bot.core.models import Character
from storycraft_bot.core.text_fitting import shorten_to

#: The most lorebook text one request carries, in approximate tokens.
LORE_TOKEN_BUDGET = 600
#: A premise taken from a card is at most this long (a typed one: moderation's limit).
CARD_PREMISE_CHARS = 900
#: The main character's looks taken from a card, for the narrator and the pictures.
CARD_LOOKS_CHARS = 400


@dataclass(frozen=True, slots=True)
class StoryCard:
    """A character card's plain-text fields, cleaned: no markup, no macros."""

    name: str
    description: str
    personality: str = ""
    scenario: str = ""
    first_message: str = ""

    @property
    def hero(self) -> Character:
        """The main character with their looks (the description's first sentences)."""
        return Character(self.name, shorten_to(self.description, CARD_LOOKS_CHARS))

    @property
    def premise(self) -> str:
        """What the story starts from: the scenario, else the greeting, else the description."""
        source = self.scenario or self.first_message or self.description
        return shorten_to(source, CARD_PREMISE_CHARS)


@dataclass(frozen=True, slots=True)
class LoreEntry:
    """One World Info entry: told when a key (and, if `secondary_keys`, one of them too)
    appears in the story, or always when `constant`. Higher `order` is told first."""

    keys: tuple[str, ...]
    content: str
    secondary_keys: tuple[str, ...] = ()
    constant: bool = False
    order: int = 100


def approx_tokens(text: str) -> int:
    """Tokens a text costs, roughly: about four characters each, at least one per word."""
    return max(len(text) // 4, len(text.split()), 1)


def _mentions(keys: Iterable[str], scanned: str) -> bool:
    """A key appears in `scanned` as whole words (case folded)."""
    for key in keys:
        folded = key.casefold().strip()
        if folded and re.search(rf"(?<!\w){re.escape(folded)}(?!\w)", scanned):
            return True
    return False


def chosen_lore(
    entries: Sequence[LoreEntry], texts: Iterable[str], budget: int = LORE_TOKEN_BUDGET
) -> tuple[str, ...]:
    """The contents to tell the narrator: constant entries, then those whose keys appear in
    `texts` (recent parts, the last choice, the premise), each group by descending order,
    as many as fit `budget`; an entry too big for what is left is skipped, not cut."""
    scanned = "\n".join(texts).casefold()
    triggered = [
        entry
        for entry in entries
        if entry.constant
        or (
            _mentions(entry.keys, scanned)
            and (not entry.secondary_keys or _mentions(entry.secondary_keys, scanned))
        )
    ]
    triggered.sort(key=lambda e: (not e.constant, -e.order))
    chosen: list[str] = []
    left = budget
    for entry in triggered:
        cost = approx_tokens(entry.content)
        if cost <= left:
            chosen.append(entry.content)
            left -= cost
    return tuple(chosen)
