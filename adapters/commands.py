"""One command vocabulary for every screen: the commands, the one table that says which
engine call each makes and what it answers, the press replies, and the one error path.

Which replies a screen shows is the screen's policy, by `ReplyKind`: Discord must answer
every interaction and shows all; a Telegram chat command shows information and errors
(its effect appears in the chat anyway); the console also says what takes a while.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    IllustrateMode,
    Language,
    NoVoteRule,
    Participation,
    Place,
    Rating,
    StoryLength,
    StorySettings,
)
from storycraft_bot.core.texts import Msg, rating_name, status_text, text

from .book import book_file_name, book_html, embedded_pictures
from .buttons import Button, ButtonKind

log = logging.getLogger(__name__)


class Command(enum.StrEnum):
    """What a player can ask for; the value is the command's word."""

    START = "start"
    STOP = "stop"
    STATUS = "status"
    RETRY = "retry"
    UNDO = "undo"
    REDRAW = "redraw"
    SETTINGS = "settings"
    HELP = "help"
    CLOSE_VOTE = "close"
    BOOK = "book"
    REROLL = "choices"  # other choices for the open part (issue 16)
    LOREBOOK = "lorebook"  # a file to attach: each screen fetches it (see card_input)


def parse_command(word: str) -> Command | None:
    """`/retry`, `retry` or `/retry@SomeBot` as a command; None for anything else."""
    name = word.strip().lstrip("/").split("@")[0].lower()
    try:
        return Command(name)
    except ValueError:
        return None


class ReplyKind(enum.Enum):
    """What a reply is, so each screen can decide whether to show it."""

    INFO = enum.auto()  # asked-for information (status, help)
    ACK = enum.auto()  # the request is taken; its effect takes a while (a picture)
    SEEN = enum.auto()  # the request is done and its effect is on screen already
    ERROR = enum.auto()  # refused or failed


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a reply carries (the book): its name and contents."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    kind: ReplyKind
    attachment: Attachment | None = None
    #: A refusal's catalogue key, for screens that show some refusals otherwise.
    code: Msg | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A command that is one engine call on (place, actor) and a fixed answer."""

    call: Callable[[StoryEngine, Place, Actor], Awaitable[object]]
    reply: Msg
    kind: ReplyKind


#: The table: command -> engine call -> reply. These are for the starter or a moderator.
ACTIONS: dict[Command, Action] = {
    Command.STOP: Action(StoryEngine.stop, Msg.STORY_STOPPED, ReplyKind.SEEN),
    Command.RETRY: Action(StoryEngine.retry, Msg.RETRYING, ReplyKind.SEEN),
    Command.UNDO: Action(StoryEngine.undo, Msg.UNDONE, ReplyKind.SEEN),
    Command.REDRAW: Action(StoryEngine.redraw, Msg.REDRAWING, ReplyKind.ACK),
    Command.CLOSE_VOTE: Action(StoryEngine.close_vote, Msg.VOTE_CLOSED, ReplyKind.SEEN),
    Command.REROLL: Action(StoryEngine.reroll, Msg.REROLLING, ReplyKind.ACK),
}

#: Commands whose actor must be checked as a moderator (Telegram asks the chat for these).
MODERATED = frozenset(ACTIONS)


class PartCall(Protocol):
    """An engine call a button makes on the part it was posted on."""

    def __call__(
        self, engine: StoryEngine, place: Place, actor: Actor, /, *, segment_id: int | None = None
    ) -> Awaitable[object]: ...


#: What pressing an action button means: its command (for the reply) and the engine call,
#: which refuses with "this part is over" unless the button's part is still the one acted on.
BUTTON_COMMANDS: dict[ButtonKind, tuple[Command, PartCall]] = {
    ButtonKind.CLOSE_VOTE: (Command.CLOSE_VOTE, StoryEngine.close_vote),
    ButtonKind.RETRY: (Command.RETRY, StoryEngine.retry),
    ButtonKind.REDRAW: (Command.REDRAW, StoryEngine.redraw),
    ButtonKind.REROLL: (Command.REROLL, StoryEngine.reroll),
}

#: How the settings name who chooses and what decides an empty vote (issue 16).
MODE_LABELS = {
    Participation.STARTER: Msg.MODE_STARTER_BUTTON,
    Participation.ANYONE: Msg.MODE_ANYONE_BUTTON,
    Participation.VOTE: Msg.MODE_VOTE_BUTTON,
}
NO_VOTE_LABELS = {
    NoVoteRule.RANDOM: Msg.NO_VOTES_RANDOM_BUTTON,
    NoVoteRule.STARTER: Msg.NO_VOTES_STARTER_BUTTON,
}

#: The presser's private answer to a choice press.
PRESS_REPLIES = {
    PressKind.DECIDED: Msg.CHOSEN,
    PressKind.VOTE_COUNTED: Msg.VOTE_COUNTED,
    PressKind.VOTE_CHANGED: Msg.VOTE_CHANGED,
    PressKind.VOTE_SAME: Msg.VOTE_SAME,
    PressKind.OWN_ACTION_ADDED: Msg.OWN_ACTION_ON_BALLOT,
}


async def perform(
    engine: StoryEngine,
    command: Command,
    place: Place,
    actor: Actor,
    language: Language,
    *,
    help_text: Msg = Msg.HELP,
    web_url: str = "",
) -> Reply:
    """Run a command that takes no arguments (all but START and SETTINGS). `web_url` is
    where the web adapter is reachable (WEB_PUBLIC_URL), for the book's link."""
    if command is Command.STATUS:
        return Reply(status_text(await engine.status(place, actor)), ReplyKind.INFO)
    if command is Command.HELP:
        return Reply(text(language, help_text), ReplyKind.INFO)
    if command is Command.BOOK:
        return await book_reply(engine, place, language, web_url)
    action = ACTIONS.get(command)
    if action is None:
        raise ValueError(f"{command} takes arguments: the screen asks for them")
    await action.call(engine, place, actor)
    return Reply(text(language, action.reply), action.kind)


