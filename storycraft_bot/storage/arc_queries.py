"""Queries for arcs and votes of issue 16 (migration 012), shared by both backends:
a story that reached its ending, and a group vote's window moved or extended."""

from __future__ import annotations

import json

from storycraft_bot.core.errors import StorageError
from storycraft_bot.core.models import Segment
from storycraft_bot.storage.sql_protocols import SqlBackend


class ArcQueries(SqlBackend):
    """StoryStore methods for endings and vote windows, over the backend's transactions."""

    async def get_segment(self, segment_id: int) -> Segment | None:
        raise NotImplementedError

    async def end_session(self, session_id: int, now: float) -> None:
        await self._run(
            "UPDATE sessions SET state = 'stopped', ended_at = ?, updated_at = ?"
            " WHERE id = ? AND state != 'stopped'",
            (now, now, session_id),
        )

    async def move_vote_deadline(
        self, segment_id: int, closes_at: float | None, extensions: int
    ) -> None:
        await self._run(
            "UPDATE segments SET vote_closes_at = ?, vote_extensions = ?"
            " WHERE id = ? AND state = 'open'",
            (closes_at, extensions, segment_id),
        )

    async def replace_choices(self, segment_id: int, choices: tuple[str, ...]) -> Segment:
        """New choices for an open part; its votes (for the old ones) are dropped."""
        async with self._tx() as tx:
            await tx.run(
                "UPDATE segments SET choices = ? WHERE id = ? AND state = 'open'",
                (json.dumps(list(choices), ensure_ascii=False), segment_id),
            )
            await tx.run("DELETE FROM votes WHERE segment_id = ?", (segment_id,))
        segment = await self.get_segment(segment_id)
        if segment is None:
            raise StorageError(f"segment {segment_id} vanished")
        return segment
