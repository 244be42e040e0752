"""SillyTavern character cards, spec V2 (`chara_card_v2`) and V3 (`chara_card_v3`): a
JSON file, or a PNG whose `ccv3` (V3, preferred) or `chara` (V2) text chunk holds the
card as base64 JSON. Checked strictly (sizes, schema, field lengths) and made plain;
only the fields a story needs are kept. `system_prompt` and `post_history_instructions`
are never read: a card describes a story, it does not instruct the narrator."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storycraft_bot.cards.cleaning import plain_text
from storycraft_bot.cards.lorebook_file import lore_entries
from storycraft_bot.cards.png_text import PNG_SIGNATURE, png_texts
from storycraft_bot.cards.schema_errors import refusal
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

#: The largest card file read (a PNG carries its picture too).
CARD_MAX_BYTES = 8 * 1024 * 1024
#: The largest card JSON, in a file or decoded from a PNG chunk.
CARD_JSON_MAX_BYTES = 1024 * 1024
_CHUNKS = ("ccv3", "chara")  # V3 first: a card with both is read as V3


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class CardData(_Loose):
    """The `data` object of a V2/V3 card: the fields a story uses, bounded."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(max_length=12_000)] = ""
    personality: Annotated[str, Field(max_length=4000)] = ""
    scenario: Annotated[str, Field(max_length=4000)] = ""
    first_mes: Annotated[str, Field(max_length=8000)] = ""
    mes_example: Annotated[str, Field(max_length=16_000)] = ""
    character_book: dict[str, Any] | None = None


class CardFileV2(_Loose):
    spec: Literal["chara_card_v2"]
    spec_version: Annotated[str, Field(max_length=10)] = "2.0"
    data: CardData


class CardFileV3(_Loose):
    spec: Literal["chara_card_v3"]
    spec_version: Annotated[str, Field(max_length=10)] = "3.0"
    data: CardData


@dataclass(frozen=True, slots=True)
class CardContents:
    """What a card file gives a story: the card, and its embedded lorebook if any."""

    card: StoryCard
    lore: tuple[LoreEntry, ...] = ()


def _too_large(size: int, limit: int) -> StoryActionError:
    return StoryActionError(Msg.CARD_TOO_LARGE, size=size // 1024, limit=limit // 1024)


def _card_json(data: bytes) -> str:
    """The card's JSON text, from a PNG's chunk or the file itself."""
    if not data.startswith(PNG_SIGNATURE):
        if len(data) > CARD_JSON_MAX_BYTES:
            raise _too_large(len(data), CARD_JSON_MAX_BYTES)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise StoryActionError(Msg.CARD_NOT_A_CARD) from err
    texts = png_texts(data, _CHUNKS, limit=CARD_JSON_MAX_BYTES * 4 // 3 + 4)
    encoded = next((texts[name] for name in _CHUNKS if name in texts), None)
    if encoded is None:
        raise StoryActionError(Msg.CARD_NO_CHUNK)
    try:
        decoded = base64.b64decode("".join(encoded.split()), validate=True)
        return decoded.decode("utf-8")
    except (binascii.Error, ValueError) as err:
        raise StoryActionError(Msg.CARD_DAMAGED, what="base64") from err


def read_card(data: bytes, *, user: str) -> CardContents:
    """The card in `data` (JSON or PNG), checked and made plain; {{user}} becomes `user`.
    StoryActionError with the reason otherwise."""
    if len(data) > CARD_MAX_BYTES:
        raise _too_large(len(data), CARD_MAX_BYTES)
    text = _card_json(data)
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise StoryActionError(Msg.CARD_NOT_A_CARD) from err
    if not isinstance(raw, dict) or raw.get("spec") not in ("chara_card_v2", "chara_card_v3"):
        raise StoryActionError(Msg.CARD_BAD_SCHEMA, field="spec")
    try:
        model = CardFileV3 if raw["spec"] == "chara_card_v3" else CardFileV2
        fields = model.model_validate(raw).data
    except ValidationError as err:
        raise refusal(err) from err
    name = plain_text("name", fields.name, user=user, char=user)
    if not name:
        raise StoryActionError(Msg.CARD_BAD_SCHEMA, field="data.name")

    def clean(field: str, value: str) -> str:
        return plain_text(f"data.{field}", value, user=user, char=name)

    card = StoryCard(
        name=name,
        description=clean("description", fields.description),
        personality=clean("personality", fields.personality),
        scenario=clean("scenario", fields.scenario),
        first_message=clean("first_mes", fields.first_mes),
    )
    book = fields.character_book
    lore = lore_entries(book, user=user, char=name) if book else ()
    log.info("card read: %s (%s), %d lorebook entries", name, raw["spec"], len(lore))
    return CardContents(card, lore)
