"""A pydantic validation error as the player's reason: which field, which limit."""

from __future__ import annotations

from pydantic import ValidationError

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.texts import Msg


def refusal(err: ValidationError) -> StoryActionError:
    """The first problem of `err`: a field too long (with its limit) or a wrong field."""
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(root)"
    limit = (first.get("ctx") or {}).get("max_length")
    if first["type"] in ("string_too_long", "too_long") and isinstance(limit, int):
        return StoryActionError(Msg.CARD_FIELD_TOO_LONG, field=field, limit=limit)
    return StoryActionError(Msg.CARD_BAD_SCHEMA, field=field[:80])
