"""A story as a book: its chosen path only, for every screen to render.

Parts rewritten (retry) or taken back (undo) are not in it; a part still being written
or one that failed has no text yet and is left out too. A running story's book is the
story so far.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storycraft_bot.core.models import (
    DecidedBy,
    ImageState,
    Language,
    Segment,
    SegmentState,
    Session,
    SessionState,
)
from storycraft_bot.core.texts import Msg, genre_name, text

#: Longest title taken from a premise (cut at a word border).
TITLE_CHARS = 80


@dataclass(frozen=True, slots=True)
class BookPart:
    """One part on the chosen path."""

    index: int  # the part's place in the story, from 0
    narration: str
    #: The choice that led on from this part; None while it is still open.
    choice: str | None
    decided_by: DecidedBy | None
    #: The picture's file when it is ready; None otherwise.
    picture: str | None
    #: The segment this part is, so a screen can find the messages that showed it.
    segment_id: int = 0

    @property
    def number(self) -> int:
        """The part's number as readers count (from 1)."""
        return self.index + 1


@dataclass(frozen=True, slots=True)
class Book:
    """A story's chosen path with what a cover needs."""

    book_id: str
    title: str
    language: Language
    genre: str
    premise: str
    started_at: float
    #: When the story was stopped; None while it goes on.
    ended_at: float | None
    parts: tuple[BookPart, ...]

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


def compile_book(session: Session, segments: Iterable[Segment]) -> Book:
    """The book of `session` from its segments (any order, superseded ones included)."""
    path = sorted(
        (s for s in segments if s.state in (SegmentState.OPEN, SegmentState.DECIDED)),
        key=lambda s: s.index,
    )
    stopped = session.state is SessionState.STOPPED
    return Book(
        book_id=session.book_id,
        title=book_title(session),
        language=session.language,
        genre=genre_name(session.language, session.genre),
        premise=session.premise,
        started_at=session.created_at,
        ended_at=session.updated_at if stopped else None,
        parts=tuple(_part(s) for s in path),
    )


def book_title(session: Session) -> str:
    """The premise's first line, cut at a word border; the genre when there is none."""
    line = session.premise.strip().splitlines()[0].strip() if session.premise.strip() else ""
    if not line:
        genre = genre_name(session.language, session.genre)
        return text(session.language, Msg.BOOK_UNTITLED, genre=genre)
    if len(line) <= TITLE_CHARS:
        return line
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0] or line[:TITLE_CHARS]
    return cut.rstrip(" ,.;:—-") + "…"


def _part(segment: Segment) -> BookPart:
    chosen = segment.chosen_index
    choice = None
    if segment.state is SegmentState.DECIDED and chosen is not None:
        choice = segment.choices[chosen] if 0 <= chosen < len(segment.choices) else None
    ready = segment.image_state is ImageState.READY and bool(segment.image_file)
    return BookPart(
        index=segment.index,
        narration=segment.narration,
        choice=choice,
        decided_by=segment.decided_by if choice is not None else None,
        picture=segment.image_file if ready else None,
        segment_id=segment.id,
    )
