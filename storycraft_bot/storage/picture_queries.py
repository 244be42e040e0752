"""The one read a picture report needs (queue positions and progress come many times a
picture), for both backends; mixed into the stores."""

from __future__ import annotations

from storycraft_bot.core.models import ImageState, Session
from storycraft_bot.storage.sql_store import SqlStore, _session


class PictureQueries(SqlStore):
    """picture_target of the StoryStore port."""

    async def picture_target(
        self, session_id: int, segment_id: int
    ) -> tuple[Session, ImageState] | None:
        row = await self._one(
            "SELECT sessions.*, segments.image_state AS picture_state"
            " FROM segments JOIN sessions ON sessions.id = segments.session_id"
            " WHERE segments.id = ? AND segments.session_id = ?"
            " AND segments.state != 'superseded'",
            (segment_id, session_id),
        )
        return (_session(row), ImageState(row["picture_state"])) if row else None
