"""Ending a story that reached its last part (issue 16), and shaping a part's choices to
its place in the arc."""

from __future__ import annotations

import logging
from dataclasses import replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.arc import Arc, with_end_choice
from storycraft_bot.core.book import compile_book
from storycraft_bot.core.models import Segment, SegmentDraft, Session
from storycraft_bot.core.store import StoryStore

log = logging.getLogger(__name__)


def shaped(draft: SegmentDraft, arc: Arc | None, session: Session, index: int) -> SegmentDraft:
    """The narrator's draft as the part keeps it: an ending has no choices whatever the
    reply held; a part near the end gets "end the story here" as its last choice."""
    if arc is None:
        return draft
    if arc.ending:
        return replace(draft, choices=())
    choices = with_end_choice(draft.choices, session.settings.length, index, session.language)
    return replace(draft, choices=choices)


async def end_story(
    store: StoryStore, announce: Announcer, session: Session, ending: Segment, now: float
) -> None:
    """The ending is written: the story is over (its channel free for a new one), and the
    screens say "The end" with a summary line and the way to the book."""
    await store.end_session(session.id, now)
    segments = await store.live_segments(session.id)
    book = compile_book(replace(session, ended=True), segments)
    log.info("story %d ended after %d parts", session.id, len(segments))
    await announce(
        ev.StoryEnded(
            session.place.key,
            session.id,
            session.language,
            ending.id,
            title=book.title,
            parts=len(segments),
        )
    )