async def book_reply(engine: StoryEngine, place: Place, language: Language, web_url: str) -> Reply:
    """The channel's newest story as one HTML file with its pictures inside, and its
    link when the web adapter is reachable."""
    book = await engine.book(place)
    # Reading and shrinking pictures is slow file and CPU work: off the event loop.
    page = await asyncio.to_thread(book_html, book, embedded_pictures())
    lines = [text(language, Msg.BOOK_READY, title=book.title, parts=len(book.parts))]
    if web_url:
        lines.append(text(language, Msg.BOOK_LINK, url=book_url(web_url, book.book_id)))
    attachment = Attachment(book_file_name(book), page.encode("utf-8"))
    return Reply("\n".join(lines), ReplyKind.INFO, attachment)


def book_url(web_url: str, book_id: str) -> str:
    """Where the web adapter serves a book: `<WEB_PUBLIC_URL>/book/<id>`."""
    return f"{web_url.rstrip('/')}/book/{book_id}"


async def start_story(
    engine: StoryEngine,
    place: Place,
    actor: Actor,
    language: Language,
    premise: str = "",
    genre: str | None = None,
    *,
    rating: Rating | None = None,
    length: StoryLength | None = None,
    participation: Participation | None = None,
    style: str | None = None,
) -> Reply:
    await engine.start(
        place,
        actor,
        premise=premise,
        genre=genre,
        language=language,
        rating=rating,
        length=length,
        participation=participation,
        style=style,
    )
    return Reply(text(language, Msg.STORY_STARTED), ReplyKind.SEEN)


@dataclass(frozen=True, slots=True)
class StartOptions:
    """A typed start line taken apart: `length=short mode=anyone The lost key`."""

    premise: str
    length: StoryLength | None = None
    participation: Participation | None = None
    style: str | None = None  # a picture style's name, checked by the engine


def start_options(line: str) -> StartOptions:
    """The leading `length=<short|medium|long|endless>`, `mode=<starter|anyone|vote>` and
    `style=<name>` words of a typed start (screens without option fields; `fairy_tale` for
    a name with a space), the rest is the premise; a length or mode that names no known
    value stays in the premise, while an unknown style is refused by the engine."""
    words = line.split()
    length: StoryLength | None = None
    participation: Participation | None = None
    style: str | None = None
    while words:
        name, sep, value = words[0].replace(":", "=", 1).partition("=")
        name, value = name.lower(), value.lower()
        if sep and name == "length" and value in set(StoryLength):
            length = StoryLength(value)
        elif sep and name == "mode" and value in set(Participation):
            participation = Participation(value)
        elif sep and name == "style" and value:
            style = value
        else:
            break
        words.pop(0)
    return StartOptions(" ".join(words), length, participation, style)


async def press(
    engine: StoryEngine,
    button: Button | None,
    place: Place,
    actor: Actor,
    language: Language,
    *,
    retired: bool = False,
) -> Reply:
    """A press on a card's button (a decoded id, see buttons.decode); `None` (an id the bot
    never made) is refused like a press on a part that is over, and so is any button of a
    `retired` message (posted again elsewhere: only the new one takes votes)."""
    if button is None or retired or button.kind is ButtonKind.OWN_ACTION:
        # An own-action button asks for text: its screen handles it, never a bare press.
        raise StoryActionError(Msg.PART_OVER)
    if button.kind is ButtonKind.CHOICE:
        outcome = await engine.press(place, actor, button.segment_id, button.index)
        reply = text(language, PRESS_REPLIES[outcome.kind], choice=outcome.choice_text)
        return Reply(reply, ReplyKind.SEEN)
    command, call = BUTTON_COMMANDS[button.kind]
    await call(engine, place, actor, segment_id=button.segment_id)
    action = ACTIONS[command]
    return Reply(text(language, action.reply), action.kind)


def settings_text(language: Language, settings: StorySettings) -> str:
    state = text(language, Msg.ON if settings.pictures else Msg.OFF)
    window = int(settings.vote_window_seconds)
    rating = rating_name(language, settings.rating)
    return text(language, Msg.SETTINGS_TITLE, pictures=state, window=window, rating=rating)


async def answer(work: Awaitable[Reply | None], language: Language, what: str) -> Reply | None:
    """The one error path: a refusal becomes its catalogue text; anything else is logged
    once with its traceback and answered with the internal-error text."""
    try:
        return await work
    except StoryActionError as err:
        return Reply(text(language, err.code, **err.params), ReplyKind.ERROR, code=err.code)
    except Exception:
        log.exception("%s failed", what)
        return Reply(text(language, Msg.INTERNAL_ERROR), ReplyKind.ERROR)


#: The illustrate modes a settings screen offers, with their button labels, in order.
ILLUSTRATE_LABELS: dict[IllustrateMode, Msg] = {
    IllustrateMode.EVERY_PART: Msg.ILLUSTRATE_EVERY_PART,
    IllustrateMode.SCENE_CHANGE: Msg.ILLUSTRATE_SCENE_CHANGE,
}
