"""What one segment's message should show, whatever the platform.

Both chat adapters keep a StoryCard per shown segment, feed it the engine's events, and
render it with their own widgets (inline keyboard, buttons, embeds). The card holds no
platform ids and makes no calls.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.models import (
    ImageState,
    Language,
    OwnAction,
    Platform,
    Segment,
    SegmentState,
)
from storycraft_bot.core.screen_records import ScreenRecords, ShownSegment
from storycraft_bot.core.texts import Msg, counted, decision_text, text

#: Writes a vote's line from its language and end time ("Voting closes in 45 seconds").
Deadline = Callable[[Language, float], str]

#: Events after which a segment's message is edited at once; others wait for the pace.
URGENT_EVENTS = (
    ev.SegmentFinished,
    ev.SegmentSuperseded,
    ev.ChoiceDecided,
    ev.SegmentFailed,
    ev.PictureReady,
    ev.PictureFailed,
    ev.StoryStopped,
    ev.BallotGrew,
)


def is_urgent(event: ev.StoryEvent) -> bool:
    """Whether the event's edit goes out at once: URGENT_EVENTS, and a restarted narration
    (the discarded text must not stay on screen until the next paced edit)."""
    restarted = isinstance(event, ev.NarrationGrew) and event.restarted
    return restarted or isinstance(event, URGENT_EVENTS)


class CardState(enum.StrEnum):
    """Where a shown segment is in its life."""

    WRITING = "writing"
    OPEN = "open"
    DECIDED = "decided"
    FAILED = "failed"
    STOPPED = "stopped"
    SUPERSEDED = "superseded"


@dataclass
class StoryCard:
    """The live state of one segment as players see it."""

    session_id: int
    segment_id: int
    index: int
    language: Language
    is_group: bool
    state: CardState = CardState.WRITING
    narration: str = ""
    choices: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    closes_at: float | None = None
    decision: str = ""
    failure: str = ""
    picture: str = ""  # the picture's status line ("" when none to show)
    picture_failed: bool = False
    picture_path: str = ""
    picture_dropped: bool = False  # late progress of a dropped picture must not come back
    picture_spoiler: bool = False  # shown hidden until opened (a mature story's)
    own_actions: tuple[OwnAction, ...] = ()  # who typed which of `choices`
    own_actions_allowed: bool = False  # offer "your own action" beside the choices

    @classmethod
    def from_segment(
        cls,
        segment: Segment,
        language: Language,
        is_group: bool,
        *,
        spoiler: bool = False,
        own_actions: bool = False,
    ) -> StoryCard:
        """Rebuild a card from the database (after a restart)."""
        state = {
            SegmentState.GENERATING: CardState.WRITING,
            SegmentState.OPEN: CardState.OPEN,
            SegmentState.DECIDED: CardState.DECIDED,
            SegmentState.FAILED: CardState.FAILED,
        }.get(segment.state, CardState.DECIDED)
        card = cls(segment.session_id, segment.id, segment.index, language, is_group, state)
        card.narration = segment.narration
        card.choices = segment.choices
        card.counts = (0,) * len(segment.choices)
        card.closes_at = segment.vote_closes_at
        card.picture_spoiler = spoiler
        card.own_actions = segment.own_actions
        card.own_actions_allowed = own_actions
        if segment.state is SegmentState.FAILED:
            card.failure = text(language, Msg.NARRATOR_UNAVAILABLE)
        if segment.image_state is ImageState.READY:
            card.picture_path = segment.image_file
        elif segment.image_state is ImageState.FAILED:
            card.picture_failed = True
        return card

    @property
    def is_open(self) -> bool:
        return self.state is CardState.OPEN

    @property
    def can_redraw(self) -> bool:
        """The picture failed on a part that still counts: offer a redraw."""
        return self.picture_failed and self.state in (CardState.OPEN, CardState.DECIDED)

    @property
    def settled(self) -> bool:
        """Nothing more will change on this card's message unless a picture is still coming
        (decided, superseded or stopped)."""
        return self.state in (CardState.DECIDED, CardState.SUPERSEDED, CardState.STOPPED)

    @property
    def picture_pending(self) -> bool:
        """A picture is queued or being drawn for this card."""
        return bool(self.picture) and not self.picture_failed

    @property
    def can_own_action(self) -> bool:
        """The part is open and its story lets players type their own action."""
        return self.is_open and self.own_actions_allowed

    @property
    def can_close_vote(self) -> bool:
        """A group vote is running with at least one vote (the starter may end it)."""
        return self.is_open and self.is_group and any(self.counts)

    @property
    def can_reroll(self) -> bool:
        """An open part with choices: its starter or a moderator may ask for others."""
        return self.is_open and bool(self.choices)

    def reopens(self, event: ev.StoryEvent) -> bool:
        """Undo is showing this (already decided) segment again: its old message should be
        marked undone and the segment shown afresh at the bottom of the chat."""
        return isinstance(event, ev.SegmentFinished) and self.state in (
            CardState.DECIDED,
            CardState.SUPERSEDED,
        )

    def mark_undone(self) -> None:
        """Undo took this part's choice back: the old message says so, without buttons."""
        self.state = CardState.SUPERSEDED
        self.failure = ""
        self.decision = text(self.language, Msg.PART_UNDONE)
        self.drop_picture()

    def drop_picture(self) -> None:
        """No picture is coming for this message (retry, undo, stop): clear its line."""
        if not self.picture_failed:
            self.picture = ""
        self.picture_dropped = True

    def fresh(self) -> StoryCard:
        """A new card for the same segment (for a new message), keeping its picture."""
        card = StoryCard(self.session_id, self.segment_id, self.index, self.language, self.is_group)
        card.picture_path = self.picture_path
        card.picture_spoiler = self.picture_spoiler
        return card

    def apply(self, event: ev.StoryEvent) -> None:
        """Update from an engine event about this segment."""
        match event:
            case ev.NarrationGrew():
                self.narration = event.text
            case ev.SegmentFinished():  # also when undo reopens an older segment
                segment = event.segment
                self.state = CardState.OPEN
                self.failure = ""
                self.narration = segment.narration
                self.choices = segment.choices
                self.counts = (0,) * len(segment.choices)
                self.closes_at = segment.vote_closes_at
                self.decision = ""
                self.own_actions = segment.own_actions
                self.own_actions_allowed = event.own_actions
            case ev.BallotGrew():
                grown = event.segment.choices
                self.counts = (*self.counts, *(0,) * (len(grown) - len(self.counts)))
                self.choices = grown
                self.own_actions = event.segment.own_actions
            case ev.VotesChanged():
                self.counts = event.tally.counts
                self.closes_at = event.tally.closes_at
            case ev.ChoiceDecided():
                self.state = CardState.DECIDED
                self.decision = decision_text(
                    self.language, event.decided_by, event.choice_text, event.votes
                )
            case ev.SegmentSuperseded():
                self.mark_undone()
                self.decision = text(
                    self.language,
                    Msg.PART_RETRIED if event.reason is ev.Superseded.RETRIED else Msg.PART_UNDONE,
                )
            case ev.SegmentFailed():
                self.state = CardState.FAILED
                self.failure = text(self.language, event.reason)
            case ev.PictureQueued():
                self.picture = text(self.language, Msg.PICTURE_QUEUED, ahead=event.ahead)
                self.picture_failed = False
                self.picture_dropped = False
            case ev.PictureProgress() if not self.picture_dropped:
                self.picture = text(self.language, Msg.PICTURE_DRAWING, percent=event.percent)
                self.picture_failed = False
            case ev.PictureReady():
                self.picture = ""
                self.picture_failed = False
                self.picture_dropped = True  # no more progress for this picture
                self.picture_path = event.path
                self.picture_spoiler = event.spoiler
            case ev.PictureFailed():
                self.picture = (
                    ""
                    if event.outage
                    else text(self.language, Msg.PICTURE_FAILED, reason=event.reason)
                )
                self.picture_failed = not event.outage
                self.picture_dropped = True  # no more progress for this picture
            case ev.PictureDropped():
                self.drop_picture()
            case ev.StoryStopped():
                if self.state in (CardState.OPEN, CardState.WRITING):
                    self.state = CardState.STOPPED
                self.drop_picture()
            case _:
                pass

    def status_lines(self, deadline: Deadline) -> list[str]:
        """Lines under the narration: writing, votes, decision, failure, picture.
        `deadline` writes when the vote ends, the platform's way (see `closes_in`)."""
        lines: list[str] = []
        if self.state is CardState.WRITING:
            lines.append(text(self.language, Msg.WRITING))
        if self.is_open and self.is_group and self.closes_at is not None:
            lines.append("🗳 " + deadline(self.language, self.closes_at))
        if self.decision:
            lines.append(("↩ " if self.state is CardState.SUPERSEDED else "» ") + self.decision)
        if self.failure:
            lines.append("⚠️ " + self.failure)
        if self.picture:
            lines.append(self.picture)
        return lines

    def choice_label(self, index: int, limit: int) -> str:
        """A button's label: the choice, with its vote count in a group."""
        label = self.choices[index]
        own = next((a for a in self.own_actions if a.choice_index == index), None)
        if own is not None:  # a player typed it: their name goes with it
            label = f"✍️ {own.user_name}: {label}"
        if self.is_group and self.counts and self.counts[index]:
            suffix = f" · {self.counts[index]}"
            label = label[: limit - len(suffix)] + suffix
        return label[:limit]


