"""Queries for arcs and votes of issue 16 (migration 012), shared by both backends:
a story that reached its ending, and a group vote's window moved or extended."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storycraft_bot.storage.sql_store import Tx


class ArcQueries:
    """StoryStore methods for endings and vote windows, over the backend's transactions."""

    def _tx(self) -> AbstractAsyncContextManager[Tx]:
        raise NotImplementedError

    async def end_session(self, session_id: int, now: float) -> None:
        async with self._tx() as tx:
            await tx.run(
                "UPDATE sessions SET state = 'stopped', ended_at = ?, updated_at = ?"
                " WHERE id = ? AND state != 'stopped'",
                (now, now, session_id),
            )

    async def move_vote_deadline(
        self, segment_id: int, closes_at: float | None, extensions: int
    ) -> None:
        async with self._tx() as tx:
            await tx.run(
                "UPDATE segments SET vote_closes_at = ?, vote_extensions = ?"
                " WHERE id = ? AND state = 'open'",
                (closes_at, extensions, segment_id),
            )
