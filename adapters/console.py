"""Play a story in the terminal through the same engine and ports as the chat adapters."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform, SegmentState
from storycraft_bot.core.texts import Msg, decision_text, text

from .blocked_words import blocklist_reply, parse_blocklist
from .buttons import Button, ButtonKind
from .card_input import (
    CARD_MAX_BYTES,
    LOREBOOK_MAX_BYTES,
    attach_lorebook,
    check_size,
    start_from_card,
)
from .commands import (
    Attachment,
    Command,
    Reply,
    ReplyKind,
    answer,
    parse_command,
    perform,
    press,
    start_options,
)
from .own_action import submit
from .story_card import stopped_text

PLACE = Place(ChannelKey(Platform.CONSOLE, "terminal"), guild_id="console", is_group=False)
PLAYER = Actor("console", "player", can_moderate=True)

#: The commands the terminal takes (/help prints _HELP, like any unknown line).
CONSOLE_COMMANDS = (
    Command.STOP,
    Command.STATUS,
    Command.RETRY,
    Command.UNDO,
    Command.REDRAW,
    Command.BOOK,
)

_HELP = {
    Language.RU: "Введите номер варианта или своё действие. Команды: /retry /undo /redraw "
    "/status /book /stop /help /lorebook ПУТЬ",
    Language.EN: "Type a choice's number or your own action. Commands: /retry /undo /redraw "
    "/status /book /stop /help /lorebook PATH",
}
_CARD_HINT = {
    Language.RU: "/story card ПУТЬ — начать с карточки персонажа (JSON или PNG).",
    Language.EN: "/story card PATH starts from a character card (JSON or PNG).",
}
_CARD_WORDS = ("/story card ", "/card ")
_NO_STORY_YET = {
    Language.RU: "Истории пока нет: напишите завязку (или нажмите Enter — сюрприз), чтобы"
    " начать. /story card ПУТЬ — начать с карточки персонажа.",
    Language.EN: "There is no story yet: type a premise (or press Enter for a surprise) to"
    " start one. /story card PATH starts from a character card.",
}


class ConsoleView:
    """Prints engine events: narration as it streams, then numbered choices.

    Nothing is printed into a streaming narration: other news (pictures, notices) waits
    until the part is finished. A prompt that is showing is printed again under news."""

    def __init__(self, out: TextIO, language: Language) -> None:
        self._out = out
        self.language = language
        self._streaming: int | None = None  # the segment whose narration is streaming now
        self._index = 0  # the streaming segment's index
        self._shown = ""  # the streaming narration as printed so far
        self._line_open = False  # the last line printed has no newline yet
        self._prompt = ""  # the prompt waiting for the player ("" when none)
        self._held: dict[object, str] = {}  # news waiting for the narration to end
        self.current_segment: int | None = None
        self.choice_count = 0
        self.settled = asyncio.Event()  # set when the engine waits for the player again

    def _write(self, line: str = "", end: str = "\n") -> None:
        printed = line + end
        if not printed:
            return
        self._out.write(printed)
        self._out.flush()
        self._line_open = not printed.endswith("\n")

    def ask(self, prompt: str) -> None:
        """Show a prompt; news arriving before the answer goes above it."""
        self._prompt = prompt
        self._write(prompt, end="")

    def answered(self) -> None:
        """The player's line came in (the terminal has moved to a new line)."""
        self._prompt = ""
        self._line_open = False

    def _say(self, line: str, about: object = None) -> None:
        """A line of news: held while a narration streams (the newest per `about`)."""
        if self._streaming is not None:
            self._held[object() if about is None else about] = line
            return
        if self._line_open:
            self._write()
        self._write(line)
        if self._prompt:
            self._write(self._prompt, end="")

    def _stream(self, narration: str, *, final: bool = False) -> None:
        """Print what is new; a narration that no longer continues the printed one (the
        reply was repaired or asked again) is printed again in full, never glued on."""
        shown = self._shown
        if narration.startswith(shown):
            self._write(narration[len(shown) :], end="")
        elif shown.startswith(narration) and not final:
            return  # a new reply that agrees so far with what is shown: wait for more
        else:
            if self._line_open:
                self._write()
            self._write(text(self.language, Msg.NARRATION_RESTARTED))
            self._write(f"— {self._index + 1} —")
            self._write(narration, end="")
        self._shown = narration

    def _restart(self) -> None:
        """The narrator discarded what was printed: say so, and print the part afresh."""
        if not self._shown:
            return
        if self._line_open:
            self._write()
        self._write(text(self.language, Msg.NARRATION_RESTARTED))
        self._write(f"— {self._index + 1} —")
        self._shown = ""

    def _end_stream(self) -> None:
        """The narration is over: end its line and print the news that waited."""
        if self._line_open:
            self._write()
        self._streaming = None
        self._shown = ""
        held = list(self._held.values())
        self._held.clear()
        for line in held:
            self._say(line)

    async def show(self, event: ev.StoryEvent) -> None:
        self.language = event.language
        match event:
            case ev.SegmentStarted():
                self.settled.clear()
                if self._streaming is not None:
                    self._end_stream()
                elif self._line_open:
                    self._write()
                self._streaming = event.segment_id
                self._index = event.index
                self._shown = ""
                self._write(f"\n— {event.index + 1} —")
            case ev.NarrationGrew() if event.segment_id == self._streaming and event.restarted:
                self._restart()
            case ev.NarrationGrew() if event.segment_id == self._streaming:
                self._stream(event.text)
            case ev.SegmentFinished():
                segment = event.segment
                if self._streaming == segment.id:
                    self._stream(segment.narration, final=True)
                else:  # shown again (undo, restart)
                    if self._line_open:
                        self._write()
                    self._write(f"\n— {segment.index + 1} —\n{segment.narration}", end="")
                self._write()
                self._write()
                for number, choice in enumerate(segment.choices, start=1):
                    self._write(f"  {number}. {choice}")
                self._end_stream()
                self.current_segment = segment.id
                self.choice_count = len(segment.choices)
                self.settled.set()
            case ev.ChoiceDecided():
                how = decision_text(
                    event.language, event.decided_by, event.choice_text, event.votes
                )
                self._say(f"» {how}")
            case ev.SegmentFailed():
                if self._streaming == event.segment_id:
                    self._end_stream()
                self._say(f"\n! {text(event.language, event.reason)}")
                self.settled.set()
            case ev.PictureQueued():
                line = text(event.language, Msg.PICTURE_QUEUED, ahead=event.ahead)
                self._say(line, event.segment_id)
            case ev.PictureProgress():
                line = text(event.language, Msg.PICTURE_DRAWING, percent=event.percent)
                self._say(line, event.segment_id)
            case ev.PictureReady():
                self._say(f"🖼  {event.path}", event.segment_id)
            case ev.PictureFailed() if not event.outage:
                line = text(event.language, Msg.PICTURE_FAILED, reason=event.reason)
                self._say(line, event.segment_id)
            case ev.StoryStopped():
                if self._streaming is not None:
                    self._end_stream()
                self._say(stopped_text(event, "/book"))
                self.settled.set()
            case ev.Notice():
                self._say(text(event.language, event.code, **dict(event.params)))
            case _:
                pass


