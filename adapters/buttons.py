"""The buttons a story card offers, neutral of any platform, and the one strict codec
that turns them into button ids (Discord's custom_id, Telegram's callback_data) and back.

Button ids come back from clients that may send anything: `decode` accepts only what
`encode` could have produced (ASCII digits, no leading zeros, bounded lengths and
values) and returns None for everything else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storycraft_bot.core.texts import Msg, text

from .story_card import CardState, StoryCard

MAX_CHOICES = 10  # a choice index is one digit
MAX_SEGMENT_DIGITS = 15
MAX_ID_LENGTH = 64  # Telegram's callback_data limit in bytes (Discord allows 100)


class ButtonKind(enum.StrEnum):
    """What a button does; the value is its code inside a button id."""

    CHOICE = "c"
    CLOSE_VOTE = "x"
    RETRY = "t"
    REDRAW = "r"
    OWN_ACTION = "w"  # asks for a player's own action for the part
    REROLL = "o"  # other choices for the part (issue 16)


@dataclass(frozen=True, slots=True)
class Button:
    """One button of a card: what it does, on which segment, which choice, its label."""

    kind: ButtonKind
    segment_id: int
    index: int = 0  # the choice's number (CHOICE only)
    label: str = ""


def card_buttons(card: StoryCard, label_limit: int, *, reroll: bool = False) -> list[Button]:
    """The buttons a card offers now, in order: its choices, then its actions (the
    re-roll of the choices where the screen shows it on the card)."""
    buttons: list[Button] = []
    if card.is_open:
        buttons = [
            Button(ButtonKind.CHOICE, card.segment_id, i, card.choice_label(i, label_limit))
            for i in range(len(card.choices))
        ]
    if card.can_own_action:
        own = text(card.language, Msg.OWN_ACTION_BUTTON)
        buttons.append(Button(ButtonKind.OWN_ACTION, card.segment_id, label=own))
    if reroll and card.can_reroll:
        others = text(card.language, Msg.REROLL_BUTTON)
        buttons.append(Button(ButtonKind.REROLL, card.segment_id, label=others))
    if card.can_close_vote:
        close = text(card.language, Msg.CLOSE_VOTE_BUTTON)
        buttons.append(Button(ButtonKind.CLOSE_VOTE, card.segment_id, label=close))
    if card.state is CardState.FAILED:
        retry = text(card.language, Msg.RETRY_BUTTON)
        buttons.append(Button(ButtonKind.RETRY, card.segment_id, label=retry))
    elif card.can_redraw:
        redraw = text(card.language, Msg.REDRAW_BUTTON)
        buttons.append(Button(ButtonKind.REDRAW, card.segment_id, label=redraw))
    return buttons


def encode(button: Button, prefix: str = "") -> str:
    """The button's id: `<prefix><code>:<segment>[:<choice>]`."""
    parts = [button.kind.value, str(button.segment_id)]
    if button.kind is ButtonKind.CHOICE:
        parts.append(str(button.index))
    return prefix + ":".join(parts)


def decode(data: str, prefix: str = "") -> Button | None:
    """The button an id names (without its label), or None if the bot never makes such ids."""
    if len(data) > MAX_ID_LENGTH or not data.isascii() or not data.startswith(prefix):
        return None
    code, *numbers = data[len(prefix) :].split(":")
    try:
        kind = ButtonKind(code)
    except ValueError:
        return None
    if len(numbers) != (2 if kind is ButtonKind.CHOICE else 1):
        return None
    segment = number(numbers[0], MAX_SEGMENT_DIGITS)
    if segment is None or segment < 1:
        return None
    if kind is not ButtonKind.CHOICE:
        return Button(kind, segment)
    index = number(numbers[1], 1)
    if index is None or index >= MAX_CHOICES:
        return None
    return Button(kind, segment, index)


def number(digits: str, max_digits: int) -> int | None:
    """A non-negative number in plain ASCII digits, written as `str(int)` writes it."""
    if not 0 < len(digits) <= max_digits or not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) > 1 and digits.startswith("0"):
        return None
    return int(digits)
