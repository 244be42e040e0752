"""Reading the narrator's reply: the JSON schema we ask for (made from the pydantic model
that also checks the reply), partial parsing while it streams, and repair of replies that
break the schema."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, ValidationError, create_model
from pydantic_core import from_json

from storycraft_bot.core.models import CHOICE_MAX_CHARS, MAX_CHOICES, MIN_CHOICES, SegmentDraft
from storycraft_bot.core.text_fitting import split_text

#: A choice is a short action: a button label, not a sentence.
CHOICE_MAX_WORDS = 12
#: One English sentence for the picture; the image prompt is made from it later.
SCENE_MAX_CHARS = 300
#: Characters per word we allow the narration on average (Russian words run long), so a
#: part may run to about one and a half times its target before the schema stops it.
NARRATION_CHARS_PER_WORD = 10
#: Tokens per character we budget for (Cyrillic and JSON escapes cost more than English).
TOKENS_PER_CHAR = 0.5
#: Tokens for the JSON keys, quotes and commas around the fields.
JSON_OVERHEAD_TOKENS = 64


@dataclass(frozen=True, slots=True)
class ReplyBounds:
    """Lengths and counts one segment reply must keep: in the schema and in the check."""

    choices_min: int = MIN_CHOICES
    choices_max: int = MAX_CHOICES
    narration_min: int = 1
    narration_max: int = 600 * NARRATION_CHARS_PER_WORD

    @classmethod
    def for_request(cls, words: int, choices: int) -> ReplyBounds:
        """Exactly `choices` choices, narration around `words` words."""
        return cls(choices, choices, max(1, words), words * NARRATION_CHARS_PER_WORD)

    @property
    def num_predict(self) -> int:
        """Tokens enough for the longest reply these bounds allow, and no more."""
        chars = self.narration_max + self.choices_max * CHOICE_MAX_CHARS + SCENE_MAX_CHARS
        return int(chars * TOKENS_PER_CHAR) + JSON_OVERHEAD_TOKENS


def _few_words(text: str) -> str:
    if len(text.split()) > CHOICE_MAX_WORDS:
        raise ValueError(f"a choice has at most {CHOICE_MAX_WORDS} words")
    return text


Choice = Annotated[
    str, Field(min_length=1, max_length=CHOICE_MAX_CHARS), AfterValidator(_few_words)
]


class SegmentReply(BaseModel):
    """The structured reply: narration first (so it can be shown while it streams)."""

    narration: str = Field(min_length=1)
    choices: list[Choice] = Field(min_length=MIN_CHOICES, max_length=MAX_CHOICES)
    scene: str = Field(max_length=SCENE_MAX_CHARS)
    #: Whether the scene changed enough for a new picture (issue 16); a reply without it
    #: gets one, as before.
    new_scene: bool = True


@functools.lru_cache(maxsize=64)
def reply_model(bounds: ReplyBounds) -> type[SegmentReply]:
    """SegmentReply with these bounds: its JSON schema is what Ollama's `format` gets."""
    return create_model(
        "SegmentReply",
        __base__=SegmentReply,
        narration=(str, Field(min_length=bounds.narration_min, max_length=bounds.narration_max)),
        choices=(
            list[Choice],
            Field(min_length=bounds.choices_min, max_length=bounds.choices_max),
        ),
    )


@functools.lru_cache(maxsize=64)
def segment_schema(bounds: ReplyBounds) -> Mapping[str, Any]:
    """The JSON schema passed as Ollama's `format` for a segment within `bounds`. Made
    once per bounds (about a millisecond of CPU each time); shared, so never mutated."""
    schema = reply_model(bounds).model_json_schema()
    # Required in what the model is asked for (a constrained model then always says it),
    # optional in what is accepted.
    schema["required"] = [*schema.get("required", []), "new_scene"]
    return MappingProxyType(schema)


def partial_narration(buffer: str, limit: int | None = None) -> str:
    """The narration found so far in a reply that is still streaming ("" if none yet),
    at most `limit` characters (a runaway reply is not shown past what would be kept)."""
    text = buffer.lstrip()
    if not text.startswith("{"):
        return ""
    try:
        value = from_json(text, allow_partial="trailing-strings")
    except ValueError:
        return ""
    narration = value.get("narration") if isinstance(value, dict) else None
    if not isinstance(narration, str):
        return ""
    return fit_narration(narration, limit) if limit else narration.strip()


def fit_narration(text: str, limit: int) -> str:
    """The narration cut to `limit` characters at a paragraph or sentence border."""
    pieces = split_text(text, limit)
    return pieces[0] if pieces else ""


_SPACES = re.compile(r"\s+")
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•]|\(\d{1,2}\))\s+(.+?)\s*$")


def shorten(text: str, limit: int = CHOICE_MAX_CHARS) -> str:
    """Fold white space and cut at a word border with an ellipsis if too long."""
    text = _SPACES.sub(" ", text).strip().strip('"«»').strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "…"


