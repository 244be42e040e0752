"""The story-memory reply: its bounds (sent to Ollama as the schema) and its check.

Real models fill a memory schema with nonsense now and then: empty names, the schema's own
words ("name", "..."), or template tokens such as `<sep>` and `<|eot_id|>` that would
then leak into image prompts. Such a reply is refused as a whole, so the story keeps its
last good memory.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from storycraft_bot.narration.reply_parsing import JSON_OVERHEAD_TOKENS, TOKENS_PER_CHAR

SUMMARY_MAX_CHARS = 1200  # the prompt asks for at most 120 words
MAX_CHARACTERS = 8
NAME_MAX_CHARS = 40
LOOKS_MAX_CHARS = 200

# Chat-template and tokenizer tokens: <|eot_id|>, <sep>, </s>, [INST], <<SYS>> and the like.
_MARKUP = re.compile(
    r"<\|[^<>]{0,40}\|>|</?[A-Za-z_][\w-]{0,20}>|\[/?INST\]|<<\s*/?SYS\s*>>", re.IGNORECASE
)
# What a model writes when it copies the schema instead of filling it in.
_PLACEHOLDERS = frozenset(
    {
        "name",
        "character",
        "character name",
        "looks",
        "description",
        "string",
        "unknown",
        "none",
        "n/a",
        "na",
        "tbd",
        "todo",
        "null",
        "undefined",
        "xxx",
        "имя",
        "персонаж",
        "неизвестно",
    }
)


def _no_markup(text: str) -> str:
    text = " ".join(text.split())
    found = _MARKUP.search(text)
    if found is not None:
        raise ValueError(f"markup token {found.group(0)!r}")
    return text


def _real_words(text: str) -> str:
    """Not empty, not only punctuation, not a placeholder."""
    if not any(ch.isalnum() for ch in text):
        raise ValueError("no words")
    if text.strip(" .:-_*\"'«»").casefold() in _PLACEHOLDERS:
        raise ValueError(f"placeholder {text!r}")
    return text


Name = Annotated[
    str,
    Field(min_length=1, max_length=NAME_MAX_CHARS),
    AfterValidator(_no_markup),
    AfterValidator(_real_words),
]
Looks = Annotated[
    str,
    Field(min_length=1, max_length=LOOKS_MAX_CHARS),
    AfterValidator(_no_markup),
    AfterValidator(_real_words),
]
Summary = Annotated[
    str,
    Field(min_length=1, max_length=SUMMARY_MAX_CHARS),
    AfterValidator(_no_markup),
    AfterValidator(_real_words),
]


class CharacterReply(BaseModel):
    """One recurring character or place."""

    name: Name
    looks: Looks


class MemoryReply(BaseModel):
    """The memory reply; its JSON schema is what Ollama's `format` gets."""

    summary: Summary
    characters: list[CharacterReply] = Field(max_length=MAX_CHARACTERS)

    @staticmethod
    def num_predict() -> int:
        """Tokens enough for the longest memory the schema allows."""
        per_character = NAME_MAX_CHARS + LOOKS_MAX_CHARS + 24  # keys and quotes
        chars = SUMMARY_MAX_CHARS + MAX_CHARACTERS * per_character
        return int(chars * TOKENS_PER_CHAR) + JSON_OVERHEAD_TOKENS


@functools.cache
def memory_schema() -> Mapping[str, Any]:
    """The JSON schema for Ollama's `format`, from MemoryReply itself (made once, shared)."""
    return MappingProxyType(MemoryReply.model_json_schema())
