"""Starting a story from a character card file and attaching a lorebook file: the same
for every screen, which only fetches the bytes (a Discord attachment, a Telegram
document, a console path, a web upload). Files are parsed off the event loop."""

from __future__ import annotations

import asyncio

from storycraft_bot.cards.card_file import CARD_MAX_BYTES, read_card
from storycraft_bot.cards.lorebook_file import LOREBOOK_MAX_BYTES, read_lorebook
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Language, Participation, Place, Rating, StoryLength
from storycraft_bot.core.texts import Msg, text

from .commands import Reply, ReplyKind

__all__ = [
    "CARD_MAX_BYTES",
    "LOREBOOK_MAX_BYTES",
    "attach_lorebook",
    "check_size",
    "start_from_card",
]


def check_size(size: int, limit: int) -> None:
    """Refuse a file the platform says is too large before fetching it."""
    if size > limit:
        raise StoryActionError(Msg.CARD_TOO_LARGE, size=size // 1024, limit=limit // 1024)


async def start_from_card(
    engine: StoryEngine,
    place: Place,
    actor: Actor,
    language: Language,
    card: bytes | None,
    lore: bytes | None = None,
    *,
    premise: str = "",
    genre: str | None = None,
    rating: Rating | None = None,
    length: StoryLength | None = None,
    participation: Participation | None = None,
    style: str | None = None,
) -> Reply:
    """A new story from `card` (JSON or PNG; None: from the premise alone), with the
    lorebook `lore` if given (else the card's own); a bad file is refused with its reason
    (StoryActionError) before anything starts."""
    contents = (
        await asyncio.to_thread(read_card, card, user=actor.name) if card is not None else None
    )
    entries = contents.lore if contents is not None else ()
    if lore is not None:
        name = contents.card.name if contents is not None else ""
        entries = await asyncio.to_thread(read_lorebook, lore, user=actor.name, char=name)
    await engine.start(
        place,
        actor,
        premise=premise,
        genre=genre,
        language=language,
        rating=rating,
        card=contents.card if contents is not None else None,
        lore=entries,
        length=length,
        participation=participation,
        style=style,
    )
    return Reply(text(language, Msg.STORY_STARTED), ReplyKind.SEEN)


async def attach_lorebook(
    engine: StoryEngine, place: Place, actor: Actor, language: Language, data: bytes
) -> Reply:
    """The lorebook file `data` attached to the live story (starter or moderator)."""
    entries = await asyncio.to_thread(read_lorebook, data, user=actor.name)
    count = await engine.attach_lore(place, actor, entries)
    return Reply(text(language, Msg.LOREBOOK_ATTACHED, entries=count), ReplyKind.INFO)
