"""A player's own action on Discord (issue 15): the button's one answer is a modal with a
single text field; its submission (an interaction of type MODAL_SUBMIT) carries the text.

The modal's custom_id is the button's own (`sc:w:<part>`), so a submission names its part
and is handled the same after a restart. Submissions are read from the interaction's raw
data, never from a modal object kept in this process.
"""

from __future__ import annotations

from typing import Any

import discord

from storycraft_bot.core.models import Language
from storycraft_bot.core.own_actions import OWN_ACTION_MAX_CHARS
from storycraft_bot.core.texts import Msg, text

from .buttons import Button, ButtonKind, decode, encode

#: The text field's custom_id inside the modal.
FIELD_ID = "action"
#: Discord's limits: a modal's title and a label are at most 45 characters.
TITLE_LIMIT = 45


def action_modal(language: Language, segment_id: int, prefix: str) -> discord.ui.Modal:
    """The modal asking for an own action for part `segment_id`. It is finished before it
    is sent, so discord.py keeps no copy to route the submission to (see `submitted`)."""
    title = text(language, Msg.OWN_ACTION_BUTTON)[:TITLE_LIMIT]
    modal = discord.ui.Modal(
        title=title,
        custom_id=encode(Button(ButtonKind.OWN_ACTION, segment_id), prefix),
        timeout=None,
    )
    field: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id=FIELD_ID,
        style=discord.TextStyle.paragraph,
        max_length=OWN_ACTION_MAX_CHARS,
    )
    modal.add_item(discord.ui.Label(text=title, component=field))
    modal.stop()
    return modal


def submitted(data: object, prefix: str) -> tuple[int | None, str]:
    """The part and text of a modal submission: (None, "") for a custom_id the bot never
    makes; the text is "" when the field is missing."""
    raw = data if isinstance(data, dict) else {}
    button = decode(str(raw.get("custom_id", "")), prefix)
    part = button.segment_id if button and button.kind is ButtonKind.OWN_ACTION else None
    return part, _field_value(raw.get("components"))


def _field_value(components: object) -> str:
    """The value of the text field FIELD_ID, wherever Discord nests it (a label's
    `component`, an action row's `components`)."""
    todo = list(components) if isinstance(components, list) else []
    while todo:
        item = todo.pop()
        if not isinstance(item, dict):
            continue
        if item.get("custom_id") == FIELD_ID and isinstance(item.get("value"), str):
            return str(item["value"])
        todo.extend(item.get("components") or [])
        if isinstance(item.get("component"), dict):
            todo.append(item["component"])
    return ""
