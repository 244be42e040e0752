"""A story's arc (issue 16): how long it is planned for, which stage a part belongs to,
when the players may end it, and which part is its ending.

Everything here follows from the story's length (fixed at its start) and the parts
written so far, so it is the same after a restart and on every screen.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from storycraft_bot.core.models import MAX_CHOICES, Language, Segment, StoryLength
from storycraft_bot.core.texts import Msg, text

#: Parts a story of each length is planned for (endless: none).
PLANNED_PARTS: dict[StoryLength, int] = {
    StoryLength.SHORT: 8,
    StoryLength.MEDIUM: 15,
    StoryLength.LONG: 30,
}
#: From this share of the length on, "end the story here" is offered.
END_OFFER_SHARE = 0.8
_OPENING_SHARE = 0.2
_CLIMAX_SHARE = 0.6


class ArcStage(enum.StrEnum):
    """Where a part stands in the story's arc."""

    OPENING = "opening"
    RISING = "rising"
    CLIMAX = "climax"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class Arc:
    """What the narrator is told about a part's place in the arc. `parts_left`: parts
    after this one (0 for the ending); `ending`: this part ends the story, no choices."""

    stage: ArcStage
    parts_left: int
    ending: bool


def arc_of(length: StoryLength, index: int, *, end_chosen: bool = False) -> Arc | None:
    """The arc of part `index` (0 is the opening); None for an endless story. The part is
    the ending when the players chose to end or the planned length is reached."""
    planned = PLANNED_PARTS.get(length)
    if planned is None:
        return None
    if end_chosen or index >= planned - 1:
        return Arc(ArcStage.RESOLUTION, 0, ending=True)
    left = planned - 1 - index
    if index < max(1, round(planned * _OPENING_SHARE)):
        return Arc(ArcStage.OPENING, left, ending=False)
    if index < math.ceil(planned * _CLIMAX_SHARE):
        return Arc(ArcStage.RISING, left, ending=False)
    return Arc(ArcStage.CLIMAX, left, ending=False)


def offers_end(length: StoryLength, index: int) -> bool:
    """Whether part `index` (not an ending) offers "end the story here" as its last
    choice: from about 80 % of the planned length on."""
    planned = PLANNED_PARTS.get(length)
    if planned is None or index >= planned - 1:
        return False
    return index + 1 >= math.ceil(planned * END_OFFER_SHARE)


def end_was_chosen(length: StoryLength, previous: Segment | None) -> bool:
    """The players chose "end the story here" on the part before."""
    return (
        previous is not None
        and previous.chosen_index is not None
        and offers_end(length, previous.index)
        # The offered choices' last; players' own actions come after it.
        and previous.chosen_index == len(previous.choices) - len(previous.own_actions) - 1
    )


def arc_after(length: StoryLength, earlier: Sequence[Segment]) -> Arc | None:
    """The arc of the part that follows `earlier` (the story so far, oldest first)."""
    previous = earlier[-1] if earlier else None
    return arc_of(length, len(earlier), end_chosen=end_was_chosen(length, previous))


def asked_choices(length: StoryLength, index: int, wanted: int) -> int:
    """How many choices to ask the narrator for: one fewer room when the end choice is
    added, so a part never has more than MAX_CHOICES."""
    if offers_end(length, index):
        return min(wanted, MAX_CHOICES - 1)
    return wanted


def with_end_choice(
    choices: tuple[str, ...], length: StoryLength, index: int, language: Language
) -> tuple[str, ...]:
    """The part's choices as players see them: the narrator's, plus "end the story
    here" last when it is offered (the caller never asks this of an ending)."""
    if not offers_end(length, index):
        return choices
    end = text(language, Msg.END_STORY_CHOICE)
    return (*choices[: MAX_CHOICES - 1], end)
