"""What a press on a choice did, as the engine answers it to the adapter."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storycraft_bot.core.models import VoteTally
from storycraft_bot.core.store import VoteOutcome


class PressKind(enum.StrEnum):
    """What a press on a choice did."""

    DECIDED = "decided"
    VOTE_COUNTED = "vote_counted"
    VOTE_CHANGED = "vote_changed"
    VOTE_SAME = "vote_same"
    OWN_ACTION_ADDED = "own_action_added"  # a player's own action joined the ballot


#: How a group vote's outcome reads to the presser.
VOTE_PRESSES: dict[VoteOutcome, PressKind] = {
    VoteOutcome.NEW: PressKind.VOTE_COUNTED,
    VoteOutcome.CHANGED: PressKind.VOTE_CHANGED,
    VoteOutcome.SAME: PressKind.VOTE_SAME,
}


@dataclass(frozen=True, slots=True)
class PressOutcome:
    """The answer to a press, for the adapter's instant reply to the presser."""

    kind: PressKind
    choice_text: str
    tally: VoteTally | None = None
