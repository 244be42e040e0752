"""What the engine answers without changing anything: a story's status and its book."""

from __future__ import annotations

from storycraft_bot.core.book import Book, compile_book
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    Place,
    SegmentState,
    Session,
    StatusReport,
)
from storycraft_bot.core.prewriting import Prewriter
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg


class StoryReader:
    """Status reports and books, read from the store."""

    def __init__(self, store: StoryStore, prewriter: Prewriter) -> None:
        self._store = store
        self._prewriter = prewriter

    async def status(self, session: Session, viewer: Actor | None) -> StatusReport:
        """The story, its current segment and votes; the prewriting of the open part too
        when the `viewer` is the starter."""
        segments = await self._store.live_segments(session.id)
        current = segments[-1] if segments else None
        tally = None
        if current is not None and current.state is SegmentState.OPEN and session.place.is_group:
            tally = await self._store.tally(current)
        memory = await self._store.memory(session.id)
        drafts = None
        if viewer is not None and viewer.user_id == session.starter.user_id:
            drafts = await self._prewriter.state(session, current)
        return StatusReport(session, len(segments), current, tally, memory, drafts)

    async def book(self, where: Place | Session) -> Book:
        """The book of a story (the channel's newest, live or stopped, for a place): its
        chosen path so far. StoryActionError(NO_STORY) if the channel never had one."""
        session = where if isinstance(where, Session) else None
        if isinstance(where, Place):
            session = await self._store.latest_session(where.key)
        if session is None:
            raise StoryActionError(Msg.NO_STORY)
        # Read afresh: a Session handed in may be older than its stop.
        session = await self._store.get_session(session.id) or session
        return compile_book(session, await self._store.live_segments(session.id))

    async def book_by_id(self, book_id: str) -> Book | None:
        """The book with this (unguessable, read-only) id; None for an unknown id."""
        session = await self._store.session_by_book(book_id)
        return None if session is None else await self.book(session)
