"""The web adapter (aiohttp.web, in the bot's event loop): a story page per story, HTML
rendered on the server, kept live over a WebSocket. It translates only, like the chat
adapters: the shared outline (screen.py) decides what each part shows and when.

Each web story is a place: `ChannelKey(WEB, <unguessable id>)`, the id being the story
link's last part. Everyone with the link sees the story and may press; a story started
with "play together" is a group (presses are votes with live counts, as in a Telegram
group), otherwise the first press decides. The starter is the browser that started it
(a player cookie), so only it may retry, undo, redraw, stop or change the settings.

Every part is one message: a <section> whose HTML is rebuilt on each change. A room
(one story's browsers) keeps the messages as they stand, so a reload renders them on
the server and a reconnecting socket gets them all at once; changes go out to the room
in one frame per `batch_interval` at most. A room not in memory (after a restart, or
dropped for newer ones) is rebuilt from the story's book: every part so far, the
current one live. The HTTP and WebSocket handlers are in web_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from storycraft_bot.core.book import BookPart
from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import ChannelKey, Language, Place, Platform
from storycraft_bot.core.screen_records import ScreenRecords
from storycraft_bot.core.texts import Msg, text

from . import web_page as page
from .buttons import card_buttons, encode
from .screen import Fault, Screen, Shown
from .story_card import StoryCard, closes_in
from .web_server import STORY_ID, Room, WebConfig, WebServer, send_text

__all__ = ["Room", "WebAdapter", "WebConfig"]

log = logging.getLogger(__name__)

LABEL_LIMIT = 80
SIZES_KEPT = 4096


class WebAdapter(Screen[str]):
    """Keeps the story rooms and implements the engine's StoryView for them."""

    platform = Platform.WEB
    picture_rides_on_text = True  # the picture is part of its section's HTML

    def __init__(
        self,
        engine: StoryEngine,
        records: ScreenRecords,
        config: WebConfig,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(engine, records, clock or SystemClock())
        self._config = config
        self._rooms: OrderedDict[str, Room] = OrderedDict()
        self._sizes: OrderedDict[str, tuple[int, int] | None] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self._server = WebServer(engine, self, config, self._clock)
        self.app = self._server.app

    @property
    def address(self) -> str:
        """Where browsers find the adapter (WEB_PUBLIC_URL, else the bound address)."""
        if self._config.public_url:
            return self._config.public_url
        port = self._config.port
        if self._runner is not None and self._runner.addresses:
            port = self._runner.addresses[0][1]
        host = self._config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def book_hint(self, language: Language) -> str:
        """The page's own book link (at the top of the story page)."""
        return f"“{page.ui(language, page.Ui.BOOK)}” ↑"

    async def start(self) -> str:
        """Listen; the address. Raises OSError when the port is taken."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._config.host, self._config.port).start()
        except BaseException:
            await self._runner.cleanup()
            raise
        log.info("web: serving on %s", self.address)
        return self.address

    @property
    def connected(self) -> bool:
        """The server listens (between start and stop)."""
        return self._runner is not None and bool(self._runner.sites)

    async def stop(self) -> None:
        await self.close()
        for room in self._rooms.values():
            if room.flusher is not None:
                room.flusher.cancel()
            for ws in list(room.sockets):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # From the engine to the page: the Screen hooks

    def edit_interval(self, card: StoryCard) -> float:
        return self._config.batch_interval

    def layout(self, shown: Shown) -> list[str]:
        return [page.part_html(self._part(shown.card))]

    def fingerprint(self, piece: str) -> str:
        return piece

    async def send(self, shown: Shown, piece: str, *, last: bool) -> int:
        room = self._room_of(shown.key)
        number = room.new_id()
        self._put(room, number, piece)
        return number

    async def edit(self, shown: Shown, number: int, piece: str, *, last: bool) -> None:
        self._put(self._room_of(shown.key), shown.messages[number], piece)

    async def post(self, key: ChannelKey, message: str) -> None:
        room = self._room_of(key)
        self._put(room, room.new_id(), page.notice_html(message))

    def fault(self, error: Exception) -> Fault | None:
        return None  # nothing here refuses: a dead socket only leaves its room

    def _part(self, card: StoryCard) -> page.PartView:
        lines = card.status_lines(closes_in(self._clock))
        wait = card.picture if card.picture_pending else ""
        url, size = self._picture(card.picture_path)
        return page.PartView(
            card.segment_id,
            card.state.value,
            card.narration,
            [line for line in lines if not wait or line != wait],
            [(encode(b), b) for b in card_buttons(card, LABEL_LIMIT)],
            picture_url=url,
            picture_size=size,
            picture_wait=wait,
            picture_alt=page.ui(card.language, page.Ui.PICTURE),
        )

    def _past_part(self, part: BookPart, language: Language) -> page.PartView:
        """A part from the book: its text, picture and the choice that led on."""
        url, size = self._picture(part.picture or "")
        chosen = [text(language, Msg.BOOK_CHOSEN, choice=part.choice)] if part.choice else []
        return page.PartView(
            part.segment_id,
            "decided",
            part.narration,
            chosen,
            [],
            picture_url=url,
            picture_size=size,
            picture_alt=page.ui(language, page.Ui.PICTURE),
        )

    def _picture(self, file: str) -> tuple[str, tuple[int, int] | None]:
        """A picture file's URL on the story page and its size ("" and None for none)."""
        if not file:
            return "", None
        path = Path(file)
        return f"/pictures/{quote(path.parent.name)}/{quote(path.name)}", self.picture_size(path)

    def picture_size(self, path: Path) -> tuple[int, int] | None:
        """A picture's size, read once (24 bytes of its header)."""
        key = str(path)
        if key not in self._sizes:
            self._sizes[key] = page.png_size(path)
            while len(self._sizes) > SIZES_KEPT:
                self._sizes.popitem(last=False)
        return self._sizes[key]

    # Rooms and their frames

    def _room_of(self, key: ChannelKey) -> Room:
        room = self._rooms.get(key.channel_id)
        if room is None:
            room = self.open_room(Place(key, f"web:{key.channel_id}", False))
        return room

    def open_room(self, place: Place) -> Room:
        room = Room(place)
        self._rooms[place.key.channel_id] = room
        while len(self._rooms) > self._config.max_rooms:
            for story, old in self._rooms.items():
                if not old.sockets:
                    del self._rooms[story]
                    break
            else:
                break  # every room is watched: keep them all
        return room

    def drop_room(self, story: str) -> None:
        self._rooms.pop(story, None)

    async def find_room(self, story: str) -> Room | None:
        """The story's room (None for an unknown story), knowing its book."""
        if not STORY_ID.fullmatch(story):
            return None
        room = self._rooms.get(story)
        if room is None:
            return await self._rebuild(story)
        self._rooms.move_to_end(story)
        if not room.book_id:
            # While the story is being started there is no book yet: the next visit links it.
            with contextlib.suppress(StoryActionError):
                room.book_id = (await self._engine.book(room.place)).book_id
        return room

    async def _rebuild(self, story: str) -> Room | None:
        """The room of a story not in memory, from its book: every part so far in
        order, the current part as a live card (with its buttons and votes)."""
        place = Place(ChannelKey(Platform.WEB, story), f"web:{story}", False)
        try:
            book = await self._engine.book(place)
        except StoryActionError:
            return None
        try:
            report = await self._engine.status(place)
        except StoryActionError:
            report = None  # the story has ended: its book is all there is
        current = report.current if report is not None else None
        room = self.open_room(place)
        room.book_id = book.book_id
        for n, part in enumerate(book.parts):
            if current is not None and part.segment_id == current.id:
                continue
            # Each part keeps the message id it had, so later edits land on it.
            number = await self._message_id(part.segment_id, n - len(book.parts))
            room.messages[number] = page.part_html(self._past_part(part, book.language))
        if report is not None and current is not None:
            session = report.session
            card = StoryCard.from_segment(
                current,
                session.language,
                session.place.is_group,
                own_actions=session.settings.own_actions,
            )
            if report.tally is not None:
                card.counts = report.tally.counts
            number = await self._message_id(current.id, room.new_id())
            room.messages[number] = page.part_html(self._part(card))
        return room

    async def _message_id(self, segment_id: int, otherwise: int) -> int:
        """The message a part was shown in (`otherwise` when none was recorded)."""
        shown = await self._records.shown_segment(segment_id, Platform.WEB)
        refs = shown.messages if shown is not None else ()
        return refs[-1].message_id if refs else otherwise

    def _put(self, room: Room, number: int, html: str) -> None:
        room.messages[number] = html
        while len(room.messages) > self._config.max_messages:
            room.messages.popitem(last=False)
        room.dirty[number] = html
        if room.flusher is None:
            room.flusher = asyncio.create_task(self._send_changes(room))

    async def _send_changes(self, room: Room) -> None:
        """Send what changed in one frame, no sooner than `batch_interval` after the last."""
        await asyncio.sleep(0)  # the changes of this moment join the frame
        if room.last_flush is not None:
            interval = frame_interval(
                self._config.batch_interval, len(room.sockets), self._config.crowd
            )
            wait = room.last_flush + interval - self._clock.now()
            if wait > 0:
                await self._clock.sleep(wait)
        room.last_flush = self._clock.now()
        items = list(room.dirty.items())
        room.dirty.clear()
        room.flusher = None  # a change from now on schedules the next frame
        await self._broadcast(room, {"op": "parts", "items": items, "reset": False})

    async def _broadcast(self, room: Room, frame: dict[str, Any]) -> None:
        data = json.dumps(frame, ensure_ascii=False)
        for ws in list(room.sockets):
            await send_text(ws, data, room)


#: The longest a room's frames wait however many watch it: the text still moves.
MAX_FRAME_INTERVAL = 1.0


def frame_interval(base: float, sockets: int, crowd: int) -> float:
    """Seconds between a room's frames: `base` up to `crowd` sockets, then longer in
    proportion, since each frame costs one send per socket (up to MAX_FRAME_INTERVAL)."""
    stretched = base * max(1.0, sockets / max(crowd, 1))
    return min(max(base, MAX_FRAME_INTERVAL), stretched)
