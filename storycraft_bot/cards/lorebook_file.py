"""Lorebooks: SillyTavern World Info JSON (`entries` keyed by uid, `key`/`keysecondary`/
`order`/`disable`) and a card's embedded `character_book` (`entries` as a list, `keys`/
`secondary_keys`/`insertion_order`/`enabled`), checked with bounds and made plain."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storycraft_bot.cards.cleaning import plain_text
from storycraft_bot.cards.schema_errors import refusal
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.lore import LoreEntry
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

#: The largest lorebook file read.
LOREBOOK_MAX_BYTES = 2 * 1024 * 1024
LOREBOOK_MAX_ENTRIES = 500
ENTRY_MAX_CHARS = 4000

_Key = Annotated[str, Field(max_length=200)]
_Keys = Annotated[list[_Key], Field(max_length=50)]
_Order = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class _Loose(BaseModel):
    # Lorebooks carry many tool-specific fields; only these are read, strictly typed.
    model_config = ConfigDict(extra="ignore", strict=True)


class WorldInfoEntry(_Loose):
    """A SillyTavern World Info entry."""

    key: _Keys
    keysecondary: _Keys = []
    content: Annotated[str, Field(max_length=ENTRY_MAX_CHARS)]
    constant: bool = False
    selective: bool = True
    order: _Order = 100
    disable: bool = False


class BookEntry(_Loose):
    """A character_book entry (card spec V2/V3)."""

    keys: _Keys
    secondary_keys: _Keys = []
    content: Annotated[str, Field(max_length=ENTRY_MAX_CHARS)]
    constant: bool = False
    selective: bool = False
    insertion_order: _Order = 100
    enabled: bool = True


class WorldInfo(_Loose):
    entries: Annotated[dict[str, WorldInfoEntry], Field(max_length=LOREBOOK_MAX_ENTRIES)]


class CharacterBook(_Loose):
    entries: Annotated[list[BookEntry], Field(max_length=LOREBOOK_MAX_ENTRIES)]


def _usable_keys(keys: list[str]) -> tuple[str, ...]:
    """Plain keys; `/regex/flags` keys are never run (a hostile pattern could hang us)."""
    plain = tuple(k.strip() for k in keys if k.strip() and not k.strip().startswith("/"))
    if len(plain) < len([k for k in keys if k.strip()]):
        log.info("lorebook: regular-expression keys ignored")
    return plain


def _entry(
    keys: list[str],
    secondary: list[str],
    content: str,
    *,
    constant: bool,
    order: int,
    names: tuple[str, str],
) -> LoreEntry | None:
    text = plain_text("content", content, user=names[0], char=names[1])
    usable = _usable_keys(keys)
    if not text or not (usable or constant):
        return None
    return LoreEntry(usable, text, _usable_keys(secondary), constant, order)


def lore_entries(raw: Any, *, user: str, char: str) -> tuple[LoreEntry, ...]:
    """A parsed lorebook object's enabled, usable entries; StoryActionError otherwise."""
    names = (user, char)
    entries = raw.get("entries") if isinstance(raw, dict) else None
    try:
        if isinstance(entries, dict):
            info = WorldInfo.model_validate(raw)
            found = [
                _entry(
                    e.key,
                    e.keysecondary if e.selective else [],
                    e.content,
                    constant=e.constant,
                    order=e.order,
                    names=names,
                )
                for e in info.entries.values()
                if not e.disable
            ]
        elif isinstance(entries, list):
            book = CharacterBook.model_validate(raw)
            found = [
                _entry(
                    e.keys,
                    e.secondary_keys if e.selective else [],
                    e.content,
                    constant=e.constant,
                    order=e.insertion_order,
                    names=names,
                )
                for e in book.entries
                if e.enabled
            ]
        else:
            raise StoryActionError(Msg.LOREBOOK_BAD)
    except ValidationError as err:
        if err.errors()[0]["type"] == "too_long" and err.errors()[0]["loc"] == ("entries",):
            raise StoryActionError(
                Msg.LOREBOOK_TOO_MANY, count=len(entries or ()), limit=LOREBOOK_MAX_ENTRIES
            ) from err
        raise refusal(err) from err
    return tuple(entry for entry in found if entry is not None)


def read_lorebook(data: bytes, *, user: str, char: str = "") -> tuple[LoreEntry, ...]:
    """A World Info (or character_book) JSON file's entries, checked and made plain."""
    if len(data) > LOREBOOK_MAX_BYTES:
        raise StoryActionError(
            Msg.CARD_TOO_LARGE, size=len(data) // 1024, limit=LOREBOOK_MAX_BYTES // 1024
        )
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise StoryActionError(Msg.LOREBOOK_BAD) from err
    return lore_entries(raw, user=user, char=char or user)
