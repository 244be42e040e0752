"""Reading the narrator's reply: the JSON schema we ask for, partial parsing while it
streams, and repair of replies that break the schema."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import from_json

from storycraft_bot.core.models import CHOICE_MAX_CHARS, MAX_CHOICES, MIN_CHOICES, SegmentDraft


class SegmentReply(BaseModel):
    """The structured reply: narration first (so it can be shown while it streams)."""

    narration: str = Field(min_length=1)
    choices: list[str] = Field(min_length=MIN_CHOICES, max_length=MAX_CHOICES)
    scene: str = ""

    @field_validator("choices")
    @classmethod
    def _clean_choices(cls, value: list[str]) -> list[str]:
        cleaned = clean_choices(value)
        if len(cleaned) < MIN_CHOICES:
            raise ValueError("fewer than two usable choices")
        return cleaned


def segment_schema(choices: int) -> dict[str, Any]:
    """The JSON schema passed as Ollama's `format` for a segment with `choices` options."""
    return {
        "type": "object",
        "properties": {
            "narration": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": choices,
                "maxItems": choices,
            },
            "scene": {"type": "string"},
        },
        "required": ["narration", "choices", "scene"],
    }


def partial_narration(buffer: str) -> str:
    """The narration found so far in a reply that is still streaming ("" if none yet)."""
    text = buffer.lstrip()
    if not text.startswith("{"):
        return ""
    try:
        value = from_json(text, allow_partial="trailing-strings")
    except ValueError:
        return ""
    narration = value.get("narration") if isinstance(value, dict) else None
    return narration.strip() if isinstance(narration, str) else ""


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


def clean_choices(raw: list[str]) -> list[str]:
    """Trim, shorten, drop empties and duplicates, keep at most MAX_CHOICES."""
    seen: set[str] = set()
    result: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            continue
        text = shorten(item)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    return result[:MAX_CHOICES]


def parse_reply(content: str, model: str) -> SegmentDraft | None:
    """Turn a finished reply into a draft, repairing it where possible; None if hopeless."""
    direct = _from_json_object(content)
    if direct is not None:
        return SegmentDraft(
            direct.narration.strip(), tuple(direct.choices), direct.scene.strip(), model
        )
    repaired = _from_json_fragment(content) or _from_numbered_lines(content)
    if repaired is None:
        return None
    return SegmentDraft(
        repaired.narration.strip(),
        tuple(repaired.choices),
        repaired.scene.strip(),
        model,
        repaired=True,
    )


def _from_json_object(content: str) -> SegmentReply | None:
    try:
        return SegmentReply.model_validate_json(content)
    except ValidationError:
        return None


def _from_json_fragment(content: str) -> SegmentReply | None:
    """JSON with chatter around it, truncated JSON, or choices under another shape."""
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
    if len(choices) < MIN_CHOICES:
        # The narration may still hold the choices as a numbered list.
        from_lines = _from_numbered_lines(narration)
        if from_lines is None:
            return None
        narration, choices = from_lines.narration, from_lines.choices
    return SegmentReply(
        narration=narration, choices=choices, scene=scene if isinstance(scene, str) else ""
    )


def _from_numbered_lines(content: str) -> SegmentReply | None:
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
    return SegmentReply(narration=narration, choices=cleaned, scene="")
