"""The SafetyStore queries (issue 15), for both backends: blocked patterns per place,
cooldowns per user, redo counts per part, refusals of typed text."""

from __future__ import annotations

from storycraft_bot.core.models import Platform
from storycraft_bot.core.safety_store import (
    BlockedPattern,
    LimitedAction,
    PendingDeletion,
    RedoKind,
    RefusalReason,
)
from storycraft_bot.storage.sql_protocols import SqlBackend

#: Safety's tables, in the order copy-db fills them (after sql_store's).
SAFETY_TABLES = (
    "blocked_patterns",
    "user_cooldowns",
    "part_redos",
    "moderation_refusals",
    "pending_deletions",
)


class SafetyQueries(SqlBackend):
    """The SafetyStore methods over the backend's transactions and reads (see SqlStore)."""

    async def blocked_patterns(self, platform: Platform, guild_id: str) -> list[BlockedPattern]:
        rows = await self._all(
            "SELECT pattern, added_by, added_at FROM blocked_patterns"
            " WHERE platform = ? AND guild_id = ? ORDER BY added_at, pattern",
            (platform.value, guild_id),
        )
        return [BlockedPattern(r["pattern"], r["added_by"], r["added_at"]) for r in rows]

    async def add_blocked_pattern(
        self, platform: Platform, guild_id: str, pattern: BlockedPattern
    ) -> bool:
        added = await self._run(
            "INSERT INTO blocked_patterns (platform, guild_id, pattern, added_by, added_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (platform, guild_id, pattern) DO NOTHING",
            (platform.value, guild_id, pattern.pattern, pattern.added_by, pattern.added_at),
        )
        return added > 0

    async def remove_blocked_pattern(self, platform: Platform, guild_id: str, pattern: str) -> bool:
        removed = await self._run(
            "DELETE FROM blocked_patterns WHERE platform = ? AND guild_id = ? AND pattern = ?",
            (platform.value, guild_id, pattern),
        )
        return removed > 0

    async def take_cooldown(
        self, platform: Platform, user_id: str, action: LimitedAction, now: float, seconds: float
    ) -> float | None:
        async with self._tx() as tx:
            # One statement: of two requests at once only one finds the cooldown over.
            taken = await tx.run(
                "INSERT INTO user_cooldowns (platform, user_id, action, last_at)"
                " VALUES (?,?,?,?) ON CONFLICT (platform, user_id, action) DO UPDATE"
                " SET last_at = excluded.last_at WHERE user_cooldowns.last_at <= ?",
                (platform.value, user_id, action.value, now, now - seconds),
            )
            if taken:
                return None
            row = await tx.one(
                "SELECT last_at FROM user_cooldowns"
                " WHERE platform = ? AND user_id = ? AND action = ?",
                (platform.value, user_id, action.value),
            )
        return float(row["last_at"]) if row else now

    async def last_done(
        self, platform: Platform, user_id: str, action: LimitedAction
    ) -> float | None:
        row = await self._one(
            "SELECT last_at FROM user_cooldowns WHERE platform = ? AND user_id = ? AND action = ?",
            (platform.value, user_id, action.value),
        )
        return float(row["last_at"]) if row else None

    async def live_stories_of(self, platform: Platform, user_id: str) -> int:
        row = await self._one(
            "SELECT COUNT(*) AS n FROM sessions"
            " WHERE platform = ? AND starter_id = ? AND state != 'stopped'",
            (platform.value, user_id),
        )
        return int(row["n"]) if row else 0

    async def take_redo(self, session_id: int, index: int, kind: RedoKind, cap: int) -> bool:
        counted = await self._run(
            "INSERT INTO part_redos (session_id, idx, action, count) VALUES (?,?,?,1)"
            " ON CONFLICT (session_id, idx, action) DO UPDATE"
            " SET count = part_redos.count + 1 WHERE part_redos.count < ?",
            (session_id, index, kind.value, cap),
        )
        return counted > 0

    async def note_refusal(
        self, platform: Platform, guild_id: str, user_id: str, reason: RefusalReason, now: float
    ) -> None:
        await self._run(
            "INSERT INTO moderation_refusals (platform, guild_id, user_id, reason, at)"
            " VALUES (?,?,?,?,?)",
            (platform.value, guild_id, user_id, reason.value, now),
        )

    async def keep_deletion(self, platform: Platform, deletion: PendingDeletion) -> None:
        await self._run(
            "INSERT INTO pending_deletions (platform, chat_id, message_id, due_at)"
            " VALUES (?,?,?,?) ON CONFLICT (platform, chat_id, message_id) DO UPDATE"
            " SET due_at = excluded.due_at",
            (platform.value, deletion.chat_id, deletion.message_id, deletion.due_at),
        )

    async def pending_deletions(self, platform: Platform) -> list[PendingDeletion]:
        rows = await self._all(
            "SELECT chat_id, message_id, due_at FROM pending_deletions WHERE platform = ?"
            " ORDER BY due_at, chat_id, message_id",
            (platform.value,),
        )
        return [PendingDeletion(r["chat_id"], int(r["message_id"]), r["due_at"]) for r in rows]

    async def drop_deletion(self, platform: Platform, chat_id: str, message_id: int) -> None:
        await self._run(
            "DELETE FROM pending_deletions WHERE platform = ? AND chat_id = ? AND message_id = ?",
            (platform.value, chat_id, message_id),
        )
