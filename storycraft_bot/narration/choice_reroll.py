"""New choices for a part whose narration stays (issue 16): one small request whose reply
schema holds only the choices, bounded in number and length."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model

from storycraft_bot.core.errors import MalformedReply
from storycraft_bot.core.models import CHOICE_MAX_CHARS, MIN_CHOICES, Language
from storycraft_bot.core.ports import SegmentRequest
from storycraft_bot.narration.ollama_gateway import Message, OllamaGateway
from storycraft_bot.narration.reply_parsing import (
    JSON_OVERHEAD_TOKENS,
    TOKENS_PER_CHAR,
    Choice,
    clean_choices,
)

log = logging.getLogger(__name__)

_ASK = {
    Language.RU: "Оставь этот фрагмент как есть и предложи ровно {count} новых коротких "
    "варианта действий для этого момента (до 80 символов каждый, по-русски), не такие, как "
    'прежние: {old}. Ответь только JSON: {{"choices": [...]}}.',
    Language.EN: "Keep this part as it is and offer exactly {count} new short actions for "
    "this moment (under 80 characters each), unlike the earlier ones: {old}. Reply with "
    'JSON only: {{"choices": [...]}}.',
}


class ChoicesReply(BaseModel):
    """The reply: only the choices."""

    choices: list[Choice] = Field(min_length=MIN_CHOICES)


@functools.lru_cache(maxsize=8)
def choices_model(count: int) -> type[ChoicesReply]:
    """ChoicesReply with exactly `count` choices: its schema is Ollama's `format`."""
    return create_model(
        "ChoicesReply",
        __base__=ChoicesReply,
        choices=(list[Choice], Field(min_length=count, max_length=count)),
    )


def choices_schema(count: int) -> dict[str, Any]:
    return choices_model(count).model_json_schema()


def num_predict(count: int) -> int:
    """Tokens for `count` choices at their longest, and no more."""
    return int(count * CHOICE_MAX_CHARS * TOKENS_PER_CHAR) + JSON_OVERHEAD_TOKENS


def parse_choices(content: str, count: int) -> tuple[str, ...] | None:
    """The new choices (cleaned, at most `count`); None unless at least two remain."""
    try:
        reply = ChoicesReply.model_validate_json(content)
    except ValidationError:
        return None
    cleaned = clean_choices(list(reply.choices), count)
    return tuple(cleaned) if len(cleaned) >= MIN_CHOICES else None


async def new_choices(
    gateway: OllamaGateway,
    messages: list[Message],
    request: SegmentRequest,
    narration: str,
    old: Sequence[str],
) -> tuple[str, ...]:
    """Ask for `request.choices` new choices after `narration` (the story so far in
    `messages`); MalformedReply when the reply holds no usable choices."""
    ask = _ASK[request.language].format(count=request.choices, old="; ".join(old))
    asking: list[Message] = [
        *messages,
        {"role": "assistant", "content": narration},
        {"role": "user", "content": ask},
    ]
    result = await gateway.chat(
        asking, schema=choices_schema(request.choices), num_predict=num_predict(request.choices)
    )
    choices = parse_choices(result.content, request.choices)
    if choices is None:
        log.warning("unusable choices from %s: %.200r", result.model, result.content)
        raise MalformedReply("the narrator's new choices could not be understood")
    return choices
