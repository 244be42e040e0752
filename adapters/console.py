"""Play a story in the terminal through the same engine and ports as the chat adapters."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform, SegmentState
from storycraft_bot.core.texts import Msg, decision_text, text

from .buttons import Button, ButtonKind
from .commands import Command, ReplyKind, answer, parse_command, perform, press

PLACE = Place(ChannelKey(Platform.CONSOLE, "terminal"), guild_id="console", is_group=False)
PLAYER = Actor("console", "player", can_moderate=True)

#: The commands the terminal takes (/help prints _HELP, like any unknown line).
CONSOLE_COMMANDS = (Command.STOP, Command.STATUS, Command.RETRY, Command.UNDO, Command.REDRAW)

_HELP = {
    Language.RU: "Введите номер варианта. Команды: /retry /undo /redraw /status /stop /help",
    Language.EN: "Type a choice's number. Commands: /retry /undo /redraw /status /stop /help",
}


class ConsoleView:
    """Prints engine events: narration as it streams, then numbered choices."""

    def __init__(self, out: TextIO, language: Language) -> None:
        self._out = out
        self.language = language
        self._printed: dict[int, int] = {}  # narration characters already printed
        self._streaming: int | None = None  # the segment whose narration is streaming now
        self.current_segment: int | None = None
        self.choice_count = 0
        self.settled = asyncio.Event()  # set when the engine waits for the player again

    def _write(self, line: str = "", end: str = "\n") -> None:
        self._out.write(line + end)
        self._out.flush()

    def _stream(self, segment_id: int, narration: str) -> None:
        done = self._printed.get(segment_id, 0)
        if narration.startswith(narration[:done]) and len(narration) > done:
            self._write(narration[done:], end="")
            self._printed[segment_id] = len(narration)

    async def show(self, event: ev.StoryEvent) -> None:
        self.language = event.language
        match event:
            case ev.SegmentStarted():
                self.settled.clear()
                self._streaming = event.segment_id
                self._printed[event.segment_id] = 0
                self._write(f"\n— {event.index + 1} —")
            case ev.NarrationGrew():
                self._stream(event.segment_id, event.text)
            case ev.SegmentFinished():
                segment = event.segment
                if self._streaming != segment.id:  # shown again (undo, restart)
                    self._write(f"\n— {segment.index + 1} —\n{segment.narration}")
                elif self._printed.get(segment.id, 0):
                    self._stream(segment.id, segment.narration)
                    self._write()
                else:
                    self._write(segment.narration)
                self._streaming = None
                self._write()
                for number, choice in enumerate(segment.choices, start=1):
                    self._write(f"  {number}. {choice}")
                self.current_segment = segment.id
                self.choice_count = len(segment.choices)
                self.settled.set()
            case ev.ChoiceDecided():
                how = decision_text(
                    event.language, event.decided_by, event.choice_text, event.votes
                )
                self._write(f"» {how}")
            case ev.SegmentFailed():
                self._write(f"\n! {text(event.language, event.reason)}")
                self.settled.set()
            case ev.PictureQueued():
                self._write(text(event.language, Msg.PICTURE_QUEUED, ahead=event.ahead))
            case ev.PictureProgress():
                self._write(text(event.language, Msg.PICTURE_DRAWING, percent=event.percent))
            case ev.PictureReady():
                self._write(f"🖼  {event.path}")
            case ev.PictureFailed() if not event.outage:
                self._write(text(event.language, Msg.PICTURE_FAILED, reason=event.reason))
            case ev.StoryStopped():
                self._write(text(event.language, Msg.STORY_STOPPED))
                self.settled.set()
            case ev.Notice():
                self._write(text(event.language, event.code, **dict(event.params)))
            case _:
                pass


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except ValueError:  # a regular file: read it in a thread instead
        while line := await asyncio.to_thread(sys.stdin.readline):
            yield line
        return
    while line_bytes := await reader.readline():
        yield line_bytes.decode("utf-8", errors="replace")


async def run_console(
    engine: StoryEngine, view: ConsoleView, lines: AsyncIterator[str], out: TextIO
) -> None:
    """The terminal game loop; returns at end of input or after /stop."""

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    async def next_line(prompt: str) -> str | None:
        out.write(prompt)
        out.flush()
        line = await anext(lines, None)
        return None if line is None else line.strip()

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
        premise = await next_line(
            "Завязка истории (Enter — сюрприз) / Story premise (Enter for a surprise): "
        )
        if premise is None:
            return
        await engine.start(PLACE, PLAYER, premise=premise)
    await view.settled.wait()  # the help goes under the first part, not above it
    say(_HELP[view.language])
    while True:
        await view.settled.wait()
        line = await next_line("> ")
        if line is None:
            return
        command = parse_command(line) if line.startswith("/") else None
        if line.isdigit() and not 1 <= int(line) <= view.choice_count:
            say(text(view.language, Msg.CHOOSE_NUMBER, count=view.choice_count))
            continue
        if line.isdigit() and view.current_segment is not None:
            choice = Button(ButtonKind.CHOICE, view.current_segment, int(line) - 1)
            work = press(engine, choice, PLACE, PLAYER, view.language)
        elif command in CONSOLE_COMMANDS:
            work = perform(engine, command, PLACE, PLAYER, view.language)
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
        # The screen shows what the engine did; say only what it cannot show yet.
        if reply.kind in (ReplyKind.INFO, ReplyKind.ACK, ReplyKind.ERROR):
            say(reply.text)
        if command is Command.STOP and reply.kind is not ReplyKind.ERROR:
            return
