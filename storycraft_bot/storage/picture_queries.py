"""The one read a picture report needs (queue positions and progress come many times a
picture) and the one write that queues a picture, for both backends; mixed into the stores."""

from __future__ import annotations

from storycraft_bot.core.models import ImagePrompt, ImageState, Session
from storycraft_bot.storage.sql_store import SqlStore, _session


class PictureQueries(SqlStore):
    """picture_target and queue_picture of the StoryStore port."""

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

    async def queue_picture(self, segment_id: int, prompt: ImagePrompt | None) -> None:
        if prompt is None:
            await self._run(
                "UPDATE segments SET image_state = 'queued' WHERE id = ?", (segment_id,)
            )
            return
        await self._run(
            "UPDATE segments SET image_prompt = ?, image_negative = ?,"
            " image_prompt_source = ?, image_state = 'queued' WHERE id = ?",
            (prompt.positive, prompt.negative, prompt.source.value, segment_id),
        )