def closes_in(clock: Clock) -> Deadline:
    """A vote's end counted from `clock`'s now ("closes in 45 seconds", "in 2 minutes"),
    for screens that cannot show a time in each reader's own time zone."""

    def line(language: Language, closes_at: float) -> str:
        left = math.ceil(closes_at - clock.now())
        if left <= 0:
            return text(language, Msg.VOTE_CLOSING)
        # Under 90 s in seconds; beyond, whole minutes are precise enough and change less.
        amount = (
            counted(language, "seconds", left)
            if left < 90
            else counted(language, "minutes", round(left / 60))
        )
        return text(language, Msg.VOTE_CLOSES_IN, left=amount)

    return line


async def load_card(
    records: ScreenRecords, segment_id: int, platform: Platform
) -> tuple[StoryCard, ShownSegment] | None:
    """A segment's card and what is stored of its messages, after a restart."""
    shown = await records.shown_segment(segment_id, platform)
    if shown is None:
        return None
    card = StoryCard.from_segment(
        shown.segment,
        shown.language,
        shown.is_group,
        spoiler=shown.spoiler,
        own_actions=shown.own_actions,
    )
    return card, shown


def stopped_text(event: ev.StoryStopped, book_command: str) -> str:
    """What a screen says when a story is over: "The end", a summary line and the way to
    the book for one that reached its ending (issue 16), the stop notice otherwise."""
    if not isinstance(event, ev.StoryEnded):
        return text(event.language, Msg.STORY_STOPPED)
    lang = event.language
    return "\n".join(
        (
            text(lang, Msg.THE_END),
            text(lang, Msg.ENDING_SUMMARY, title=event.title, parts=event.parts),
            text(lang, Msg.ENDING_BOOK, command=book_command),
        )
    )
