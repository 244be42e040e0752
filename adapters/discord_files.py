"""Files players attach to Discord commands (a character card, a lorebook): the size
Discord states is checked before the file is fetched from its CDN, and again after."""

from __future__ import annotations

import logging

import discord

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.texts import Msg

from .card_input import check_size

log = logging.getLogger(__name__)


async def attachment_bytes(attachment: discord.Attachment | None, limit: int) -> bytes | None:
    """The attachment's contents (None without one); StoryActionError when it is too
    large or cannot be fetched."""
    if attachment is None:
        return None
    check_size(attachment.size, limit)
    try:
        data = await attachment.read()
    except (discord.HTTPException, discord.NotFound) as err:
        log.warning("Discord: attachment %s not fetched: %s", attachment.id, err)
        raise StoryActionError(Msg.CARD_DOWNLOAD_FAILED) from err
    check_size(len(data), limit)
    return data
