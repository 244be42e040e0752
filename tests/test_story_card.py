"""What a shown segment says under its narration: the vote's deadline, counted."""

from __future__ import annotations

import pytest

from adapters.buttons import ButtonKind, card_buttons
from adapters.story_card import CardState, StoryCard, closes_in
from storycraft_bot.core import events as ev
from storycraft_bot.core.models import (
    ChannelKey,
    Language,
    OwnAction,
    Platform,
    Segment,
    SegmentState,
    VoteTally,
)
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


def test_an_own_action_joins_the_card_with_its_author_and_the_button_follows_the_setting() -> None:
    key = ChannelKey(Platform.TELEGRAM, "-100")
    part = Segment(4, 1, 0, SegmentState.OPEN, "A gate.", ("Knock", "Climb"), "")
    card = StoryCard(1, 4, 0, Language.EN, is_group=True)
    card.apply(ev.SegmentFinished(key, 1, Language.EN, part, True, True))
    card.apply(ev.VotesChanged(key, 1, Language.EN, _tally(part.id, (1, 0))))
    grown = Segment(
        4,
        1,
        0,
        SegmentState.OPEN,
        "A gate.",
        ("Knock", "Climb", "I sing to the guard"),
        "",
        own_actions=(OwnAction(2, "u2", "Bob"),),
    )
    card.apply(ev.BallotGrew(key, 1, Language.EN, grown))

    assert card.counts == (1, 0, 0)  # the votes so far stay
    labels = [(b.kind, b.label) for b in card_buttons(card, 40)]
    assert labels[:4] == [
        (ButtonKind.CHOICE, "Knock · 1"),
        (ButtonKind.CHOICE, "Climb"),
        (ButtonKind.CHOICE, "✍️ Bob: I sing to the guard"),
        (ButtonKind.OWN_ACTION, "✍️ Your own action"),
    ]
    off = StoryCard(1, 4, 0, Language.RU, is_group=False)
    off.apply(ev.SegmentFinished(key, 1, Language.RU, part, False, False))
    assert ButtonKind.OWN_ACTION not in [b.kind for b in card_buttons(off, 40)]
    on = StoryCard(1, 4, 0, Language.RU, is_group=False)
    on.apply(ev.SegmentFinished(key, 1, Language.RU, part, False, True))
    assert card_buttons(on, 40)[-1].label == "✍️ Своё действие"


def _tally(segment_id: int, counts: tuple[int, ...]) -> VoteTally:
    return VoteTally(segment_id, counts, sum(counts), None)
