"""What a shown segment says under its narration: the vote's deadline, counted."""

from __future__ import annotations

import pytest

from adapters.story_card import CardState, StoryCard, closes_in
from storycraft_bot.core.models import Language
from tests.fakes import FakeClock


def open_vote(language: Language, closes_at: float) -> StoryCard:
    card = StoryCard(1, 7, 0, language, is_group=True, state=CardState.OPEN)
    card.choices = ("Left", "Right")
    card.counts = (1, 0)
    card.closes_at = closes_at
    return card


@pytest.mark.parametrize(
    ("language", "left", "line"),
    [
        (Language.EN, 45, "🗳 Voting closes in 45 seconds"),
        (Language.EN, 1, "🗳 Voting closes in 1 second"),
        (Language.EN, 0.2, "🗳 Voting closes in 1 second"),  # rounded up, never "0 seconds"
        (Language.EN, 300, "🗳 Voting closes in 5 minutes"),
        (Language.RU, 45, "🗳 Голосование закроется через 45 секунд"),
        (Language.RU, 21, "🗳 Голосование закроется через 21 секунду"),
        (Language.RU, 3, "🗳 Голосование закроется через 3 секунды"),
        (Language.RU, 120, "🗳 Голосование закроется через 2 минуты"),
        (Language.RU, 0, "🗳 Голосование закрывается…"),
    ],
)
def test_the_deadline_is_counted_from_the_clock(language: Language, left: float, line: str) -> None:
    clock = FakeClock()
    card = open_vote(language, clock.now() + left)
    assert card.status_lines(closes_in(clock)) == [line]


async def test_the_deadline_moves_with_the_clock() -> None:
    clock = FakeClock()
    card = open_vote(Language.EN, clock.now() + 60)
    deadline = closes_in(clock)
    assert card.status_lines(deadline) == ["🗳 Voting closes in 60 seconds"]
    await clock.advance(59.5)
    assert card.status_lines(deadline) == ["🗳 Voting closes in 1 second"]


def test_a_private_story_shows_no_deadline() -> None:
    clock = FakeClock()
    card = open_vote(Language.EN, clock.now() + 60)
    card.is_group = False
    assert card.status_lines(closes_in(clock)) == []
