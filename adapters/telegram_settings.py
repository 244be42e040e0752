"""The Telegram settings keyboard and what its buttons may set: callback data
`s:<what>:<n>` names only values the keyboard offers, by position, so it stays short and
a forged one sets nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Language, NoVoteRule, Participation, Rating, StorySettings
from storycraft_bot.core.styles import illustrate_mode
from storycraft_bot.core.texts import Msg, rating_name, text

from .buttons import number
from .commands import ILLUSTRATE_LABELS, MODE_LABELS, NO_VOTE_LABELS

VOTE_WINDOWS = (30, 60, 120)
RATINGS = tuple(Rating)  # by position in callback data: s:r:<n>
MODES = tuple(Participation)  # s:m:<n> (issue 16)
NO_VOTE_RULES = tuple(NoVoteRule)  # s:v:<n>


def settings_keyboard(
    language: Language, settings: StorySettings, is_group: bool, workflows: Sequence[str]
) -> InlineKeyboardMarkup:
    """A story's settings as buttons, the current values ticked."""
    state = text(language, Msg.ON if settings.pictures else Msg.OFF)
    rows = [
        [
            InlineKeyboardButton(
                text(language, Msg.PICTURES_TOGGLE, state=state),
                callback_data=f"s:p:{0 if settings.pictures else 1}",
            )
        ],
        [
            InlineKeyboardButton(
                "⏱ " + text(language, Msg.SECONDS_SHORT, window=w), callback_data=f"s:w:{w}"
            )
            for w in VOTE_WINDOWS
        ],
    ]
    rows.append(
        [
            InlineKeyboardButton(
                ("✓ " if rating is settings.rating else "")
                + text(language, Msg.RATING_BUTTON, rating=rating_name(language, rating)),
                callback_data=f"s:r:{number}",
            )
            for number, rating in enumerate(RATINGS)
        ]
    )
    own = text(language, Msg.ON if settings.own_actions else Msg.OFF)
    rows.append(
        [
            InlineKeyboardButton(
                text(language, Msg.OWN_ACTIONS_TOGGLE, state=own),
                callback_data=f"s:o:{0 if settings.own_actions else 1}",
            )
        ]
    )
    if is_group:
        rows.extend(choosing_rows(language, settings))
    mode = illustrate_mode(settings)
    rows.append(
        [
            InlineKeyboardButton(
                ("✓ " if choice is mode else "") + text(language, label),
                callback_data=f"s:i:{number}",
            )
            for number, (choice, label) in enumerate(ILLUSTRATE_LABELS.items())
        ]
    )
    if len(workflows) > 1:
        # Workflows, then picture styles: the story's workflow and style are marked.
        current = {settings.workflow or workflows[0], settings.style}
        buttons = [
            # By position, so callback_data stays short whatever the names.
            InlineKeyboardButton(
                f"{'✓ ' if name in current else ''}🎨 {name}", callback_data=f"s:f:{number}"
            )
            for number, name in enumerate(workflows)
        ]
        rows += [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    return InlineKeyboardMarkup(rows)


def setting_change(data: str, workflows: Sequence[str]) -> dict[str, Any]:
    """`s:p:0|1` pictures, `s:w:<window>`, `s:f:<style>`, `s:r:<rating>`, `s:o:0|1` own
    actions, `s:m:<mode>`, `s:v:<rule>`, `s:i:<illustrate mode>`: the change, for a value
    the keyboard offers; anything else is refused as a stale button."""
    what, _, digits = data.removeprefix("s:").partition(":")
    value = number(digits, 4)
    if what == "p" and value in (0, 1):
        change: dict[str, Any] = {"pictures": value == 1}
    elif what == "w" and value in VOTE_WINDOWS:
        change = {"vote_window_seconds": float(value)}
    elif what == "f" and value is not None and value < len(workflows):
        change = {"workflow": workflows[value]}
    elif what == "r" and value is not None and value < len(RATINGS):
        change = {"rating": RATINGS[value]}
    elif what == "o" and value in (0, 1):
        change = {"own_actions": value == 1}
    elif what == "m" and value is not None and value < len(MODES):
        change = {"participation": MODES[value]}
    elif what == "v" and value is not None and value < len(NO_VOTE_RULES):
        change = {"no_votes": NO_VOTE_RULES[value]}
    elif what == "i" and value is not None and value < len(ILLUSTRATE_LABELS):
        change = {"illustrate": list(ILLUSTRATE_LABELS)[value]}
    else:
        raise StoryActionError(Msg.PART_OVER)
    return change


def choosing_rows(language: Language, settings: StorySettings) -> list[list[InlineKeyboardButton]]:
    """The settings keyboard's rows for who chooses in a group and what decides a vote
    nobody joins (issue 16), the current ones ticked."""
    modes = [
        InlineKeyboardButton(
            ("✓ " if mode is settings.participation else "") + text(language, MODE_LABELS[mode]),
            callback_data=f"s:m:{number}",
        )
        for number, mode in enumerate(MODES)
    ]
    rules = [
        InlineKeyboardButton(
            ("✓ " if rule is settings.no_votes else "") + text(language, NO_VOTE_LABELS[rule]),
            callback_data=f"s:v:{number}",
        )
        for number, rule in enumerate(NO_VOTE_RULES)
    ]
    return [modes, rules]
