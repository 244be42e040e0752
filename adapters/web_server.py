"""The web adapter's HTTP and WebSocket side: routes, the token and security headers,
the start form, the story page, its socket, pictures, and the book (read-only, by its
unguessable id). It reaches the stories only through `RoomKeeper` (the adapter) and the
engine's public calls, like every screen.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from storycraft_bot.core.book import Book, BookPart
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform, StoryLength
from storycraft_bot.core.texts import text

from . import web_page as page
from .book import book_file_name, book_html, embedded_pictures, linked_pictures
from .card_input import start_from_card
from .commands import Reply, ReplyKind, answer, perform, press, settings_text, start_story
from .own_action import submit
from .web_frames import (
    MAX_FRAME_CHARS,
    Ask,
    Configure,
    Frame,
    FrameBudget,
    FrameError,
    OwnAction,
    parse_frame,
)
from .web_frames import Press as PressFrame
from .web_uploads import read_start_form

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "web_static"
STORY_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
BOOK_ID = STORY_ID
PLAYER_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
PICTURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
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
#: The book is one page with its own inline style and no script at all.
BOOK_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
#: Pictures revalidate by ETag (aiohttp's FileResponse answers 304 itself).
REVALIDATE = {"Cache-Control": "private, no-cache"}
#: Answered without WEB_TOKEN: a load balancer's or compose's health check has none.
OPEN_PATHS = frozenset({"/healthz"})
BOOK_PICTURES_KEPT = 4096


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
    # Sockets one batch interval serves; a busier room's frames come less often (see
    # frame_interval), so a story watched by many browsers costs no more than in a chat.
    crowd: int = 25
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
    book_id: str = ""

    def new_id(self) -> int:
        return max(self.messages, default=0) + 1


class RoomKeeper(Protocol):
    """The rooms, as the adapter keeps them."""

    def open_room(self, place: Place) -> Room: ...

    def drop_room(self, story: str) -> None: ...

    async def find_room(self, story: str) -> Room | None:
        """The story's room, rebuilt from the engine when it is not in memory."""
        ...

    def picture_size(self, path: Path) -> tuple[int, int] | None: ...


async def send_text(ws: web.WebSocketResponse, data: str, room: Room | None = None) -> None:
    """One frame to one socket; a socket that is gone leaves its room."""
    try:
        await ws.send_str(data)
    except (ConnectionError, RuntimeError):
        if room is not None:
            room.sockets.discard(ws)


