"""Managing a place's blocked words from any screen (Discord's `/story settings block:`,
Telegram's `/settings block ...`), and which refusals a screen keeps private."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.models import Actor, Language, Place
from storycraft_bot.core.texts import Msg, text

from .commands import Reply, ReplyKind

#: The longest list a reply shows (Discord's 2000-character message, with room to spare).
LIST_MAX_CHARS = 1800


class Verb(enum.Enum):
    """What an administrator does to the place's list."""

    BLOCK = enum.auto()
    UNBLOCK = enum.auto()
    LIST = enum.auto()


#: The words a chat command starts with (`/settings block dragon`), in both languages.
VERBS: dict[str, Verb] = {
    "block": Verb.BLOCK,
    "unblock": Verb.UNBLOCK,
    "blocked": Verb.LIST,
    "запретить": Verb.BLOCK,
    "разрешить": Verb.UNBLOCK,
    "запреты": Verb.LIST,
}

#: Refusals that concern one person's typed text or limits: a group never sees them
#: (Discord answers privately anyway; Telegram posts a note that deletes itself).
PRIVATE_REFUSALS = frozenset(
    {
        Msg.TEXT_BLOCKED,
        Msg.PREMISE_TOO_LONG,
        Msg.START_COOLDOWN,
        Msg.OWN_ACTION_COOLDOWN,
        Msg.TOO_MANY_STORIES,
        Msg.RETRY_LIMIT,
        Msg.REDRAW_LIMIT,
        Msg.NOT_ALLOWED_PATTERNS,
        Msg.PATTERN_EMPTY,
        Msg.PATTERN_TOO_LONG,
        Msg.PATTERN_BAD_REGEX,
        Msg.PATTERN_TOO_COMPLEX,
        Msg.PATTERN_MATCHES_EMPTY,
        Msg.PATTERNS_FULL,
        Msg.PATTERN_EXISTS,
        Msg.PATTERN_UNKNOWN,
    }
)


def parse_blocklist(argument: str) -> tuple[Verb, str] | None:
    """`block <pattern>`, `unblock <pattern>` or `blocked` as a verb and its pattern;
    None for anything else (the settings keyboard)."""
    word, _, rest = argument.strip().partition(" ")
    verb = VERBS.get(word.casefold())
    return None if verb is None else (verb, rest.strip())


async def blocklist_reply(
    engine: StoryEngine, place: Place, actor: Actor, language: Language, verb: Verb, pattern: str
) -> Reply:
    """Do `verb` (the place's administrators only) and say what the list now holds."""
    blocklist = engine.safety.blocklist
    if verb is Verb.BLOCK:
        kept = await blocklist.add(place, actor, pattern)
        return Reply(text(language, Msg.PATTERN_ADDED, pattern=kept), ReplyKind.INFO)
    if verb is Verb.UNBLOCK:
        gone = await blocklist.remove(place, actor, pattern)
        return Reply(text(language, Msg.PATTERN_REMOVED, pattern=gone), ReplyKind.INFO)
    patterns = await blocklist.patterns(place, actor)
    if not patterns:
        return Reply(text(language, Msg.PATTERN_LIST_EMPTY), ReplyKind.INFO)
    lines: list[str] = []
    for entry in patterns:
        if sum(len(line) + 1 for line in lines) + len(entry.pattern) > LIST_MAX_CHARS:
            lines.append("…")
            break
        lines.append(f"• {entry.pattern}")
    return Reply(text(language, Msg.PATTERN_LIST, patterns="\n".join(lines)), ReplyKind.INFO)


@dataclass(frozen=True, slots=True)
class Blocking:
    """A settings command's blocklist options: a pattern to block, one to unblock, and
    whether to list them."""

    block: str | None = None
    unblock: str | None = None
    listed: bool = False


async def blocklist_options(
    engine: StoryEngine, place: Place, actor: Actor, language: Language, blocking: Blocking
) -> list[str]:
    """The answers to the options given, in that order (none given: none)."""
    asked = [
        (Verb.BLOCK, blocking.block),
        (Verb.UNBLOCK, blocking.unblock),
        (Verb.LIST, "" if blocking.listed else None),
    ]
    return [
        (await blocklist_reply(engine, place, actor, language, verb, pattern)).text
        for verb, pattern in asked
        if pattern is not None
    ]