async def stdin_lines(stream: TextIO | None = None) -> AsyncIterator[str]:
    """Lines from standard input (or `stream`) without blocking the event loop; ends at
    end of input, also when it is closed, /dev/null or a file."""
    source = sys.stdin if stream is None else stream
    if source is None or source.closed:  # started with stdin closed (`<&-`)
        return
    try:
        mode = os.fstat(source.fileno()).st_mode
    except (OSError, ValueError):
        mode = 0
    # Only pipes, sockets and terminals can be watched by the event loop (epoll refuses
    # /dev/null and files); anything else is read in a thread, where it never blocks long.
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and source.isatty()):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        await loop.connect_read_pipe(lambda: protocol, source)
        while line_bytes := await reader.readline():
            yield line_bytes.decode("utf-8", errors="replace")
        return
    while line := await asyncio.to_thread(source.readline):
        yield line


async def run_console(
    engine: StoryEngine,
    view: ConsoleView,
    lines: AsyncIterator[str],
    out: TextIO,
    *,
    books: Path = Path("data", "books"),
) -> None:
    """The terminal game loop; returns at end of input or after /stop. `/book` writes the
    story's book into the folder `books` (DATA_DIR/books)."""

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    async def next_line(prompt: str) -> str | None:
        view.ask(prompt)
        line = await anext(lines, None)
        view.answered()
        if line is None:  # end of input (Ctrl-D, a closed pipe): leave the prompt's line
            say("")
            return None
        return line.strip()

    try:
        report = await engine.status(PLACE)
    except StoryActionError:
        report = None
    if report is not None and report.current is not None:
        view.language = report.session.language
        if report.current.state is SegmentState.OPEN:
            await view.show(
                ev.SegmentFinished(
                    PLACE.key, report.session.id, report.session.language, report.current, False
                )
            )
        elif report.current.state is SegmentState.FAILED:
            await view.show(
                ev.SegmentFailed(
                    PLACE.key,
                    report.session.id,
                    report.session.language,
                    report.current.id,
                    Msg.NARRATOR_UNAVAILABLE,
                )
            )
    else:
        say(_CARD_HINT[view.language])
        while True:  # until a story starts: a refused premise or card is said, asked again
            premise = await next_line(
                "Завязка истории (Enter — сюрприз) / Story premise (Enter for a surprise): "
            )
            if premise is None:
                return
            card = _path_after(premise, _CARD_WORDS)
            if card is None and premise.lstrip().startswith("/"):
                say(_NO_STORY_YET[view.language])  # a command, not a premise
                continue
            if card is None:
                refusal = await answer(_begin(engine, premise), view.language, "console")
                if refusal is None:
                    break
                say(refusal.text)
                continue
            started = await answer(
                _start_from(engine, view.language, card), view.language, "console card"
            )
            if started is not None and started.kind is not ReplyKind.ERROR:
                break
            if started is not None:
                say(started.text)
    await view.settled.wait()  # the help goes under the first part, not above it
    say(_HELP[view.language])
    while True:
        await view.settled.wait()
        line = await next_line("> ")
        if line is None:
            return
        lorebook = _path_after(line, ("/lorebook ",))
        if lorebook is not None:
            attached = await answer(
                _attach_from(engine, view.language, lorebook), view.language, "console lorebook"
            )
            if attached is not None:
                say(attached.text)
            continue
        command = parse_command(line) if line.startswith("/") else None
        word, _, rest = line.partition(" ")
        blocking = parse_blocklist(rest) if parse_command(word) is Command.SETTINGS else None
        if line.isdigit() and not 1 <= int(line) <= view.choice_count:
            say(text(view.language, Msg.CHOOSE_NUMBER, count=view.choice_count))
            continue
        if line.isdigit() and view.current_segment is not None:
            choice = Button(ButtonKind.CHOICE, view.current_segment, int(line) - 1)
            work = press(engine, choice, PLACE, PLAYER, view.language)
        elif command in CONSOLE_COMMANDS:
            work = perform(engine, command, PLACE, PLAYER, view.language)
        elif line.strip() and not line.startswith("/") and not line.strip().isdigit():
            # Free text is the player's own action for the part on screen.
            work = submit(engine, PLACE, PLAYER, view.language, view.current_segment, line)
        elif blocking is not None:  # `/settings block <word>`: the operator's blocklist
            command = Command.SETTINGS
            work = blocklist_reply(engine, PLACE, PLAYER, view.language, *blocking)
        else:
            if line:
                say(_HELP[view.language])
            continue
        if command is None or command is Command.RETRY:
            view.settled.clear()  # a new part comes: wait for its events
        reply = await answer(work, view.language, "console")
        if reply is None:
            continue
        if reply.kind is ReplyKind.ERROR:
            view.settled.set()
        if reply.attachment is not None:
            path = await asyncio.to_thread(_save, books, reply.attachment)
            say(text(view.language, Msg.BOOK_SAVED, path=path))
            continue
        # The screen shows what the engine did; say only what it cannot show yet.
        if reply.kind in (ReplyKind.INFO, ReplyKind.ACK, ReplyKind.ERROR):
            say(reply.text)
        if command is Command.STOP and reply.kind is not ReplyKind.ERROR:
            return