class WebServer:
    """The aiohttp application in front of the rooms and the engine."""

    def __init__(
        self, engine: StoryEngine, keeper: RoomKeeper, config: WebConfig, clock: Clock
    ) -> None:
        self._engine = engine
        self._keeper = keeper
        self._config = config
        self._clock = clock
        self._book_pictures: OrderedDict[tuple[str, int], Path] = OrderedDict()
        self.app = web.Application(middlewares=[self._guard], client_max_size=16 * 1024)
        self.app.add_routes(
            [
                web.get("/", self._on_index),
                web.post("/start", self._on_start),
                web.get("/s/{story}", self._on_story),
                web.get("/s/{story}/ws", self._on_socket),
                web.get("/pictures/{folder}/{name}", self._on_picture),
                web.get("/book/{book}", self._on_book),
                web.get("/book/{book}/download", self._on_book_download),
                web.get("/book/{book}/pictures/{number}", self._on_book_picture),
                web.static("/static", STATIC),
            ]
        )

    # Every request

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The token (when set) on every request; security headers on every answer."""
        token = self._config.token
        given = request.query.get("token") or request.cookies.get("sc_token", "")
        if not given and request.headers.get("Authorization", "").startswith("Bearer "):
            given = request.headers["Authorization"].removeprefix("Bearer ")
        needed = token and request.path not in OPEN_PATHS
        if needed and not hmac.compare_digest(given.encode(), token.encode()):
            language = self._language(request)
            return web.Response(
                status=401, text=page.ui(language, page.Ui.NEED_TOKEN), headers=SECURITY_HEADERS
            )
        response: web.StreamResponse = await handler(request)
        if not response.prepared:
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)  # the book brings its own policy
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

    def _not_found(self, request: web.Request, what: page.Ui) -> web.Response:
        language = self._language(request)
        return self._html(request, page.message_page(language, page.ui(language, what)), 404)

    @staticmethod
    def _same_origin(request: web.Request, *, required: bool) -> bool:
        """The request comes from a page of ours (Origin names our own host)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return not required
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc == request.host

    # Pages

    async def _on_index(self, request: web.Request) -> web.Response:
        return self._html(request, self._start_page(self._language(request)))

    def _start_page(self, language: Language, error: str = "") -> str:
        return page.start_page(language, error=error, styles=self._engine.styles.names)

    async def _on_start(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        language = self._language(request)
        if not self._same_origin(request, required=False):
            raise web.HTTPForbidden(text="cross-origin request refused")
        try:
            form = await read_start_form(request)
        except StoryActionError as err:
            problem = text(language, err.code, **err.params)
            return self._html(request, self._start_page(language, problem), status=400)
        premise, genre, story_language = form.premise, form.genre, form.language
        together = form.together
        told = Language(story_language) if story_language in {"ru", "en"} else language
        player, new = self._player(request)
        story = secrets.token_urlsafe(24)
        place = Place(ChannelKey(Platform.WEB, story), f"web:{story}", together)
        self._keeper.open_room(place)
        actor = Actor(f"web:{player}", f"guest-{player[:4]}")
        length = _length(form.length)
        # The premise whole (the form is bounded by client_max_size): the core refuses an
        # over-long one out loud rather than see it cut.
        if form.card is None and form.lorebook is None:
            work = start_story(
                self._engine,
                place,
                actor,
                told,
                premise,
                genre[:60] or None,
                length=length,
                style=form.style or None,
            )
        else:
            work = start_from_card(
                self._engine,
                place,
                actor,
                told,
                form.card,
                form.lorebook,
                premise=premise,
                genre=genre[:60] or None,
                length=length,
                style=form.style or None,
            )
        reply = await answer(work, language, "web: start")
        log.info("web: start in %s handled in %.2fs", place.key, time.monotonic() - started)
        if reply is not None and reply.kind is ReplyKind.ERROR:
            self._keeper.drop_room(story)
            return self._html(request, self._start_page(language, reply.text), status=400)
        redirect = web.HTTPSeeOther(f"/s/{story}", headers=SECURITY_HEADERS)
        if new:
            redirect.set_cookie("sc_player", player, httponly=True, samesite="Lax", max_age=10**8)
        raise redirect

    async def _on_story(self, request: web.Request) -> web.Response:
        language = self._language(request)
        room = await self._keeper.find_room(request.match_info["story"])
        if room is None:
            return self._not_found(request, page.Ui.NO_STORY)
        body = page.story_page(
            language,
            room.place.key.channel_id,
            list(room.messages.items()),
            vote_windows=self._config.vote_windows,
            book=f"/book/{room.book_id}" if room.book_id else "",
        )
        return self._html(request, body)

    async def _on_picture(self, request: web.Request) -> web.StreamResponse:
        """A story page's picture, by its folder (the story's number) and file name."""
        folder, name = request.match_info["folder"], request.match_info["name"]
        path = self._config.pictures_dir / folder / name
        if not (folder.isascii() and folder.isdigit() and PICTURE_NAME.fullmatch(name)):
            raise web.HTTPNotFound()
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=REVALIDATE)

    # The book: read-only, by its unguessable id

    async def _book(self, request: web.Request) -> Book | None:
        book_id = request.match_info["book"]
        if not BOOK_ID.fullmatch(book_id):
            return None
        book = await self._engine.book_by_id(book_id)
        if book is not None:
            self._remember_pictures(book_id, book.parts)
        return book

    def _remember_pictures(self, book_id: str, parts: Iterable[BookPart]) -> None:
        """Where each part's picture is, so the page's picture requests need no lookup."""
        for part in parts:
            if part.picture:
                self._book_pictures[book_id, part.number] = Path(part.picture)
                self._book_pictures.move_to_end((book_id, part.number))
        while len(self._book_pictures) > BOOK_PICTURES_KEPT:
            self._book_pictures.popitem(last=False)

    async def _on_book(self, request: web.Request) -> web.Response:
        book = await self._book(request)
        if book is None:
            return self._not_found(request, page.Ui.NO_BOOK)
        language = self._language(request)
        base = f"/book/{book.book_id}"
        body = book_html(
            book,
            linked_pictures(lambda part: f"{base}/pictures/{part.number}"),
            sizes=lambda part: self._keeper.picture_size(Path(part.picture or "")),
            download=(f"{base}/download", page.ui(language, page.Ui.DOWNLOAD)),
        )
        response = self._html(request, body)
        response.headers["Content-Security-Policy"] = BOOK_POLICY
        return response

    async def _on_book_download(self, request: web.Request) -> web.StreamResponse:
        """The book as one file with its pictures inside, for keeping."""
        book = await self._book(request)
        if book is None:
            return self._not_found(request, page.Ui.NO_BOOK)
        body = await asyncio.to_thread(book_html, book, embedded_pictures())
        disposition = f'attachment; filename="{book_file_name(book)}"'
        return web.Response(
            text=body,
            content_type="text/html",
            headers={"Content-Disposition": disposition, "Content-Security-Policy": BOOK_POLICY},
        )

    async def _on_book_picture(self, request: web.Request) -> web.StreamResponse:
        """A picture of this book only: its part's number says which."""
        book_id, number = request.match_info["book"], request.match_info["number"]
        if not (number.isascii() and number.isdigit() and len(number) < 6):
            raise web.HTTPNotFound()
        path = self._book_pictures.get((book_id, int(number)))
        if path is None and await self._book(request) is not None:
            path = self._book_pictures.get((book_id, int(number)))
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers=REVALIDATE)

    # The WebSocket

    async def _on_socket(self, request: web.Request) -> web.StreamResponse:
        language = self._language(request)
        if not self._same_origin(request, required=True):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        room = await self._keeper.find_room(request.match_info["story"])
        if room is None:
            raise web.HTTPNotFound()
        player, _ = self._player(request)
        actor = Actor(f"web:{player}", f"guest-{player[:4]}")
        # Past MAX_FRAME_CHARS a frame is refused with an error frame; far past it aiohttp
        # closes the socket (1009) without reading it into memory.
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        items = list(room.messages.items())
        await send_text(ws, json.dumps({"op": "parts", "items": items, "reset": True}))
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
        await send_text(ws, json.dumps({"op": "error", "code": code.value, "text": text}))

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
            await send_text(ws, json.dumps({"op": "reply", "text": reply.text, "error": error}))
        log.info("%s handled in %.2fs", what, time.monotonic() - started)

    async def _act(self, frame: Frame, place: Place, actor: Actor, language: Language) -> Reply:
        if isinstance(frame, PressFrame):
            return await press(self._engine, frame.button, place, actor, language)
        if isinstance(frame, Ask):
            return await perform(self._engine, frame.command, place, actor, language)
        if isinstance(frame, OwnAction):
            return await submit(self._engine, place, actor, language, frame.segment_id, frame.text)
        assert isinstance(frame, Configure)
        window = float(frame.window) if frame.window is not None else None
        settings = await self._engine.configure(
            place, actor, pictures=frame.pictures, vote_window_seconds=window
        )
        return Reply(settings_text(language, settings), ReplyKind.SEEN)


def _length(value: object) -> StoryLength | None:
    """The start form's length, only if it is one the form offers (None: the default)."""
    return StoryLength(value) if isinstance(value, str) and value in set(StoryLength) else None
