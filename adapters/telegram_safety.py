"""Telegram's side of safety (issue 15): refusals a group must not see become short
notes that delete themselves, administrators manage blocked words with `/settings block
...`, and `/settings` without a story sets the chat's default rating."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.models import GuildDefaults, Language, Rating
from storycraft_bot.core.pending_deletions import DeletionRecords, PendingDeletion
from storycraft_bot.core.texts import Msg, rating_name, text

#: How long a note in a group stays before it deletes itself.
NOTE_SECONDS = 15.0

log = logging.getLogger(__name__)


class Notes:
    """Notes in group chats that delete themselves after `seconds` on the clock; kept in
    `records` until deleted, so a restart deletes them too."""

    def __init__(
        self,
        bot: Bot,
        clock: Clock,
        records: DeletionRecords | None = None,
        seconds: float = NOTE_SECONDS,
    ) -> None:
        self._bot = bot
        self._clock = clock
        self._records = records
        self._seconds = seconds
        self._deletions: set[asyncio.Task[None]] = set()

    async def post(self, to: Message, note: str) -> None:
        """Reply to `to` with `note`, deleted after a while."""
        # Timed from before sending: shown at most that long, however late the answer.
        due_at = self._clock.now() + self._seconds
        try:
            sent = await to.reply_text(note)
        except TelegramError as err:
            log.warning("Telegram: note in %s failed: %s", to.chat_id, err)
            return
        due = PendingDeletion(str(sent.chat_id), sent.message_id, due_at)
        if self._records is not None:
            try:
                await self._records.keep(due)
            except Exception:  # the note still goes, if not after a restart
                log.exception("Telegram: could not keep note %s for deletion", sent.message_id)
        self._schedule(due)

    async def resume(self) -> None:
        """Schedule the notes a restart left undeleted (late ones at once)."""
        if self._records is not None:
            for due in await self._records.pending():
                self._schedule(due)

    def _schedule(self, due: PendingDeletion) -> None:
        task = asyncio.create_task(self._delete_at(due))
        self._deletions.add(task)
        task.add_done_callback(self._deletions.discard)

    async def delete(self, chat_id: int, message_id: int) -> None:
        """Delete a message if Telegram lets us (a member's message needs the bot to be an
        administrator); a refusal is only logged."""
        try:
            await self._bot.delete_message(chat_id, message_id)
        except TelegramError as err:
            log.info("Telegram: could not delete message %s in %s: %s", message_id, chat_id, err)

    async def close(self) -> None:
        """Cancel the pending deletions (at shutdown)."""
        for task in list(self._deletions):
            task.cancel()
        await asyncio.gather(*self._deletions, return_exceptions=True)

    async def _delete_at(self, due: PendingDeletion) -> None:
        await self._clock.sleep(due.due_at - self._clock.now())
        await self.delete(int(due.chat_id), due.message_id)
        if self._records is not None:  # deleted, or gone already: either way done
            try:
                await self._records.drop(due.chat_id, due.message_id)
            except Exception:  # tried again after the next restart: no harm
                log.exception("Telegram: could not forget deleted note %s", due.message_id)


def chat_defaults(
    language: Language, defaults: GuildDefaults, ratings: tuple[Rating, ...]
) -> tuple[str, InlineKeyboardMarkup]:
    """`/settings` with no story: the chat's default rating, with a button per rating
    (`s:r:<n>`, the story keyboard's own data)."""
    current = defaults.rating or Rating.SAFE
    buttons = [
        InlineKeyboardButton(
            ("✓ " if rating is current else "")
            + text(language, Msg.RATING_BUTTON, rating=rating_name(language, rating)),
            callback_data=f"s:r:{number}",
        )
        for number, rating in enumerate(ratings)
    ]
    title = text(language, Msg.CHAT_DEFAULTS, rating=rating_name(language, current))
    return title, InlineKeyboardMarkup([buttons])
