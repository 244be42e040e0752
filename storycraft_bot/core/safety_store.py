"""The store port for safety (issue 15): blocked patterns per place, cooldowns per user,
redo counts per part, and the record of refused typed text."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from storycraft_bot.core.models import Platform


class LimitedAction(enum.StrEnum):
    """What a user may do only once per cooldown."""

    START = "start"
    OWN_ACTION = "own_action"


class RedoKind(enum.StrEnum):
    """What may be done only so often per part of a story."""

    RETRY = "retry"
    REDRAW = "redraw"


class RefusalReason(enum.StrEnum):
    """Why typed text was refused (kept with the user id)."""

    BLOCKED = "blocked"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class PendingDeletion:
    """A message a screen posted to delete at `due_at` (a note in a group)."""

    chat_id: str
    message_id: int
    due_at: float


@dataclass(frozen=True, slots=True)
class BlockedPattern:
    """A word, phrase or `/regex/` a place refuses in typed text."""

    pattern: str
    added_by: str
    added_at: float


class SafetyStore(Protocol):
    """What core/blocklist.py and core/limits.py keep; every write committed at once."""

    async def blocked_patterns(self, platform: Platform, guild_id: str) -> list[BlockedPattern]:
        """The place's patterns, oldest first."""
        ...

    async def add_blocked_pattern(
        self, platform: Platform, guild_id: str, pattern: BlockedPattern
    ) -> bool:
        """Keep `pattern`; False if the place had it already."""
        ...

    async def remove_blocked_pattern(self, platform: Platform, guild_id: str, pattern: str) -> bool:
        """Forget `pattern`; False if the place did not have it."""
        ...

    async def take_cooldown(
        self, platform: Platform, user_id: str, action: LimitedAction, now: float, seconds: float
    ) -> float | None:
        """Mark `action` done now unless it was done less than `seconds` ago; None when
        taken, else when it was last done."""
        ...

    async def last_done(
        self, platform: Platform, user_id: str, action: LimitedAction
    ) -> float | None:
        """When the user last did `action` (None: never)."""
        ...

    async def live_stories_of(self, platform: Platform, user_id: str) -> int:
        """How many active or paused stories the user started on this platform."""
        ...

    async def take_redo(self, session_id: int, index: int, kind: RedoKind, cap: int) -> bool:
        """Count one more `kind` on part `index` unless it has `cap` already; False then."""
        ...

    async def note_refusal(
        self, platform: Platform, guild_id: str, user_id: str, reason: RefusalReason, now: float
    ) -> None:
        """Keep a refusal of typed text with who typed it."""
        ...

    async def keep_deletion(self, platform: Platform, deletion: PendingDeletion) -> None:
        """Remember a message to delete later (it survives a restart)."""
        ...

    async def pending_deletions(self, platform: Platform) -> list[PendingDeletion]:
        """The platform's messages still to delete, soonest first."""
        ...

    async def drop_deletion(self, platform: Platform, chat_id: str, message_id: int) -> None:
        """Forget a message once deleted (or given up on)."""
        ...
