"""Voting rules, independent of any platform: who wins and how it is said."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from storycraft_bot.core.models import DecidedBy


@dataclass(frozen=True, slots=True)
class VoteResult:
    """The winning choice, its votes, and whether a tie was broken at random."""

    choice_index: int
    votes: int
    decided_by: DecidedBy


def pick_winner(
    counts: Sequence[int], rng: random.Random, *, closed_early: bool = False
) -> VoteResult | None:
    """The most-voted choice; a tie is broken uniformly at random. None when nobody voted."""
    if not counts or max(counts) == 0:
        return None
    top = max(counts)
    leaders = [i for i, count in enumerate(counts) if count == top]
    if len(leaders) > 1:
        return VoteResult(rng.choice(leaders), top, DecidedBy.TIE)
    how = DecidedBy.CLOSED_EARLY if closed_early else DecidedBy.VOTE
    return VoteResult(leaders[0], top, how)
