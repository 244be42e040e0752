"""Card and lorebook text made plain: active HTML refused, other tags stripped, the
{{user}}/{{char}} macros replaced by names and every other macro removed. Nothing in a
card is ever executed; the narrator gets the result as quoted story material."""

from __future__ import annotations

import html
import logging
import re

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.moderation import without_controls
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

_TAG = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")
#: Tags that run code or load things, refused wherever they appear.
_ACTIVE_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "applet", "form", "meta", "link", "base", "style"}
)
_ACTIVE_ATTRIBUTE = re.compile(r"(?:^|\s)on[a-z]+\s*=|javascript\s*:|vbscript\s*:", re.I)
_MACRO = re.compile(r"\{\{(.{0,200}?)\}\}", re.S)
_LEGACY_NAMES = {"<user>": "user", "<bot>": "char"}


def _refuse_active(field: str, value: str) -> None:
    for match in _TAG.finditer(value):
        if match.group(1).lower() in _ACTIVE_TAGS or _ACTIVE_ATTRIBUTE.search(match.group(2)):
            log.info("card refused: active markup <%s> in %s", match.group(1).lower(), field)
            raise StoryActionError(Msg.CARD_SCRIPT, field=field)
    if re.search(r"javascript\s*:", value, re.I):
        raise StoryActionError(Msg.CARD_SCRIPT, field=field)


def plain_text(field: str, value: str, *, user: str, char: str) -> str:
    """`value` as plain text; StoryActionError(CARD_SCRIPT) for scripts or active HTML
    (checked again after entities are decoded, so `&lt;script&gt;` is refused too)."""
    for legacy, macro in _LEGACY_NAMES.items():
        value = re.sub(re.escape(legacy), "{{" + macro + "}}", value, flags=re.I)
    _refuse_active(field, value)
    stripped = _TAG.sub(" ", value)
    decoded = html.unescape(stripped)
    _refuse_active(field, decoded)
    if decoded != value:
        log.info("card field %s: markup stripped", field)

    def name_of(match: re.Match[str]) -> str:
        macro = match.group(1).strip().lower()
        if macro == "user":
            return user
        if macro == "char":
            return char
        log.info("card field %s: macro {{%.40s}} removed", field, macro)
        return ""

    named = _MACRO.sub(name_of, decoded)
    return without_controls(_TAG.sub(" ", named))
