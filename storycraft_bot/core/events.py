"""What the engine tells the adapters. Each event is a small frozen dataclass; an adapter
turns it into platform calls (send, edit, keyboard, photo)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storycraft_bot.core.models import ChannelKey, DecidedBy, Language, Segment, VoteTally
from storycraft_bot.core.texts import Msg


@dataclass(frozen=True, slots=True)
class StoryEvent:
    """Base: every event names the channel and the story's language."""

    key: ChannelKey
    session_id: int
    language: Language


@dataclass(frozen=True, slots=True)
class SegmentStarted(StoryEvent):
    """A new segment is being written; show a placeholder message. `resumed`: it rewrites
    a part cut off by a restart, whose messages (if any were stored) now belong to it and
    should be written over in place."""

    segment_id: int
    index: int
    is_group: bool
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class NarrationGrew(StoryEvent):
    """More narration arrived (already throttled by the engine). `restarted`: what was
    shown of this segment is discarded (the narrator asks again); `text` starts over."""

    segment_id: int
    text: str
    restarted: bool = False


@dataclass(frozen=True, slots=True)
class SegmentFinished(StoryEvent):
    """The segment is stored with its choices; show them as buttons."""

    segment: Segment
    is_group: bool
    #: The story lets players type their own action (a button beside the choices).
    own_actions: bool = True


@dataclass(frozen=True, slots=True)
class VotesChanged(StoryEvent):
    """Live vote counts (adapters throttle their own edits)."""

    tally: VoteTally


@dataclass(frozen=True, slots=True)
class ChoiceDecided(StoryEvent):
    """The choice is made; replace the buttons with the decision."""

    segment_id: int
    choice_index: int
    choice_text: str
    decided_by: DecidedBy
    votes: int


class Superseded(enum.StrEnum):
    """Why a segment was replaced."""

    RETRIED = "retried"
    UNDONE = "undone"


@dataclass(frozen=True, slots=True)
class SegmentSuperseded(StoryEvent):
    """Retry or undo replaced this segment: its choices are closed for good."""

    segment_id: int
    reason: Superseded


@dataclass(frozen=True, slots=True)
class SegmentFailed(StoryEvent):
    """The narrator could not write the segment; `reason` says why, for players."""

    segment_id: int
    reason: Msg


@dataclass(frozen=True, slots=True)
class PictureQueued(StoryEvent):
    """The segment's picture waits; `ahead` jobs are before it."""

    segment_id: int
    ahead: int


@dataclass(frozen=True, slots=True)
class PictureProgress(StoryEvent):
    """The picture is being drawn (0-100)."""

    segment_id: int
    percent: int


@dataclass(frozen=True, slots=True)
class PictureReady(StoryEvent):
    """The picture file is ready to attach; a `spoiler` (a mature story's) is shown hidden
    until a reader opens it."""

    segment_id: int
    path: str
    spoiler: bool = False


@dataclass(frozen=True, slots=True)
class PictureFailed(StoryEvent):
    """The picture could not be drawn; `reason` is short and user-safe. With `outage`
    (no server answers) the engine has already said once that pictures are off, so the
    adapter only clears the picture's status and offers no redraw."""

    segment_id: int
    reason: str
    outage: bool = False


@dataclass(frozen=True, slots=True)
class PictureDropped(StoryEvent):
    """The picture will not come (replaced by a newer one, or cancelled): clear its status."""

    segment_id: int


@dataclass(frozen=True, slots=True)
class StoryStopped(StoryEvent):
    """The story ended; `segment_id` is its newest segment (its buttons should go)."""

    segment_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoryEnded(StoryStopped):
    """The story reached its ending (issue 16): show "The end", a summary line (its
    `title` and `parts`) and the way to its book."""

    title: str = ""
    parts: int = 0


@dataclass(frozen=True, slots=True)
class Notice(StoryEvent):
    """A short message for the channel; `code` is a catalogue key."""

    code: Msg
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BallotGrew(StoryEvent):
    """A player's own action joined the open part's ballot (its last choice, with its
    author in `segment.own_actions`): show it as one more button."""

    segment: Segment


def segment_of(event: StoryEvent) -> int | None:
    """The segment an event is about, if any (what adapters key their messages on)."""
    if isinstance(event, SegmentFinished | BallotGrew):
        return event.segment.id
    if isinstance(event, VotesChanged):
        return event.tally.segment_id
    segment_id = getattr(event, "segment_id", None)
    return segment_id if isinstance(segment_id, int) else None
