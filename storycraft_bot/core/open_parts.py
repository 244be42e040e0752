"""The open part a press or a typed action is for: one check for every way of choosing."""

from __future__ import annotations

import asyncio

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Place, Segment, SegmentState, Session, SessionState
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.texts import Msg


async def open_part(store: StoryStore, place: Place, segment_id: int) -> tuple[Session, Segment]:
    """The place's live story and its open part `segment_id`. A part of a story that
    reached its ending says so; any other stale or forged part id is a part that is over."""
    # Both reads at once: under load each trip waits its turn at the database.
    session, segment = await asyncio.gather(
        store.live_session(place.key), store.get_segment(segment_id)
    )
    if segment is not None and (session is None or segment.session_id != session.id):
        owner = await store.get_session(segment.session_id)
        if owner is not None and owner.ended and owner.place.key == place.key:
            raise StoryActionError(Msg.STORY_HAS_ENDED)
    if (
        session is None
        or session.state is not SessionState.ACTIVE
        or segment is None
        or segment.session_id != session.id
        or segment.state is not SegmentState.OPEN
    ):
        raise StoryActionError(Msg.PART_OVER)
    return session, segment


def starts(session: Session, actor: Actor) -> bool:
    """Whether `actor` started the story (who chooses in `starter` mode)."""
    return actor.user_id == session.starter.user_id
