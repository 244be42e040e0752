"""What players type, checked before it reaches the narrator: control characters out,
a length limit said out loud (never a silent cut). The narrator then quotes it as story
input (see narration/narrator.py), so it is never taken as instructions."""

from __future__ import annotations

import logging
import unicodedata

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

#: The longest premise a player may type.
PREMISE_MAX_CHARS = 1000


def without_controls(typed: str) -> str:
    """`typed` with control and format characters (NUL, escapes, bidi overrides) turned
    into spaces and runs of spaces made one; its lines (a premise's first is the book's
    title) are kept, without empty ones."""
    lines = typed.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = (
        "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in line)
        for line in lines
    )
    return "\n".join(clean for line in kept if (clean := " ".join(line.split())))


def checked_premise(typed: str, author: Actor, limit: int = PREMISE_MAX_CHARS) -> str:
    """The premise as the narrator gets it; StoryActionError(PREMISE_TOO_LONG) when it does
    not fit, logged with who typed it."""
    premise = without_controls(typed)
    if len(premise) > limit:
        log.info(
            "premise refused for user %s: %d characters, at most %d",
            author.user_id,
            len(premise),
            limit,
        )
        raise StoryActionError(Msg.PREMISE_TOO_LONG, length=len(premise), limit=limit)
    return premise
