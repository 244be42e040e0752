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
in one frame per `batch_interval` at most.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import WSMsgType, web

from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform
from storycraft_bot.core.screen_records import ScreenRecords

from . import web_page as page
from .buttons import card_buttons, encode
from .commands import Reply, ReplyKind, answer, perform, press, settings_text, start_story
from .screen import Fault, Screen, Shown
from .story_card import StoryCard, closes_in
from .web_frames import MAX_FRAME_CHARS, Ask, Configure, Frame, FrameBudget, FrameError, parse_frame
from .web_frames import Press as PressFrame

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "web_static"
STORY_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
PLAYER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
PICTURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LABEL_LIMIT = 80
FRAME_ERRORS = {
    FrameError.BAD_FRAME: page.Ui.BAD_FRAME,
    FrameError.TOO_BIG: page.Ui.TOO_BIG,
    FrameError.TOO_FAST: page.Ui.TOO_FAST,
}
SECURITY_HEADERS = {
    # No inline script or style anywhere: even an escaping slip could not run code.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    # The story link is the key to the story: never sent to another site. (no-referrer
    # would make the browser send "Origin: null" with our own form.)
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Where the web adapter listens and how much one browser may ask of it."""

    host: str = "127.0.0.1"
    port: int = 8080
    token: str = ""  # required unless bound to loopback (see bot.py)
    public_url: str = ""
    pictures_dir: Path = Path("data/pictures")
    language: Language = Language.RU
    batch_interval: float = 0.1  # at most one frame per room this often
    frames_per_second: float = 5.0
    frame_burst: int = 20
    max_rooms: int = 1024  # rooms kept in memory; older ones are rebuilt on their next visit
    max_messages: int = 400  # messages a room keeps (the newest)
    vote_windows: tuple[int, ...] = (30, 60, 120)


@dataclass(eq=False)
class Room:
    """One story's page: its messages as they stand and the sockets watching it."""

    place: Place
    messages: OrderedDict[int, str] = field(default_factory=OrderedDict)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    dirty: dict[int, str] = field(default_factory=dict)
    flusher: asyncio.Task[None] | None = None
    last_flush: float | None = None

    def new_id(self) -> int:
        return max(self.messages, default=0) + 1


class WebAdapter(Screen[str]):
    """Serves the story pages and implements the engine's StoryView for them."""

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
        self.app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        self.app.add_routes(
            [
                web.get("/", self._on_index),
                web.post("/start", self._on_start),
                web.get("/s/{story}", self._on_story),
                web.get("/s/{story}/ws", self._on_socket),
                web.get("/pictures/{folder}/{name}", self._on_picture),
                web.static("/static", STATIC),
            ]
        )

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
        url, size = "", None
        if card.picture_path:
            path = Path(card.picture_path)
            url = f"/pictures/{quote(path.parent.name)}/{quote(path.name)}"
            size = self._size(path)
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

    def _size(self, path: Path) -> tuple[int, int] | None:
        """A picture's size, read once (24 bytes of its header)."""
        key = str(path)
        if key not in self._sizes:
            self._sizes[key] = page.png_size(path)
            while len(self._sizes) > 4096:
                self._sizes.popitem(last=False)
        return self._sizes[key]

    # Rooms and their frames

    def _room_of(self, key: ChannelKey) -> Room:
        room = self._rooms.get(key.channel_id)
        if room is None:
            room = self._add_room(Place(key, f"web:{key.channel_id}", False))
        return room

    def _add_room(self, place: Place) -> Room:
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

    async def _find_room(self, story: str) -> Room | None:
        """The story's room; rebuilt from the engine (its current part) when the story is
        live but its room was dropped or the bot restarted."""
        if not STORY_ID.fullmatch(story):
            return None
        room = self._rooms.get(story)
        if room is not None:
            self._rooms.move_to_end(story)
            return room
        place = Place(ChannelKey(Platform.WEB, story), f"web:{story}", False)
        try:
            report = await self._engine.status(place)
        except StoryActionError:
            return None
        room = self._add_room(place)
        current = report.current
        if current is not None:
            session = report.session
            card = StoryCard.from_segment(current, session.language, session.place.is_group)
            if report.tally is not None:
                card.counts = report.tally.counts
            shown = await self._records.shown_segment(current.id, Platform.WEB)
            refs = shown.messages if shown is not None else ()
            number = refs[-1].message_id if refs else room.new_id()
            room.messages[number] = page.part_html(self._part(card))
        return room

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
            wait = room.last_flush + self._config.batch_interval - self._clock.now()
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
            await self._send(ws, data, room)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, data: str, room: Room | None = None) -> None:
        try:
            await ws.send_str(data)
        except (ConnectionError, RuntimeError):
            if room is not None:
                room.sockets.discard(ws)

    # HTTP

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The token (when set) on every request; security headers on every answer."""
        token = self._config.token
        given = request.query.get("token") or request.cookies.get("sc_token", "")
        if not given and request.headers.get("Authorization", "").startswith("Bearer "):
            given = request.headers["Authorization"].removeprefix("Bearer ")
        if token and not hmac.compare_digest(given.encode(), token.encode()):
            language = self._language(request)
            return web.Response(
                status=401, text=page.ui(language, page.Ui.NEED_TOKEN), headers=SECURITY_HEADERS
            )
        response: web.StreamResponse = await handler(request)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
            if token and request.query.get("token"):
                response.set_cookie("sc_token", token, httponly=True, samesite="Strict")
            lang = request.query.get("lang")
            if lang in {lang.value for lang in Language}:
                response.set_cookie("sc_lang", lang, samesite="Lax", max_age=365 * 86400)
        return response

    def _language(self, request: web.Request) -> Language:
        """?lang=, then the cookie the switch set, then Accept-Language."""
        for chosen in (request.query.get("lang"), request.cookies.get("sc_lang")):
            if chosen in {lang.value for lang in Language}:
                return Language(chosen)
        ranked: list[tuple[float, int, str]] = []
        for n, item in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
            name, _, weight = item.strip().partition(";q=")
            try:
                q = float(weight) if weight else 1.0
            except ValueError:
                continue
            ranked.append((-q, n, name.strip().lower()[:2]))
        for _, _, name in sorted(ranked):
            if name in {lang.value for lang in Language}:
                return Language(name)
        return self._config.language

    @staticmethod
    def _player(request: web.Request) -> tuple[str, bool]:
        """The browser's player id (from its cookie), and whether it is new."""
        player = request.cookies.get("sc_player", "")
        if PLAYER_ID.fullmatch(player):
            return player, False
        return secrets.token_urlsafe(12), True

    def _html(self, request: web.Request, body: str, status: int = 200) -> web.Response:
        response = web.Response(text=body, status=status, content_type="text/html")
        player, new = self._player(request)
        if new:
            response.set_cookie("sc_player", player, httponly=True, samesite="Lax", max_age=10**8)
        return response

    async def _on_index(self, request: web.Request) -> web.Response:
        return self._html(request, page.start_page(self._language(request)))

    async def _on_start(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        language = self._language(request)
        if not self._same_origin(request, required=False):
            raise web.HTTPForbidden(text="cross-origin request refused")
        form = await request.post()
        premise, genre, story_language = (
            str(form.get(name, "")) for name in ("premise", "genre", "language")
        )
        together = form.get("together") == "1"
        told = Language(story_language) if story_language in {"ru", "en"} else language
        player, new = self._player(request)
        story = secrets.token_urlsafe(24)
        place = Place(ChannelKey(Platform.WEB, story), f"web:{story}", together)
        room = self._add_room(place)
        actor = Actor(f"web:{player}", f"guest-{player[:4]}")
        reply = await answer(
            start_story(self._engine, place, actor, told, premise[:1000], genre[:60] or None),
            language,
            "web: start",
        )
        log.info("web: start in %s handled in %.2fs", place.key, time.monotonic() - started)
        if reply is not None and reply.kind is ReplyKind.ERROR:
            self._rooms.pop(story, None)
            del room
            return self._html(request, page.start_page(language, error=reply.text), status=400)
        redirect = web.HTTPSeeOther(f"/s/{story}", headers=SECURITY_HEADERS)
        if new:
            redirect.set_cookie("sc_player", player, httponly=True, samesite="Lax", max_age=10**8)
        raise redirect

    async def _on_story(self, request: web.Request) -> web.Response:
        language = self._language(request)
        room = await self._find_room(request.match_info["story"])
        if room is None:
            return self._html(
                request, page.message_page(language, page.ui(language, page.Ui.NO_STORY)), 404
            )
        body = page.story_page(
            language,
            room.place.key.channel_id,
            list(room.messages.items()),
            vote_windows=self._config.vote_windows,
        )
        return self._html(request, body)

    async def _on_picture(self, request: web.Request) -> web.StreamResponse:
        """A picture, revalidated by ETag (aiohttp's FileResponse answers 304 itself)."""
        folder, name = request.match_info["folder"], request.match_info["name"]
        path = self._config.pictures_dir / folder / name
        if not (folder.isascii() and folder.isdigit() and PICTURE_NAME.fullmatch(name)):
            raise web.HTTPNotFound()
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "private, no-cache"})

    def _same_origin(self, request: web.Request, *, required: bool) -> bool:
        """The request comes from a page of ours (Origin names our own host)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return not required
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host

    # The WebSocket

    async def _on_socket(self, request: web.Request) -> web.StreamResponse:
        language = self._language(request)
        if not self._same_origin(request, required=True):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        room = await self._find_room(request.match_info["story"])
        if room is None:
            raise web.HTTPNotFound()
        player, _ = self._player(request)
        actor = Actor(f"web:{player}", f"guest-{player[:4]}")
        # Past MAX_FRAME_CHARS a frame is refused with an error frame; far past it aiohttp
        # closes the socket (1009) without reading it into memory.
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        items = list(room.messages.items())
        await self._send(ws, json.dumps({"op": "parts", "items": items, "reset": True}))
        room.sockets.add(ws)
        budget = FrameBudget(self._clock, self._config.frames_per_second, self._config.frame_burst)
        warned = False  # one "too fast" per burst, so refusals cost nothing either
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    await self._error_frame(ws, language, FrameError.BAD_FRAME)
                    continue
                if not budget.take():
                    if not warned:
                        await self._error_frame(ws, language, FrameError.TOO_FAST)
                    warned = True
                    continue
                warned = False
                await self._on_frame(ws, room, actor, language, message.data)
        finally:
            room.sockets.discard(ws)
        return ws

    async def _error_frame(
        self, ws: web.WebSocketResponse, language: Language, code: FrameError
    ) -> None:
        text = page.ui(language, FRAME_ERRORS[code])
        await self._send(ws, json.dumps({"op": "error", "code": code.value, "text": text}))

    async def _on_frame(
        self, ws: web.WebSocketResponse, room: Room, actor: Actor, language: Language, data: str
    ) -> None:
        started = time.monotonic()
        if len(data) > MAX_FRAME_CHARS:
            await self._error_frame(ws, language, FrameError.TOO_BIG)
            return
        frame = parse_frame(data, self._config.vote_windows)
        if frame is None:
            await self._error_frame(ws, language, FrameError.BAD_FRAME)
            return
        what = f"web: {type(frame).__name__.lower()} in {room.place.key}"
        reply = await answer(self._act(frame, room.place, actor, language), language, what)
        if reply is not None:
            error = reply.kind is ReplyKind.ERROR
            await self._send(ws, json.dumps({"op": "reply", "text": reply.text, "error": error}))
        log.info("%s handled in %.2fs", what, time.monotonic() - started)

    async def _act(self, frame: Frame, place: Place, actor: Actor, language: Language) -> Reply:
        if isinstance(frame, PressFrame):
            return await press(self._engine, frame.button, place, actor, language)
        if isinstance(frame, Ask):
            return await perform(self._engine, frame.command, place, actor, language)
        assert isinstance(frame, Configure)
        window = float(frame.window) if frame.window is not None else None
        settings = await self._engine.configure(
            place, actor, pictures=frame.pictures, vote_window_seconds=window
        )
        return Reply(settings_text(language, settings), ReplyKind.SEEN)
