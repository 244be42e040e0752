"""Words and patterns a place (a Discord server, a Telegram chat, a web or console place)
blocks in what players type, managed by its administrators.

A pattern is a plain word or phrase (case-insensitive, whole words, any script; `е` and
`ё` alike) or a `/regex/`. A regex is bounded before it is kept, so no pattern can make a
check slow on the bounded text it reads (typed text is at most a few thousand characters;
Python's `re` backtracks, so the bounds are on the pattern): at most `PATTERN_MAX_CHARS`
characters, no backreferences or conditionals, no repetition of a group that repeats or
alternates inside, and few repetitions: one open-ended (`*`, `+`, `{n,}`) with at most one
`?` beside it, or bounded ones (`{m,n}`, n up to `REPEAT_MAX`) whose combined ways to
match stay under `REPEAT_WAYS_MAX`. A regex that matches empty text (it would refuse
everything) is refused too.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, Place, Platform
from storycraft_bot.core.moderation import without_controls
from storycraft_bot.core.safety_store import BlockedPattern, RefusalReason, SafetyStore
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

PATTERN_MAX_CHARS = 100
PATTERNS_PER_PLACE = 100
#: The most a bounded repetition `{m,n}` may repeat, and the product of (n + 1) over a
#: regex's repetitions (a `?` counts 2): what one position of the text may cost.
REPEAT_MAX = 20
REPEAT_WAYS_MAX = 500
#: Beside one open-ended repetition, which already costs the text's length.
REPEAT_WAYS_BESIDE_OPEN = 2

#: The list of the places the operator runs (see `list_of`).
OPERATOR_LIST = (Platform.CONSOLE, "console")

_Compiled = tuple[tuple[str, re.Pattern[str]], ...]


def is_regex(pattern: str) -> bool:
    return len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/")


def normalized(pattern: str) -> str:
    """How a pattern is kept: a word or phrase with single spaces, casefolded; a regex as
    typed."""
    pattern = pattern.strip()
    return pattern if is_regex(pattern) else " ".join(pattern.split()).casefold()


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern, compiled to match typed text; StoryActionError saying why it cannot be
    used."""
    if not pattern:
        raise StoryActionError(Msg.PATTERN_EMPTY)
    if len(pattern) > PATTERN_MAX_CHARS:
        raise StoryActionError(Msg.PATTERN_TOO_LONG, limit=PATTERN_MAX_CHARS)
    if not is_regex(pattern):
        words = (re.escape(w).replace("е", "[её]").replace("ё", "[её]") for w in pattern.split())
        return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
    body = pattern[1:-1]
    try:
        compiled = re.compile(body, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as err:
        raise StoryActionError(Msg.PATTERN_BAD_REGEX, reason=str(err)) from None
    if _too_complex(body):
        raise StoryActionError(Msg.PATTERN_TOO_COMPLEX)
    if compiled.search("") is not None:
        raise StoryActionError(Msg.PATTERN_MATCHES_EMPTY)
    return compiled


def _too_complex(regex: str) -> bool:
    """Whether a (valid) regex could backtrack for long: a backreference or conditional,
    a repeated group that repeats or alternates inside, or more or larger repetitions
    than the bounds allow."""
    groups = [False]  # per open group: does it repeat or alternate inside?
    previous_group = False  # the item just closed was such a group
    open_ended, ways = 0, 1
    i, n = 0, len(regex)
    while i < n:
        c = regex[i]
        closed_group = False
        if c == "\\":
            if i + 1 < n and regex[i + 1] in "0123456789":
                return True  # a backreference
            i += 2
            previous_group = False
            continue
        if c == "[":
            i = _class_end(regex, i)
        elif c == "(":
            if regex.startswith("(?P=", i) or regex.startswith("(?(", i):
                return True  # a named backreference or a conditional
            groups.append(False)
            i = _group_body(regex, i)
            previous_group = False
            continue
        elif c == ")":
            inner = groups.pop() if len(groups) > 1 else False
            groups[-1] = groups[-1] or inner
            closed_group = inner
        elif c == "|":
            groups[-1] = True
        elif c in "*+{" or (c == "?" and i > 0 and regex[i - 1] not in "*+?}"):
            upper, i = _repeat(regex, i)
            if previous_group and upper != 1:
                return True  # repetition of a group that repeats or alternates
            if upper is None:
                open_ended += 1
            elif upper > REPEAT_MAX:
                return True
            else:
                ways *= upper + 1
            if upper != 1:
                groups[-1] = True
        previous_group = closed_group
        i += 1
    if open_ended:
        return open_ended > 1 or ways > REPEAT_WAYS_BESIDE_OPEN
    return ways > REPEAT_WAYS_MAX


def _class_end(regex: str, i: int) -> int:
    """The index of the `]` closing the class opened at `i`."""
    j = i + 1
    if j < len(regex) and regex[j] == "^":
        j += 1
    if j < len(regex) and regex[j] == "]":
        j += 1  # a leading `]` is a literal
    while j < len(regex) and regex[j] != "]":
        j += 2 if regex[j] == "\\" else 1
    return j


def _group_body(regex: str, i: int) -> int:
    """Past a group's opening: `(`, `(?:`, `(?=`, `(?!`, `(?>`, `(?<=`, `(?<!`,
    `(?P<name>`, or flags `(?i:` (flags alone, `(?i)`, stop before their `)`)."""
    if not regex.startswith("(?", i):
        return i + 1
    if regex.startswith("(?P<", i):
        return regex.index(">", i) + 1
    if regex.startswith(("(?<=", "(?<!"), i):
        return i + 4
    if regex.startswith(("(?:", "(?=", "(?!", "(?>"), i):
        return i + 3
    j = i + 2
    while j < len(regex) and regex[j] in "aiLmsux-":
        j += 1
    return j + 1 if j < len(regex) and regex[j] == ":" else j


def _repeat(regex: str, i: int) -> tuple[int | None, int]:
    """The upper bound of the repetition at `i` (None: open-ended) and its last index."""
    c = regex[i]
    if c == "?":
        return 1, i
    if c in "*+":
        return None, i
    m = re.compile(r"\{(\d*)(,?)(\d*)\}").match(regex, i)
    if m is None:
        return 1, i  # a literal `{`
    low, comma, high = m.groups()
    if not comma:
        return int(low or 0), m.end() - 1
    return (int(high) if high else None), m.end() - 1


def _searched(text: str) -> str:
    """Typed text as the patterns read it: compatibility forms folded (full-width letters),
    invisible format characters (zero-width spaces) removed."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


class Blocklist:
    """The patterns of each place, compiled once per process and kept in the store."""

    def __init__(self, store: SafetyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._compiled: dict[tuple[Platform, str], _Compiled] = {}

    async def patterns(self, place: Place, actor: Actor) -> list[BlockedPattern]:
        """The place's patterns (its administrators only: the list names the words)."""
        _require_admin(actor)
        return await self._store.blocked_patterns(*list_of(place))

    async def add(self, place: Place, actor: Actor, typed: str) -> str:
        """Block `typed` in the place; the pattern as kept."""
        _require_admin(actor)
        pattern = normalized(without_controls(typed).replace("\n", " "))
        compile_pattern(pattern)
        kept = await self._store.blocked_patterns(*list_of(place))
        if len(kept) >= PATTERNS_PER_PLACE:
            raise StoryActionError(Msg.PATTERNS_FULL, limit=PATTERNS_PER_PLACE)
        entry = BlockedPattern(pattern, actor.user_id, self._clock.now())
        if not await self._store.add_blocked_pattern(*list_of(place), entry):
            raise StoryActionError(Msg.PATTERN_EXISTS)
        self._compiled.pop(list_of(place), None)
        log.info("guild %s: pattern %r blocked by %s", place.guild_id, pattern, actor.user_id)
        return pattern

    async def remove(self, place: Place, actor: Actor, typed: str) -> str:
        """Unblock `typed`; the pattern as it was kept."""
        _require_admin(actor)
        pattern = normalized(without_controls(typed).replace("\n", " "))
        if not await self._store.remove_blocked_pattern(*list_of(place), pattern):
            raise StoryActionError(Msg.PATTERN_UNKNOWN)
        self._compiled.pop(list_of(place), None)
        log.info("guild %s: pattern %r unblocked by %s", place.guild_id, pattern, actor.user_id)
        return pattern

    async def check(self, place: Place, author: Actor, text: str, raw: str = "") -> None:
        """StoryActionError(TEXT_BLOCKED), which never repeats the word, when `text` (or
        the `raw` text it was cleaned from) holds a blocked pattern; the refusal is logged
        and kept with the author's id."""
        searched = {_searched(text), _searched(raw)} - {""}
        for pattern, compiled in await self._place_patterns(place):
            if any(compiled.search(one) for one in searched):
                log.info(
                    "typed text refused for user %s in %s: blocked pattern %r",
                    author.user_id,
                    place.key,
                    pattern,
                )
                await self._store.note_refusal(
                    place.key.platform,
                    place.guild_id,
                    author.user_id,
                    RefusalReason.BLOCKED,
                    self._clock.now(),
                )
                raise StoryActionError(Msg.TEXT_BLOCKED)

    async def _place_patterns(self, place: Place) -> _Compiled:
        where = list_of(place)
        compiled = self._compiled.get(where)
        if compiled is None:
            kept = await self._store.blocked_patterns(*where)
            compiled = tuple(
                (p.pattern, c) for p in kept if (c := _compiled_or_none(p.pattern)) is not None
            )
            self._compiled[where] = compiled
        return compiled


def list_of(place: Place) -> tuple[Platform, str]:
    """Whose list applies in `place`: its server's or chat's; the places the operator runs
    (the terminal and every browser story, each a place of its own) share the console's,
    which the operator manages from `bot.py console`."""
    if place.key.platform in (Platform.CONSOLE, Platform.WEB):
        return OPERATOR_LIST
    return place.key.platform, place.guild_id


def _compiled_or_none(pattern: str) -> re.Pattern[str] | None:
    """A kept pattern compiled; None (logged) for one a newer rule refuses."""
    try:
        return compile_pattern(pattern)
    except StoryActionError:
        log.warning("blocked pattern %r no longer passes the checks; skipped", pattern)
        return None


def _require_admin(actor: Actor) -> None:
    """A place's blocklist is its administrators' (Manage Server or a moderator on
    Discord, a chat administrator on Telegram)."""
    if not (actor.can_moderate or actor.can_manage_guild):
        raise StoryActionError(Msg.NOT_ALLOWED_PATTERNS)
