"""What a screen may keep of the messages it will delete later (Telegram's passing notes
in groups), so a restart still deletes them: a port, and its one implementation on top of
the store, so the adapter never holds the store itself."""

from __future__ import annotations

from typing import Protocol

from storycraft_bot.core.models import Platform
from storycraft_bot.core.safety_store import PendingDeletion, SafetyStore

__all__ = ["DeletionRecords", "PendingDeletion", "StoredDeletions"]


class DeletionRecords(Protocol):
    """One platform's messages to delete later."""

    async def keep(self, deletion: PendingDeletion) -> None: ...

    async def pending(self) -> list[PendingDeletion]: ...

    async def drop(self, chat_id: str, message_id: int) -> None: ...


class StoredDeletions:
    """DeletionRecords of `platform` on top of the store."""

    def __init__(self, store: SafetyStore, platform: Platform) -> None:
        self._store = store
        self._platform = platform

    async def keep(self, deletion: PendingDeletion) -> None:
        await self._store.keep_deletion(self._platform, deletion)

    async def pending(self) -> list[PendingDeletion]:
        return await self._store.pending_deletions(self._platform)

    async def drop(self, chat_id: str, message_id: int) -> None:
        await self._store.drop_deletion(self._platform, chat_id, message_id)
