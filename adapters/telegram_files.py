"""Files players send the Telegram bot: a character card as a document captioned
/story (or a /story reply to one), a lorebook as a document captioned /lorebook (or a
/lorebook reply to one). Sizes Telegram reports are checked before downloading, and the
bytes again after (a forged update can claim any size)."""

from __future__ import annotations

import logging

from telegram import Document, Message
from telegram.error import TelegramError

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.texts import Msg

from .card_input import check_size

log = logging.getLogger(__name__)

#: A caption that is a command for a file: "/story", "/story@Bot premise", "/lorebook".
CAPTION_COMMAND = r"^/(story|lorebook)(@\w+)?(\s|$)"


def caption_argument(message: Message) -> str:
    """What follows the command word of the caption (a premise to go with a card)."""
    parts = (message.caption or "").split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def caption_word(message: Message) -> str:
    """The caption's command without its slash and bot name ("story", "lorebook")."""
    first = (message.caption or "").split(maxsplit=1)
    return first[0].lstrip("/").split("@")[0].lower() if first else ""


def caption_for(message: Message, username: str) -> bool:
    """False for a caption command addressed to another bot (`/story@OtherBot`)."""
    first = (message.caption or "").split(maxsplit=1)
    _, at, name = first[0].partition("@") if first else ("", "", "")
    return not at or name.lower() == username.lower()


def sent_document(message: Message | None) -> Document | None:
    """The document of the message, else of the message it answers."""
    if message is None:
        return None
    if message.document is not None:
        return message.document
    replied = message.reply_to_message
    return replied.document if replied is not None else None


async def document_bytes(document: Document, limit: int) -> bytes:
    """The document's contents; StoryActionError when it is too large or unreachable."""
    check_size(document.file_size or 0, limit)
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as err:
        log.warning("Telegram: document %s not fetched: %s", document.file_id, err)
        raise StoryActionError(Msg.CARD_DOWNLOAD_FAILED) from err
    check_size(len(data), limit)
    return data
