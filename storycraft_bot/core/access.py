"""Who may do what to a story, and whether a button's part is still the one acted on."""

from __future__ import annotations

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Segment, Session
from storycraft_bot.core.texts import Msg


def require_manager(session: Session, actor: Actor) -> None:
    """Only the starter or a moderator may stop, retry, undo or change settings."""
    if actor.user_id != session.starter.user_id and not actor.can_moderate:
        raise StoryActionError(Msg.NOT_ALLOWED)


def require_part(segment: Segment | None, segment_id: int | None) -> None:
    """A button names the part it was posted on: it acts only while that part is the one
    the action applies to (a command, `segment_id` None, acts on whichever is)."""
    if segment_id is not None and (segment is None or segment.id != segment_id):
        raise StoryActionError(Msg.PART_OVER)