async def _begin(engine: StoryEngine, typed: str) -> Reply | None:
    """Start the story (`length=… style=…` words may lead the premise); nothing to say
    unless it is refused (see commands.answer)."""
    chosen = start_options(typed)
    await engine.start(
        PLACE, PLAYER, premise=chosen.premise, length=chosen.length, style=chosen.style
    )
    return None


def _save(folder: Path, attachment: Attachment) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / attachment.name
    path.write_bytes(attachment.data)
    return path.resolve()


def _path_after(line: str, words: tuple[str, ...]) -> Path | None:
    """The path typed after one of `words` (`/story card cards/mira.png`), else None."""
    for word in words:
        if line.lower().startswith(word) and line[len(word) :].strip():
            return Path(line[len(word) :].strip()).expanduser()
    return None


def _read(path: Path, limit: int) -> bytes:
    try:
        check_size(path.stat().st_size, limit)
        return path.read_bytes()
    except OSError as err:
        raise StoryActionError(Msg.CARD_DOWNLOAD_FAILED) from err


async def _start_from(engine: StoryEngine, language: Language, path: Path) -> Reply:
    data = await asyncio.to_thread(_read, path, CARD_MAX_BYTES)
    return await start_from_card(engine, PLACE, PLAYER, language, data)


async def _attach_from(engine: StoryEngine, language: Language, path: Path) -> Reply:
    data = await asyncio.to_thread(_read, path, LOREBOOK_MAX_BYTES)
    return await attach_lorebook(engine, PLACE, PLAYER, language, data)
