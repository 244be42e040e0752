"""The web socket's protocol from the browser's side: what a frame may ask, parsed
strictly (anything else is None, answered with an error frame and never acted on), and
the per-connection budget of frames.

Browser to server, one JSON object per text frame:
    {"op": "press", "button": "c:12:0"}         a card's button (see buttons.encode)
    {"op": "command", "command": "undo"}       retry, undo, redraw, stop, status, help
    {"op": "settings", "pictures": true}       or {"op": "settings", "window": 60}
Server to browser:
    {"op": "parts", "items": [[id, html], ...], "reset": bool}   what changed (batched)
    {"op": "reply", "text": "...", "error": bool}                 to the one who asked
    {"op": "error", "code": "bad_frame" | "too_big" | "too_fast", "text": "..."}
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from storycraft_bot.core.clock import Clock

from .buttons import Button, ButtonKind, decode
from .commands import Command

#: Commands a page may send; START comes from the form, SETTINGS as its own frame.
PAGE_COMMANDS = frozenset(
    {Command.RETRY, Command.UNDO, Command.REDRAW, Command.STOP, Command.STATUS, Command.HELP}
    | {Command.REROLL}  # issue 16: other choices for the open part
)
MAX_FRAME_CHARS = 1024  # the largest frame the page ever sends is under 100


class FrameError(enum.StrEnum):
    """Why a frame was refused; the value is the error frame's code."""

    BAD_FRAME = "bad_frame"
    TOO_BIG = "too_big"
    TOO_FAST = "too_fast"


@dataclass(frozen=True, slots=True)
class Press:
    button: Button


@dataclass(frozen=True, slots=True)
class Ask:
    command: Command


@dataclass(frozen=True, slots=True)
class Configure:
    pictures: bool | None = None
    window: int | None = None


@dataclass(frozen=True, slots=True)
class OwnAction:
    """A player's own action typed for part `segment_id`."""

    segment_id: int
    text: str


Frame = Press | Ask | Configure | OwnAction


def parse_frame(data: str, vote_windows: tuple[int, ...]) -> Frame | None:
    """The frame's request, or None for anything the page would never send."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    op = value.get("op")
    if op == "press" and set(value) == {"op", "button"} and isinstance(value["button"], str):
        button = decode(value["button"])
        return Press(button) if button is not None else None
    if op == "command" and set(value) == {"op", "command"} and isinstance(value["command"], str):
        try:
            command = Command(value["command"])
        except ValueError:
            return None
        return Ask(command) if command in PAGE_COMMANDS else None
    if op == "own" and set(value) == {"op", "button", "text"} and isinstance(value["text"], str):
        own = decode(value["button"]) if isinstance(value["button"], str) else None
        if own is not None and own.kind is ButtonKind.OWN_ACTION:
            return OwnAction(own.segment_id, value["text"])
        return None
    if op == "settings" and len(value) == 2:
        pictures = value.get("pictures")
        window = value.get("window")
        if type(pictures) is bool:
            return Configure(pictures=pictures)
        if type(window) is int and window in vote_windows:
            return Configure(window=window)
    return None


class FrameBudget:
    """A token bucket per connection on the injected clock: `burst` frames at once,
    refilled at `rate` a second."""

    def __init__(self, clock: Clock, rate: float, burst: int) -> None:
        self._clock = clock
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = clock.now()

    def take(self) -> bool:
        now = self._clock.now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
