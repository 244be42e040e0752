"""The Telegram adapter (python-telegram-bot 22): commands and inline keyboards in, story
messages out. It translates only: every rule lives in the engine.

Started inside the shared event loop (`initialize`, `start`, `updater.start_polling`),
never with `run_polling()`. Updates are handled concurrently; the engine orders what
happens within a chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
)

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Language,
    MessageKind,
    MessageRef,
    Place,
    Platform,
)
from storycraft_bot.core.screen_records import ScreenRecords
from storycraft_bot.core.text_fitting import shorten_to, split_text
from storycraft_bot.core.texts import Msg, status_text, text

from .background import Background
from .pacing import EditPacer
from .story_card import URGENT_EVENTS, StoryCard, load_card

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
STATUS_ROOM = 300  # characters kept free under the narration for the status lines
BUTTON_LIMIT = 64  # we keep labels short; Telegram cuts long ones itself
VOTE_WINDOWS = (30, 60, 120)
SUBCOMMANDS = ("start", "stop", "status", "retry", "undo", "redraw", "settings", "help")
COMMANDS = {
    "en": [
        ("story", "Start a story: /story [premise]"),
        ("status", "What is going on"),
        ("retry", "Rewrite the newest part"),
        ("undo", "Take the last choice back"),
        ("redraw", "Draw the picture again"),
        ("settings", "Pictures and voting"),
        ("stop", "End the story"),
        ("help", "How to play"),
    ],
    "ru": [
        ("story", "Начать историю: /story [завязка]"),
        ("status", "Что сейчас происходит"),
        ("retry", "Переписать последнюю часть"),
        ("undo", "Отменить последний выбор"),
        ("redraw", "Нарисовать картинку заново"),
        ("settings", "Картинки и голосование"),
        ("stop", "Закончить историю"),
        ("help", "Как играть"),
    ],
}


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """How to reach Telegram and how hard to push it."""

    token: str
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    private_edit_interval: float = 1.0
    group_edit_interval: float = 3.0
    max_retries: int = 3
    overall_rate: float = 30.0
    group_rate: float = 20.0
    poll_timeout: int = 10
    language: Language = Language.RU
    workflows: tuple[str, ...] = ()  # picture styles a story may choose


@dataclass(eq=False)
class _Shown:
    """One segment on screen: its card and the messages that show it."""

    card: StoryCard
    chat_id: int
    thread_id: int | None
    texts: list[int] = field(default_factory=list)  # narration messages; the last is the main one
    captioned: bool = False  # the main message became a photo with the narration as caption
    photo_reply: int | None = None  # the picture as a separate reply (long narration)
    sent: dict[int, str] = field(default_factory=dict)  # what each message shows now
    pacer: EditPacer | None = None
    picture_shown: str = ""
    upload: str = ""  # Telegram's file_id of the picture, to send it again


class TelegramAdapter:
    """Runs the bot and implements the engine's StoryView for Telegram chats."""

    def __init__(self, engine: StoryEngine, records: ScreenRecords, config: TelegramConfig) -> None:
        self._engine = engine
        self._records = records
        self._config = config
        self._shown: dict[int, _Shown] = {}  # by segment id
        self._background = Background()
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        self._app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(config.token)
            .base_url(config.base_url)
            .base_file_url(config.base_file_url)
            .concurrent_updates(True)
            .rate_limiter(
                AIORateLimiter(
                    overall_max_rate=config.overall_rate,
                    group_max_rate=config.group_rate,
                    max_retries=config.max_retries,
                )
            )
            .build()
        )
        self._app.add_handler(CommandHandler("start", self._on_start))
        self._app.add_handler(CommandHandler("story", self._on_story))
        self._app.add_handler(CommandHandler(list(SUBCOMMANDS[1:]), self._on_shortcut))
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        self._app.add_handler(
            ChatMemberHandler(self._on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        self._app.add_error_handler(self._on_error)

    async def start(self) -> None:
        """Log in (getMe), register commands, start polling. Raises TelegramError (an
        InvalidToken's message contains the token: never log it as is)."""
        try:
            await self._app.initialize()
        except BaseException:
            await self._app.bot.shutdown()  # getMe failed after the HTTP clients opened
            raise
        for language, commands in COMMANDS.items():
            await self._app.bot.set_my_commands(
                [BotCommand(name, about) for name, about in commands],
                language_code=None if language == "en" else language,
            )
        await self._app.start()
        assert self._app.updater is not None
        await self._app.updater.start_polling(
            timeout=self._config.poll_timeout,
            allowed_updates=["message", "callback_query", "my_chat_member"],
        )
        log.info("Telegram: polling as @%s", self._app.bot.username)

    async def stop(self) -> None:
        """Stop polling and the application, in reverse order of start."""
        for shown in self._shown.values():
            if shown.pacer is not None:
                shown.pacer.cancel()
        await self._background.close()
        if self._app.updater is not None and self._app.updater.running:
            await self._app.updater.stop()
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()

    # From Telegram to the engine

    def _place(self, update: Update) -> Place:
        chat = update.effective_chat
        assert chat is not None
        message = update.effective_message
        thread = ""
        if message is not None and message.is_topic_message and message.message_thread_id:
            thread = str(message.message_thread_id)
        is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
        return Place(ChannelKey(Platform.TELEGRAM, str(chat.id), thread), f"tg:{chat.id}", is_group)

    def _language(self, update: Update) -> Language:
        user = update.effective_user
        code = (user.language_code or "") if user else ""
        if code.startswith("ru"):
            return Language.RU
        if code.startswith("en"):
            return Language.EN
        return self._config.language

    async def _actor(self, update: Update, *, moderating: bool = False) -> Actor:
        user = update.effective_user
        chat = update.effective_chat
        assert user is not None
        assert chat is not None
        can_moderate = chat.type == ChatType.PRIVATE
        if moderating and not can_moderate:
            can_moderate = await self._is_admin(chat.id, user.id)
        return Actor(str(user.id), user.full_name, can_moderate)

    async def _is_admin(self, chat_id: int, user_id: int) -> bool:
        cached = self._admins.get((chat_id, user_id))
        if cached is not None and time.monotonic() - cached[0] < 60:
            return cached[1]
        try:
            member = await self._app.bot.get_chat_member(chat_id, user_id)
            admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError as err:
            log.warning("Telegram: cannot check admin %s in %s: %s", user_id, chat_id, err)
            admin = False
        self._admins[(chat_id, user_id)] = (time.monotonic(), admin)
        return admin

    async def _reply(
        self, update: Update, message: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        target = update.effective_message
        if target is None:
            return
        try:
            await target.reply_text(message, reply_markup=markup)
        except TelegramError as err:
            log.warning("Telegram: reply in %s failed: %s", target.chat_id, err)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = self._language(update)
        button = InlineKeyboardButton(text(language, Msg.BEGIN_BUTTON), callback_data="n")
        await self._reply(update, text(language, Msg.WELCOME), InlineKeyboardMarkup([[button]]))

    async def _on_story(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        command = args[0].lower() if args and args[0].lower() in SUBCOMMANDS else "start"
        if args and args[0].lower() == command:
            args = args[1:]
        await self._command(update, command, " ".join(args))

    async def _on_shortcut(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        word = (message.text or "").split()[0] if message and message.text else "/help"
        command = word.lstrip("/").split("@")[0].lower()
        await self._command(update, command, " ".join(context.args or []))

    async def _command(self, update: Update, command: str, argument: str) -> None:
        started = time.monotonic()
        language = self._language(update)
        place = self._place(update)
        try:
            if command == "start":
                actor = await self._actor(update)
                await self._engine.start(place, actor, premise=argument, language=language)
            elif command == "help":
                await self._reply(update, text(language, Msg.HELP))
            elif command == "status":
                await self._reply(update, status_text(await self._engine.status(place)))
            elif command == "settings":
                await self._show_settings(update, place, language)
            else:
                actor = await self._actor(update, moderating=True)
                action = {
                    "stop": self._engine.stop,
                    "retry": self._engine.retry,
                    "undo": self._engine.undo,
                    "redraw": self._engine.redraw,
                }[command]
                await action(place, actor)
        except StoryActionError as err:
            await self._reply(update, text(language, err.code, **err.params))
        log.info(
            "Telegram: /%s in %s handled in %.2fs", command, place.key, time.monotonic() - started
        )

    async def _show_settings(self, update: Update, place: Place, language: Language) -> None:
        report = await self._engine.status(place)
        settings = report.session.settings
        state = text(language, Msg.ON if settings.pictures else Msg.OFF)
        rows = [
            [
                InlineKeyboardButton(
                    text(language, Msg.PICTURES_TOGGLE, state=state),
                    callback_data=f"s:p:{0 if settings.pictures else 1}",
                )
            ],
            [InlineKeyboardButton(f"⏱ {w} s", callback_data=f"s:w:{w}") for w in VOTE_WINDOWS],
        ]
        if len(self._config.workflows) > 1:
            current = settings.workflow or self._config.workflows[0]
            rows.append(
                [
                    # By position, so callback_data stays short whatever the names.
                    InlineKeyboardButton(
                        f"{'✓ ' if name == current else ''}🎨 {name}", callback_data=f"s:f:{number}"
                    )
                    for number, name in enumerate(self._config.workflows)
                ]
            )
        title = text(
            language, Msg.SETTINGS_TITLE, pictures=state, window=int(settings.vote_window_seconds)
        )
        await self._reply(update, title, InlineKeyboardMarkup(rows))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        language = self._language(update)
        started = time.monotonic()
        try:
            answer = await self._button(update, query.data or "", language)
        except StoryActionError as err:
            answer = text(language, err.code, **err.params)
        except Exception:
            log.exception("Telegram: button %r failed", query.data)
            answer = text(language, Msg.INTERNAL_ERROR)
        try:
            await query.answer(answer[:200])
        except BadRequest as err:
            log.warning("Telegram: could not answer button %s: %s", query.id, err)
        log.info("Telegram: button %r handled in %.2fs", query.data, time.monotonic() - started)

    async def _button(self, update: Update, data: str, language: Language) -> str:
        """Act on callback data; forged or unknown data gets "this choice is closed"."""
        place = self._place(update)
        if data.startswith("s:"):
            return await self._setting(update, place, data, language)
        kind, _, rest = data.partition(":")
        numbers = rest.split(":") if rest else []
        if not all(n.isdigit() and len(n) < 12 for n in numbers):
            raise StoryActionError(Msg.CHOICE_CLOSED)
        values = [int(n) for n in numbers]
        if kind == "c" and len(values) == 2:
            outcome = await self._engine.press(
                place, await self._actor(update), values[0], values[1]
            )
            code = {
                PressKind.DECIDED: Msg.CHOSEN,
                PressKind.VOTE_COUNTED: Msg.VOTE_COUNTED,
                PressKind.VOTE_CHANGED: Msg.VOTE_CHANGED,
                PressKind.VOTE_SAME: Msg.VOTE_SAME,
            }[outcome.kind]
            return text(language, code, choice=outcome.choice_text)
        if kind == "n" and not values:
            await self._engine.start(place, await self._actor(update), language=language)
            return text(language, Msg.STORY_STARTED)
        if kind in ("r", "t", "x") and len(values) == 1:
            actor = await self._actor(update, moderating=True)
            if kind == "r":
                await self._engine.redraw(place, actor)
                return text(language, Msg.REDRAWING)
            if kind == "t":
                await self._engine.retry(place, actor)
                return text(language, Msg.RETRYING)
            await self._engine.close_vote(place, actor)
            return text(language, Msg.VOTE_CLOSED)
        raise StoryActionError(Msg.CHOICE_CLOSED)

    async def _setting(self, update: Update, place: Place, data: str, language: Language) -> str:
        _, what, value = [*data.split(":"), "", ""][:3]
        if what not in ("p", "w", "f") or not value.isdigit() or len(value) > 4:
            raise StoryActionError(Msg.CHOICE_CLOSED)
        actor = await self._actor(update, moderating=True)
        if what == "p":
            await self._engine.configure(place, actor, pictures=value == "1")
        elif what == "w":
            await self._engine.configure(place, actor, vote_window_seconds=float(value))
        elif int(value) < len(self._config.workflows):
            workflow = self._config.workflows[int(value)]
            await self._engine.configure(place, actor, workflow=workflow)
        else:
            raise StoryActionError(Msg.CHOICE_CLOSED)
        return text(language, Msg.SETTINGS_SAVED)

    async def _on_my_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None:
            return
        if change.new_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            log.info("Telegram: removed from chat %s; pausing its story", change.chat.id)
            await self._engine.pause(self._place(update))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram: update failed: %s", context.error, exc_info=context.error)
        if isinstance(update, Update) and update.effective_message is not None:
            await self._reply(update, text(self._language(update), Msg.INTERNAL_ERROR))

    # From the engine to Telegram (the StoryView port)

    async def show(self, event: ev.StoryEvent) -> None:
        chat_id = int(event.key.channel_id)
        thread_id = int(event.key.thread_id) if event.key.thread_id else None
        try:
            if isinstance(event, ev.SegmentStarted):
                await self._start_card(event, chat_id, thread_id)
                return
            if isinstance(event, ev.Notice):
                await self._send(
                    chat_id, thread_id, text(event.language, event.code, **dict(event.params))
                )
                return
            segment_id = ev.segment_of(event)
            shown = await self._find(segment_id, chat_id, thread_id) if segment_id else None
            if shown is not None and shown.card.reopens(event):
                shown = await self._reshow(shown)
            if shown is not None:
                shown.card.apply(event)
                await self._request_flush(shown, urgent=isinstance(event, URGENT_EVENTS))
            if isinstance(event, ev.StoryStopped):
                await self._send(chat_id, thread_id, text(event.language, Msg.STORY_STOPPED))
        except Forbidden as err:
            # Blocked by the user or removed: stop talking to the chat until someone acts.
            log.warning("Telegram: no access to chat %s (%s); pausing its story", chat_id, err)
            # Scheduled, not awaited: the engine may hold the chat's lock right now.
            self._background.run(self._engine.pause(Place(event.key, "", True)), f"pause {chat_id}")
        except TelegramError as err:
            log.warning("Telegram: could not show %s in %s: %s", type(event).__name__, chat_id, err)

    async def _start_card(
        self, event: ev.SegmentStarted, chat_id: int, thread_id: int | None
    ) -> None:
        card = StoryCard(
            event.session_id, event.segment_id, event.index, event.language, event.is_group
        )
        shown = _Shown(card, chat_id, thread_id)
        self._shown[event.segment_id] = shown
        await self._request_flush(shown, urgent=True)

    async def _find(self, segment_id: int, chat_id: int, thread_id: int | None) -> _Shown | None:
        """The segment's screen state; rebuilt from the database after a restart."""
        shown = self._shown.get(segment_id)
        if shown is not None:
            return shown
        loaded = await load_card(self._records, segment_id, Platform.TELEGRAM)
        if loaded is None:
            return None
        card, stored = loaded
        shown = _Shown(card, chat_id, thread_id, upload=stored.upload)
        for ref in stored.messages:
            if ref.kind is MessageKind.PHOTO_REPLY:
                shown.photo_reply = ref.message_id
            else:
                shown.texts.append(ref.message_id)
                shown.captioned = shown.captioned or ref.kind is MessageKind.PICTURE
        shown.picture_shown = card.picture_path
        self._shown[segment_id] = shown
        return shown

    async def _reshow(self, old: _Shown) -> _Shown:
        """Mark the old message undone and start a new one for the reopened segment."""
        old.card.mark_undone()
        await self._request_flush(old, urgent=True)
        fresh = _Shown(old.card.fresh(), old.chat_id, old.thread_id)
        self._shown[old.card.segment_id] = fresh
        return fresh

    async def _request_flush(self, shown: _Shown, *, urgent: bool) -> None:
        """Edit now (urgent) or at most once per interval, always with the latest state."""
        if shown.pacer is None:
            group = shown.card.is_group
            interval = (
                self._config.group_edit_interval if group else self._config.private_edit_interval
            )
            shown.pacer = EditPacer(interval, lambda: self._flush(shown))
        await shown.pacer.request(urgent=urgent)

    def _keyboard(self, card: StoryCard) -> InlineKeyboardMarkup | None:
        rows: list[list[InlineKeyboardButton]] = []
        if card.is_open:
            rows = [
                [
                    InlineKeyboardButton(
                        card.choice_label(i, BUTTON_LIMIT), callback_data=f"c:{card.segment_id}:{i}"
                    )
                ]
                for i in range(len(card.choices))
            ]
        if card.can_close_vote:
            close = text(card.language, Msg.CLOSE_VOTE_BUTTON)
            rows.append([InlineKeyboardButton(close, callback_data=f"x:{card.segment_id}")])
        if card.state == "failed":
            rows.append(
                [
                    InlineKeyboardButton(
                        text(card.language, Msg.RETRY_BUTTON), callback_data=f"t:{card.segment_id}"
                    )
                ]
            )
        if card.can_redraw:
            rows.append(
                [
                    InlineKeyboardButton(
                        text(card.language, Msg.REDRAW_BUTTON), callback_data=f"r:{card.segment_id}"
                    )
                ]
            )
        return InlineKeyboardMarkup(rows) if rows else None

    def _layout(self, shown: _Shown) -> list[str]:
        """The texts of the segment's messages; the last one carries the status lines."""
        card = shown.card
        lines = card.status_lines()
        status = "\n".join(lines)
        if shown.captioned:
            room = CAPTION_LIMIT - len(status) - 2
            body = shorten_to(card.narration, max(room, 1))
            return ["\n\n".join(p for p in (body, status) if p)]
        pieces = split_text(card.narration, TEXT_LIMIT - STATUS_ROOM) if card.narration else []
        if not pieces:
            return [status or "…"]
        pieces[-1] = "\n\n".join(p for p in (pieces[-1], status) if p)
        return pieces

    async def _flush(self, shown: _Shown) -> None:
        """Bring the segment's messages in line with its card (called by its pacer)."""
        pieces = self._layout(shown)
        markup = self._keyboard(shown.card)
        changed_refs = False
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            piece_markup = markup if last else None
            if number < len(shown.texts):
                changed_refs |= await self._edit(shown, number, piece, piece_markup)
            else:
                message = await self._send(shown.chat_id, shown.thread_id, piece, piece_markup)
                shown.texts.append(message.message_id)
                shown.sent[message.message_id] = _fingerprint(piece, piece_markup)
                changed_refs = True
        if shown.card.picture_path and shown.card.picture_path != shown.picture_shown:
            await self._show_picture(shown, pieces, markup)
            changed_refs = True
        if changed_refs:
            await self._records.set_messages(shown.card.segment_id, _refs(shown))

    async def _edit(
        self, shown: _Shown, number: int, piece: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        """Edit one message if its content changed; returns True if a new message replaced it."""
        message_id = shown.texts[number]
        fingerprint = _fingerprint(piece, markup)
        if shown.sent.get(message_id) == fingerprint:
            return False  # a no-op edit would only earn "message is not modified"
        captioned = shown.captioned and number == len(shown.texts) - 1
        bot = self._app.bot
        try:
            if captioned:
                await bot.edit_message_caption(
                    shown.chat_id, message_id, caption=piece, reply_markup=markup
                )
            else:
                await bot.edit_message_text(piece, shown.chat_id, message_id, reply_markup=markup)
        except BadRequest as err:
            reason = err.message.lower()
            if "not modified" in reason:
                pass
            elif "not found" in reason or "message can't be edited" in reason:
                log.info(
                    "Telegram: message %s in %s is gone; posting it again",
                    message_id,
                    shown.chat_id,
                )
                fresh = await self._repost(shown, piece, markup, captioned)
                shown.texts[number] = fresh.message_id
                shown.sent[fresh.message_id] = fingerprint
                return True
            else:
                raise
        shown.sent[message_id] = fingerprint
        return False

    async def _repost(
        self, shown: _Shown, piece: str, markup: InlineKeyboardMarkup | None, captioned: bool
    ) -> Message:
        if captioned:
            file_id = shown.upload
            if file_id:
                photo: Message = await self._app.bot.send_photo(
                    shown.chat_id,
                    file_id,
                    caption=piece,
                    reply_markup=markup,
                    message_thread_id=shown.thread_id,
                )
                return photo
            shown.captioned = False
        return await self._send(shown.chat_id, shown.thread_id, piece, markup)

    async def _show_picture(
        self, shown: _Shown, pieces: list[str], markup: InlineKeyboardMarkup | None
    ) -> None:
        """The story message becomes the photo (caption fits), or the photo replies to it."""
        path = shown.card.picture_path
        data = await asyncio.to_thread(Path(path).read_bytes)
        bot = self._app.bot
        main = shown.texts[-1]
        caption_body = "\n\n".join(
            p for p in (shown.card.narration, "\n".join(shown.card.status_lines())) if p
        )
        if len(pieces) == 1 and (shown.captioned or len(caption_body) <= CAPTION_LIMIT):
            media = InputMediaPhoto(data, caption=caption_body)
            try:
                result = await bot.edit_message_media(
                    media, shown.chat_id, main, reply_markup=markup
                )
            except BadRequest as err:
                if "not found" not in err.message.lower():
                    raise
                result = await bot.send_photo(
                    shown.chat_id,
                    data,
                    caption=caption_body,
                    reply_markup=markup,
                    message_thread_id=shown.thread_id,
                )
                shown.texts[-1] = result.message_id if isinstance(result, Message) else main
            shown.captioned = True
            if isinstance(result, Message):
                shown.sent[result.message_id] = _fingerprint(caption_body, markup)
        elif shown.photo_reply is not None:
            result = await bot.edit_message_media(
                InputMediaPhoto(data), shown.chat_id, shown.photo_reply
            )
        else:
            result = await bot.send_photo(
                shown.chat_id,
                data,
                reply_parameters=ReplyParameters(main),
                message_thread_id=shown.thread_id,
            )
            if isinstance(result, Message):
                shown.photo_reply = result.message_id
        shown.picture_shown = path
        if isinstance(result, Message) and result.photo:
            shown.upload = result.photo[-1].file_id
            await self._records.set_image_upload(
                shown.card.segment_id, Platform.TELEGRAM, shown.upload
            )

    async def _send(
        self,
        chat_id: int,
        thread_id: int | None,
        message: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message:
        sent: Message = await self._app.bot.send_message(
            chat_id, message, reply_markup=markup, message_thread_id=thread_id
        )
        return sent


def _fingerprint(piece: str, markup: InlineKeyboardMarkup | None) -> str:
    return piece + "\x00" + (json.dumps(markup.to_dict(), sort_keys=True) if markup else "")


def _refs(shown: _Shown) -> list[MessageRef]:
    def ref(kind: MessageKind, message_id: int) -> MessageRef:
        return MessageRef(Platform.TELEGRAM, kind, message_id)

    refs = [ref(MessageKind.TEXT, m) for m in shown.texts[:-1]]
    if shown.texts:
        main = MessageKind.PICTURE if shown.captioned else MessageKind.TEXT
        refs.append(ref(main, shown.texts[-1]))
    if shown.photo_reply is not None:
        refs.append(ref(MessageKind.PHOTO_REPLY, shown.photo_reply))
    return refs