def few_words(text: str) -> str:
    """The first CHOICE_MAX_WORDS words, with an ellipsis if there were more."""
    words = text.split()
    if len(words) <= CHOICE_MAX_WORDS:
        return text
    return " ".join(words[:CHOICE_MAX_WORDS]).rstrip(" ,;:-") + "…"


def clean_choices(raw: list[str], most: int = MAX_CHOICES) -> list[str]:
    """Trim, shorten, drop empties and duplicates, keep at most `most`."""
    seen: set[str] = set()
    result: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            continue
        text = shorten(few_words(item))
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    return result[:most]


def parse_reply(content: str, model: str, bounds: ReplyBounds | None = None) -> SegmentDraft | None:
    """Turn a finished reply into a draft, repairing it where possible; None if hopeless.

    A reply within `bounds` is taken as is. Otherwise empty, long or wordy choices are
    cleaned, a narration past its maximum is cut at a sentence border, and the draft is
    kept if at least two choices and some narration remain."""
    bounds = bounds or ReplyBounds()
    direct = _from_json_object(content, bounds)
    if direct is not None:
        return SegmentDraft(
            direct.narration.strip(),
            tuple(direct.choices),
            direct.scene.strip(),
            model,
            new_scene=direct.new_scene,
        )
    # An ending (bounds with no choices) needs none; any other part at least two.
    least = min(MIN_CHOICES, bounds.choices_min)
    repaired = _from_json_fragment(content, least) or _from_numbered_lines(content)
    if repaired is None:
        return None
    narration = fit_narration(repaired.narration, bounds.narration_max)
    choices = clean_choices(repaired.choices, bounds.choices_max)
    if not narration or len(choices) < least:
        return None
    return SegmentDraft(
        narration,
        tuple(choices),
        shorten(repaired.scene, SCENE_MAX_CHARS),
        model,
        repaired=True,
        new_scene=repaired.new_scene,
    )


def _from_json_object(content: str, bounds: ReplyBounds) -> SegmentReply | None:
    try:
        reply = reply_model(bounds).model_validate_json(content)
    except ValidationError:
        return None
    # Blank or duplicate choices pass the schema but not the players: repair those.
    cleaned = clean_choices(reply.choices, bounds.choices_max)
    return reply if cleaned == [c.strip() for c in reply.choices] else None


class _Loose(BaseModel):
    """A repaired reply before it is fitted to the bounds."""

    narration: str
    choices: list[str]
    scene: str = ""
    new_scene: bool = True


def _from_json_fragment(content: str, least: int = MIN_CHOICES) -> _Loose | None:
    """JSON with chatter around it, truncated JSON, or choices under another shape;
    `least` choices wanted (0 for an ending)."""
    start = content.find("{")
    if start < 0:
        return None
    try:
        value = from_json(content[start:], allow_partial=True)
    except ValueError:
        end = content.rfind("}")
        try:
            value = json.loads(content[start : end + 1]) if end > start else None
        except json.JSONDecodeError:
            return None
    if not isinstance(value, dict):
        return None
    narration = value.get("narration") or value.get("text") or value.get("story") or ""
    raw_choices = value.get("choices") or value.get("options") or []
    if isinstance(raw_choices, list):
        raw_choices = [c.get("text", "") if isinstance(c, dict) else c for c in raw_choices]
    scene = value.get("scene") or ""
    if not isinstance(narration, str) or not isinstance(raw_choices, list):
        return None
    choices = clean_choices([c for c in raw_choices if isinstance(c, str)])
    if not narration.strip():
        return None
    if len(choices) < least:
        # The narration may still hold the choices as a numbered list.
        from_lines = _from_numbered_lines(narration)
        if from_lines is None:
            return None
        narration, choices = from_lines.narration, from_lines.choices
    new_scene = value.get("new_scene")
    return _Loose(
        narration=narration,
        choices=choices,
        scene=scene if isinstance(scene, str) else "",
        new_scene=new_scene if isinstance(new_scene, bool) else True,
    )


def _from_numbered_lines(content: str) -> _Loose | None:
    """Plain text: the last run of numbered or bulleted lines are the choices."""
    lines = content.strip().splitlines()
    choices: list[str] = []
    first_choice_line = len(lines)
    for position in range(len(lines) - 1, -1, -1):
        line = lines[position]
        if not line.strip():
            if choices:
                break
            continue
        match = _LIST_MARK.match(line)
        if match is None:
            break
        choices.insert(0, match.group(1))
        first_choice_line = position
    narration = "\n".join(lines[:first_choice_line]).strip()
    cleaned = clean_choices(choices)
    if len(cleaned) < MIN_CHOICES or not narration or narration.startswith("{"):
        return None
    # A trailing "What will you do?" line belongs to the narration; that is fine.
    return _Loose(narration=narration, choices=cleaned, scene="")
