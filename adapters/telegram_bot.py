"""The Telegram adapter (python-telegram-bot 22): commands and inline keyboards in, story
messages out. It translates only: every rule lives in the engine.

Started inside the shared event loop (`initialize`, `start`, `updater.start_polling`),
never with `run_polling()`. Updates are handled concurrently; the engine orders what
happens within a chat.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
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
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Language,
    Place,
    Platform,
)
from storycraft_bot.core.pending_deletions import DeletionRecords
from storycraft_bot.core.screen_records import ScreenRecords
from storycraft_bot.core.text_fitting import shorten_to
from storycraft_bot.core.texts import Msg, text

from .blocked_words import PRIVATE_REFUSALS, Verb, blocklist_reply, parse_blocklist
from .buttons import Button, ButtonKind, card_buttons, decode, encode
from .card_input import CARD_MAX_BYTES, LOREBOOK_MAX_BYTES, attach_lorebook, start_from_card
from .commands import (
    MODERATED,
    Attachment,
    Command,
    Reply,
    ReplyKind,
    answer,
    parse_command,
    perform,
    press,
    settings_text,
    start_options,
    start_story,
)
from .own_action import may_type, submit
from .screen import Fault, Screen, Shown, narration_pieces
from .story_card import StoryCard, closes_in
from .telegram_files import (
    CAPTION_COMMAND,
    caption_argument,
    caption_for,
    caption_word,
    document_bytes,
    sent_document,
)
from .telegram_own_action import Prompt, Prompts, is_old_prompt, prompt_message
from .telegram_safety import Notes, chat_defaults
from .telegram_settings import RATINGS, setting_change, settings_keyboard
from .telegram_webhook import ALLOWED_UPDATES, WebhookReceiver

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
STATUS_ROOM = 300  # characters kept free under the narration for the status lines
BUTTON_LIMIT = 64  # we keep labels short; Telegram cuts long ones itself
ADMIN_CACHE_SECONDS = 60.0
#: The chat commands; each but START is also a shortcut (/stop for /story stop).
CHAT_COMMANDS = tuple(c for c in Command if c is not Command.CLOSE_VOTE)
SHORTCUTS = tuple(c.value for c in CHAT_COMMANDS if c is not Command.START)
Piece = tuple[str, InlineKeyboardMarkup | None]  # one message: its text, its keyboard
COMMANDS = {
    "en": [
        ("story", "Start a story: /story [premise]"),
        ("status", "What is going on"),
        ("retry", "Rewrite the newest part"),
        ("undo", "Take the last choice back"),
        ("redraw", "Draw the picture again"),
        ("settings", "Pictures and voting"),
        ("book", "The story as an illustrated book"),
        ("stop", "End the story"),
        ("help", "How to play"),
        ("lorebook", "Attach a lorebook: send its JSON with /lorebook"),
    ],
    "ru": [
        ("story", "Начать историю: /story [завязка]"),
        ("status", "Что сейчас происходит"),
        ("retry", "Переписать последнюю часть"),
        ("undo", "Отменить последний выбор"),
        ("redraw", "Нарисовать картинку заново"),
        ("settings", "Картинки и голосование"),
        ("book", "История книгой с картинками"),
        ("stop", "Закончить историю"),
        ("help", "Как играть"),
        ("lorebook", "Подключить лорбук: отправьте JSON с подписью /lorebook"),
    ],
}


class AnswersFirst(AIORateLimiter):
    """PTB's rate limiter, except for answers to callback queries: after any 429 it holds
    every request for `retry_after`, and an answer held that long is refused ("query is
    too old"). Answers are one per press and never counted against a chat."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint == "answerCallbackQuery":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


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
    #: Seconds a press waits for its outcome before its callback query is answered without
    #: it (the outcome then shows in the story's message): a refusal comes this quickly,
    #: an edit held up by a rate limit does not, and a late answer is refused.
    answer_within: float = 0.5
    language: Language = Language.RU
    workflows: tuple[str, ...] = ()  # picture styles a story may choose
    web_url: str = ""  # WEB_PUBLIC_URL: where books can be read online ("" none)
    # TELEGRAM_WEBHOOK_URL and its secret: updates come by webhook (telegram_webhook.py)
    # instead of long polling when set.
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_host: str = "127.0.0.1"  # where this process listens for it
    webhook_port: int = 8081


class TelegramAdapter(Screen[Piece]):
    """Runs the bot and implements the engine's StoryView for Telegram chats."""

    platform = Platform.TELEGRAM

    def __init__(
        self,
        engine: StoryEngine,
        records: ScreenRecords,
        config: TelegramConfig,
        clock: Clock | None = None,
        deletions: DeletionRecords | None = None,
    ) -> None:
        super().__init__(engine, records, clock or SystemClock())
        self._config = config
        self._admins: dict[tuple[int, int], tuple[float, bool]] = {}
        # Older and self-hosted Bot API servers refuse media on a text message. Once this
        # server has, pictures go as photo replies, so no flush repeats the refused call.
        self._media_on_text_refused = False
        # Older and self-hosted servers lack sendMessageDraft: once refused, private parts
        # stream with paced edits, like groups.
        self._drafts_refused = False
        self._webhook_set = False
        self._receiver = WebhookReceiver(
            config.webhook_url, config.webhook_secret, config.webhook_host, config.webhook_port
        )
        self._app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(config.token)
            .base_url(config.base_url)
            .base_file_url(config.base_file_url)
            .concurrent_updates(True)
            .rate_limiter(
                AnswersFirst(
                    overall_max_rate=config.overall_rate,
                    group_max_rate=config.group_rate,
                    max_retries=config.max_retries,
                )
            )
            .build()
        )
        self._app.add_handler(CommandHandler("start", self._on_start))
        self._app.add_handler(CommandHandler("story", self._on_story))
        self._app.add_handler(CommandHandler(list(SHORTCUTS), self._on_shortcut))
        self._app.add_handler(CallbackQueryHandler(self._on_button))
        # Own actions: replies to the bot's prompts (and, in private, text after one).
        self._app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        self._prompts = Prompts()
        self._app.add_handler(
            MessageHandler(
                filters.Document.ALL & filters.CaptionRegex(CAPTION_COMMAND), self._on_document
            )
        )
        self._app.add_handler(
            ChatMemberHandler(self._on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        self._app.add_error_handler(self._on_error)
        self._notes = Notes(self._app.bot, self._clock, deletions)

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
        await self._notes.resume()  # notes a restart interrupted are deleted all the same
        if self._config.webhook_url:
            await self._receiver.start(self.receive)  # OSError when the port is taken
            # Every process sets the same webhook; none deletes it when it stops, as the
            # others still receive through it (polling's start deletes it when needed).
            await self._app.bot.set_webhook(
                self._config.webhook_url,
                secret_token=self._config.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            self._webhook_set = True
            log.info("Telegram: webhook set as @%s", self._app.bot.username)
            return
        assert self._app.updater is not None
        await self._app.updater.start_polling(
            timeout=self._config.poll_timeout, allowed_updates=ALLOWED_UPDATES
        )
        log.info("Telegram: polling as @%s", self._app.bot.username)

    async def stop(self) -> None:
        """Stop polling (or the webhook's server) and the application, in reverse order
        of start."""
        await self.close()
        await self._notes.close()
        await self._receiver.stop()
        self._webhook_set = False
        if self._app.updater is not None and self._app.updater.running:
            await self._app.updater.stop()
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()

    @property
    def connected(self) -> bool:
        """Updates are coming in: the application runs, and so does its polling or it
        set its webhook."""
        updater = self._app.updater
        polling = updater is not None and updater.running
        webhook = self._webhook_set and self._receiver.listening
        return self._app.running and (polling or webhook)

    async def receive(self, data: dict[str, Any]) -> bool:
        """One update from the webhook (its secret already checked) into the application's
        queue, handled as a polled one; False (logged) for JSON that is no update."""
        if not self._app.running:
            return False
        try:
            update = Update.de_json(data, self._app.bot)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("Telegram: a webhook body is no update (%s)", type(err).__name__)
            return False
        if not isinstance(update.update_id, int):
            return False
        await self._app.update_queue.put(update)
        return True

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
        if cached is not None and self._clock.now() - cached[0] < ADMIN_CACHE_SECONDS:
            return cached[1]
        try:
            member = await self._app.bot.get_chat_member(chat_id, user_id)
            admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        except TelegramError as err:
            log.warning("Telegram: cannot check admin %s in %s: %s", user_id, chat_id, err)
            admin = False
        self._admins[(chat_id, user_id)] = (self._clock.now(), admin)
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

    async def _reply_document(self, update: Update, caption: str, attachment: Attachment) -> None:
        target = update.effective_message
        if target is None:
            return
        try:
            await target.reply_document(
                attachment.data, filename=attachment.name, caption=caption[:CAPTION_LIMIT]
            )
        except TelegramError as err:
            log.warning("Telegram: document in %s failed: %s", target.chat_id, err)

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = self._language(update)
        button = InlineKeyboardButton(text(language, Msg.BEGIN_BUTTON), callback_data="n")
        await self._reply(update, text(language, Msg.WELCOME), InlineKeyboardMarkup([[button]]))

    async def _on_story(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = list(context.args or [])
        command = parse_command(args[0]) if args else None
        if command in CHAT_COMMANDS and args[0].lower() == command:
            args = args[1:]
        else:
            command = Command.START
        await self._command(update, command, " ".join(args))

    async def _on_shortcut(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        word = (message.text or "").split()[0] if message and message.text else "/help"
        command = parse_command(word) or Command.HELP
        await self._command(update, command, " ".join(context.args or []))

    async def _on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document captioned /story (a card) or /lorebook."""
        message = update.effective_message
        assert message is not None
        if not caption_for(message, context.bot.username):
            return
        command = Command.LOREBOOK if caption_word(message) == "lorebook" else Command.START
        await self._command(update, command, caption_argument(message))

    async def _command(self, update: Update, command: Command, argument: str) -> None:
        started = time.monotonic()
        language = self._language(update)
        place = self._place(update)
        work = self._run(update, command, argument, place, language)
        reply = await answer(work, language, f"Telegram: /{command}")
        # In a chat the effect of a command shows itself: say only what was asked or refused.
        if reply is not None and reply.attachment is not None:
            await self._reply_document(update, reply.text, reply.attachment)
        elif reply is not None and reply.code in PRIVATE_REFUSALS and place.is_group:
            # Never left in a group (nor the text that named a blocked word, if we may).
            await self._note(update, reply.text, drop_command=reply.code is Msg.TEXT_BLOCKED)
        elif reply is not None and reply.kind in (ReplyKind.INFO, ReplyKind.ERROR):
            await self._reply(update, reply.text)
        log.info(
            "Telegram: /%s in %s handled in %.2fs", command, place.key, time.monotonic() - started
        )

    async def _run(
        self, update: Update, command: Command, argument: str, place: Place, language: Language
    ) -> Reply | None:
        document = sent_document(update.effective_message)
        if command is Command.START and document is not None:
            actor = await self._actor(update)
            card = await document_bytes(document, CARD_MAX_BYTES)
            chosen = start_options(argument)  # the same leading words as a typed start
            return await start_from_card(
                self._engine,
                place,
                actor,
                language,
                card,
                premise=chosen.premise,
                length=chosen.length,
                participation=chosen.participation,
                style=chosen.style,
            )
        if command is Command.LOREBOOK:
            if document is None:
                return Reply(text(language, Msg.LOREBOOK_HOW), ReplyKind.INFO)
            actor = await self._actor(update, moderating=True)
            lore = await document_bytes(document, LOREBOOK_MAX_BYTES)
            return await attach_lorebook(self._engine, place, actor, language, lore)
        if command is Command.START:
            actor = await self._actor(update)
            chosen = start_options(argument)
            return await start_story(
                self._engine,
                place,
                actor,
                language,
                chosen.premise,
                length=chosen.length,
                participation=chosen.participation,
                style=chosen.style,
            )
        if command is Command.SETTINGS:
            if (blocking := parse_blocklist(argument)) is not None:
                return await self._blocklist(update, place, language, *blocking)
            await self._show_settings(update, place, language)
            return None
        actor = await self._actor(update, moderating=command in MODERATED)
        return await perform(
            self._engine, command, place, actor, language, web_url=self._config.web_url
        )

    async def _blocklist(
        self, update: Update, place: Place, language: Language, verb: Verb, pattern: str
    ) -> Reply | None:
        """`/settings block|unblock <pattern>`, `/settings blocked` (administrators): in a
        group the command, which names the word, is deleted and the answer is a note."""
        actor = await self._actor(update, moderating=True)
        reply = await blocklist_reply(self._engine, place, actor, language, verb, pattern)
        if not place.is_group:
            return reply
        await self._note(update, reply.text, drop_command=True)
        return None

    async def _note(self, update: Update, note: str, *, drop_command: bool = False) -> None:
        """A note the group sees only for a while (see telegram_safety.Notes)."""
        message = update.effective_message
        if message is not None:
            await self._notes.post(message, note)
            if drop_command:
                await self._notes.delete(message.chat_id, message.message_id)

    async def _show_settings(self, update: Update, place: Place, language: Language) -> None:
        try:
            report = await self._engine.status(place)
        except StoryActionError as err:
            if err.code is not Msg.NO_STORY:
                raise
            defaults = await self._engine.guild_defaults(place)
            await self._reply(update, *chat_defaults(language, defaults, RATINGS))
            return
        settings = report.session.settings
        keyboard = settings_keyboard(
            language, settings, report.session.place.is_group, self._config.workflows
        )
        await self._reply(update, settings_text(language, settings), keyboard)

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer the callback query at once: with the press's outcome if it is known
        within `answer_within` (refusals always are), else empty while the work goes on."""
        query = update.callback_query
        assert query is not None
        language = self._language(update)
        started = time.monotonic()
        what = f"Telegram: button {query.data!r}"
        work = asyncio.create_task(
            answer(self._button(update, query.data or "", language), language, what)
        )
        try:
            done, _ = await asyncio.wait({work}, timeout=self._config.answer_within)
            reply = work.result() if done else None
            await self._answer_query(query.id, query.answer(reply.text[:200] if reply else None))
            late = await work
        except asyncio.CancelledError:
            work.cancel()
            raise
        if not done and late is not None and late.kind is ReplyKind.ERROR:
            log.info("%s: answered before its refusal: %s", what, late.text)
        log.info("%s handled in %.2fs", what, time.monotonic() - started)

    @staticmethod
    async def _answer_query(query_id: str, answering: Awaitable[bool]) -> None:
        """A refused answer (a 429 past the retries, a timeout, a query too old) is only
        logged: the press itself worked, so the chat hears nothing of it."""
        try:
            await answering
        except TelegramError as err:
            log.warning("Telegram: could not answer button %s: %s", query_id, err)

    async def _button(self, update: Update, data: str, language: Language) -> Reply:
        """Act on callback data; data the bot never offered gets "this part is over"."""
        place = self._place(update)
        if data.startswith("s:"):
            return await self._setting(update, place, data, language)
        if data == "n":
            actor = await self._actor(update)
            return await start_story(self._engine, place, actor, language)
        button = decode(data)
        if button is not None and button.kind is ButtonKind.OWN_ACTION:
            return await self._ask_action(update, place, button, language)
        moderating = button is not None and button.kind is not ButtonKind.CHOICE
        actor = await self._actor(update, moderating=moderating)
        message = update.effective_message
        retired = message is not None and self.retired(place.key, message.message_id)
        return await press(self._engine, button, place, actor, language, retired=retired)

    async def _ask_action(
        self, update: Update, place: Place, button: Button, language: Language
    ) -> Reply:
        """An own-action button: a prompt the presser answers by replying to it."""
        actor = await self._actor(update)
        message, user = update.effective_message, update.effective_user
        assert user is not None
        retired = message is not None and self.retired(place.key, message.message_id)
        part = await may_type(self._engine, button, place, actor, retired=retired)
        body, mention, force_reply = prompt_message(language, user)
        chat_id, thread_id = _chat(place.key)
        below = message.message_id if message is not None else None
        sent = await self._app.bot.send_message(
            chat_id,
            body,
            entities=mention,
            reply_markup=force_reply,
            message_thread_id=thread_id,
            reply_parameters=ReplyParameters(below, allow_sending_without_reply=True)
            if below
            else None,
        )
        self._prompts.remember(Prompt(chat_id, sent.message_id, part, user.id))
        return Reply(text(language, Msg.OWN_ACTION_BUTTON), ReplyKind.SEEN)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Text that answers an own-action prompt; any other chat text is not for us."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        if message is None or chat is None or user is None or not message.text:
            return
        language = self._language(update)
        bot_id = self._app.bot.id
        prompt = self._prompts.answered(message, bot_id, private=chat.type == ChatType.PRIVATE)
        if prompt is None:
            if is_old_prompt(message, bot_id):
                await self._refuse_typed(update, text(language, Msg.OWN_ACTION_PROMPT_OLD))
            return
        if prompt.user_id != user.id:
            await self._refuse_typed(update, text(language, Msg.OWN_ACTION_NOT_YOURS))
            return
        started = time.monotonic()
        place, actor = self._place(update), await self._actor(update)
        work = submit(self._engine, place, actor, language, prompt.segment_id, message.text)
        reply = await answer(work, language, "Telegram: own action")
        if reply is not None and reply.kind is not ReplyKind.ERROR:
            self._prompts.forget(prompt)  # answered; a refused one may be answered again
        elif reply is not None:
            await self._refuse_typed(update, reply.text, blocked=reply.code is Msg.TEXT_BLOCKED)
        log.info(
            "Telegram: own action in %s handled in %.2fs", place.key, time.monotonic() - started
        )

    async def _refuse_typed(self, update: Update, refusal: str, *, blocked: bool = False) -> None:
        """A refused own action concerns its author alone: a plain reply in a private chat,
        in a group a note that deletes itself (and the action, if it named a blocked word
        and the bot may delete it)."""
        chat = update.effective_chat
        if chat is not None and chat.type != ChatType.PRIVATE:
            await self._note(update, refusal, drop_command=blocked)
        else:
            await self._reply(update, refusal)

    async def _setting(self, update: Update, place: Place, data: str, language: Language) -> Reply:
        """`s:p:0|1` pictures, `s:w:<window>`, `s:f:<style>`, `s:r:<rating>`, `s:o:0|1` own
        actions, `s:m:<mode>`, `s:v:<rule>`, `s:i:<illustrate mode>`: only values the
        keyboard offers."""
        change = setting_change(data, self._config.workflows)
        actor = await self._actor(update, moderating=True)
        try:
            await self._engine.configure(place, actor, **change)
        except StoryActionError as err:
            # With no story, an administrator's rating sets the chat's default alone.
            if err.code is not Msg.NO_STORY or "rating" not in change:
                raise
            if not actor.can_moderate:
                raise StoryActionError(Msg.NOT_ALLOWED) from None
        if "rating" in change and actor.can_moderate:
            # An administrator's rating is also the chat's default for its next stories.
            chat_admin = replace(actor, can_manage_guild=True)
            await self._engine.configure_guild(place, chat_admin, rating=change["rating"])
        return Reply(text(language, Msg.SETTINGS_SAVED), ReplyKind.SEEN)

    async def _on_my_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        change = update.my_chat_member
        if change is None:
            return
        if change.new_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            log.info("Telegram: removed from chat %s; pausing its story", change.chat.id)
            await self._engine.pause(self._place(update))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("Telegram: update failed: %s", context.error, exc_info=context.error)
        # Not under a pressed button's story: the press may well have worked.
        pressed = isinstance(update, Update) and update.callback_query is not None
        if isinstance(update, Update) and update.effective_message is not None and not pressed:
            await self._reply(update, text(self._language(update), Msg.INTERNAL_ERROR))

    # From the engine to Telegram: the Screen hooks

    def edit_interval(self, card: StoryCard) -> float:
        if card.is_group:
            return self._config.group_edit_interval
        return self._config.private_edit_interval

    def fault(self, error: Exception) -> Fault | None:
        # Forbidden: blocked by the user or removed; stop talking to the chat until someone acts.
        if isinstance(error, Forbidden):
            return Fault.NO_ACCESS
        if isinstance(error, RetryAfter):
            return Fault.RATE_LIMITED  # past the rate limiter's own retries: hold the chat
        if isinstance(error, BadRequest):
            reason = error.message.lower()
            if "not modified" in reason:
                return Fault.NOT_MODIFIED
            if "chat not found" in reason:
                return Fault.NO_ACCESS
            if "message to edit not found" in reason or "message can't be edited" in reason:
                return Fault.GONE
        return Fault.FAILED if isinstance(error, TelegramError) else None

    def retry_after(self, error: Exception) -> float:
        wait = getattr(error, "retry_after", None)
        if isinstance(wait, dt.timedelta):
            return wait.total_seconds()
        return float(wait) if isinstance(wait, int | float) else 1.0

    async def post(self, key: ChannelKey, message: str) -> None:
        chat_id, thread_id = _chat(key)
        await self._send(chat_id, thread_id, message)

    def _keyboard(self, card: StoryCard) -> InlineKeyboardMarkup | None:
        """One button a row: choices first, then the card's actions."""
        rows = [
            [InlineKeyboardButton(button.label, callback_data=encode(button))]
            for button in card_buttons(card, BUTTON_LIMIT, reroll=True)
        ]
        return InlineKeyboardMarkup(rows) if rows else None

    def layout(self, shown: Shown) -> list[Piece]:
        """The texts of the segment's messages; the last one carries the status lines."""
        card = shown.card
        status = "\n".join(card.status_lines(closes_in(self._clock)))
        markup = self._keyboard(card)
        if shown.captioned:
            room = CAPTION_LIMIT - len(status) - 2
            body = shorten_to(card.narration, max(room, 1))
            return [("\n\n".join(p for p in (body, status) if p), markup)]
        pieces = narration_pieces(
            card.narration, status, TEXT_LIMIT - STATUS_ROOM, len(shown.messages)
        )
        return [(piece, markup if last else None) for piece, last in _with_last(pieces)]

    def fingerprint(self, piece: Piece) -> str:
        return _fingerprint(*piece)

    async def send(self, shown: Shown, piece: Piece, *, last: bool) -> int:
        chat_id, thread_id = _chat(shown.key)
        return (await self._send(chat_id, thread_id, *piece)).message_id

    async def edit(self, shown: Shown, number: int, piece: Piece, *, last: bool) -> None:
        body, markup = piece
        chat_id, _ = _chat(shown.key)
        message_id = shown.messages[number]
        bot = self._app.bot
        if shown.captioned and number == len(shown.messages) - 1:
            await bot.edit_message_caption(chat_id, message_id, caption=body, reply_markup=markup)
        else:
            await bot.edit_message_text(body, chat_id, message_id, reply_markup=markup)

    async def draft(self, shown: Shown, piece: Piece) -> bool:
        """sendMessageDraft in private chats (groups have no drafts); False, and never
        again on this server, where the server refuses the method."""
        if shown.card.is_group or self._drafts_refused:
            return False
        chat_id, thread_id = _chat(shown.key)
        try:
            await self._app.bot.send_message_draft(
                chat_id, shown.card.segment_id, text=piece[0], message_thread_id=thread_id
            )
        except (InvalidToken, BadRequest) as err:  # 404 (no such method) comes as InvalidToken
            if self.fault(err) is not Fault.FAILED:
                raise
            self._drafts_refused = True
            log.warning(
                "Telegram: this Bot API server refuses sendMessageDraft (%s); private "
                "stories stream with edits from now on",
                err.message,
            )
            return False
        return True

    async def repost(self, shown: Shown, number: int, piece: Piece, *, last: bool) -> int:
        """A gone message again; a captioned one as the same photo (by its file_id)."""
        body, markup = piece
        captioned = shown.captioned and number == len(shown.messages) - 1
        return (await self._repost(shown, body, markup, captioned)).message_id

    async def strip(self, key: ChannelKey, message_id: int) -> None:
        chat_id, _ = _chat(key)
        await self._app.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)

    async def _repost(
        self, shown: Shown, piece: str, markup: InlineKeyboardMarkup | None, captioned: bool
    ) -> Message:
        chat_id, thread_id = _chat(shown.key)
        if captioned:
            file_id = shown.upload
            if file_id:
                photo: Message = await self._app.bot.send_photo(
                    chat_id,
                    file_id,
                    has_spoiler=shown.card.picture_spoiler,
                    caption=piece,
                    reply_markup=markup,
                    message_thread_id=thread_id,
                )
                return photo
            shown.captioned = False
        return await self._send(chat_id, thread_id, piece, markup)

    async def show_picture(self, shown: Shown, pieces: list[Piece]) -> bool:
        """The story message becomes the photo (caption fits), or the photo replies to it."""
        path = shown.card.picture_path
        data = await asyncio.to_thread(Path(path).read_bytes)
        bot = self._app.bot
        chat_id, thread_id = _chat(shown.key)
        markup = pieces[-1][1]
        main = shown.messages[-1]
        status = "\n".join(shown.card.status_lines(closes_in(self._clock)))
        caption_body = "\n\n".join(p for p in (shown.card.narration, status) if p)
        fits = len(pieces) == 1 and len(caption_body) <= CAPTION_LIMIT
        # A photo message takes a new photo anywhere; a text message only where the
        # server lets media replace text (see `_media_on_text_refused`).
        if len(pieces) == 1 and (shown.captioned or (fits and not self._media_on_text_refused)):
            media = InputMediaPhoto(
                data, caption=caption_body, has_spoiler=shown.card.picture_spoiler
            )
            try:
                result = await bot.edit_message_media(media, chat_id, main, reply_markup=markup)
            except BadRequest as err:
                reason = err.message.lower()
                if not shown.captioned and _refuses_media_on_text(reason):
                    self._media_on_text_refused = True
                    log.warning(
                        "Telegram: this Bot API server refuses a photo on a text message (%s); "
                        "pictures are sent as replies from now on",
                        err.message,
                    )
                    return await self._photo_reply(shown, data)
                if "not found" not in reason:
                    raise
                result = await bot.send_photo(
                    chat_id,
                    data,
                    has_spoiler=shown.card.picture_spoiler,
                    caption=caption_body,
                    reply_markup=markup,
                    message_thread_id=thread_id,
                )
                shown.messages[-1] = result.message_id if isinstance(result, Message) else main
            shown.captioned = True
            if isinstance(result, Message):
                shown.sent[result.message_id] = _fingerprint(caption_body, markup)
            await self._keep_upload(shown, result)
            return True
        return await self._photo_reply(shown, data)

    async def _photo_reply(self, shown: Shown, data: bytes) -> bool:
        """The picture as a photo replying to the part's message: one per part, edited in
        place when the picture changes."""
        bot = self._app.bot
        chat_id, thread_id = _chat(shown.key)
        if shown.photo_reply is not None:
            media = InputMediaPhoto(data, has_spoiler=shown.card.picture_spoiler)
            result = await bot.edit_message_media(media, chat_id, shown.photo_reply)
        else:
            result = await bot.send_photo(
                chat_id,
                data,
                has_spoiler=shown.card.picture_spoiler,
                reply_parameters=ReplyParameters(shown.messages[-1]),
                message_thread_id=thread_id,
            )
            if isinstance(result, Message):
                shown.photo_reply = result.message_id
        await self._keep_upload(shown, result)
        return True

    async def _keep_upload(self, shown: Shown, result: Message | bool) -> None:
        """Store the uploaded photo's file_id, to send it again without uploading."""
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


def _refuses_media_on_text(reason: str) -> bool:
    """The server's answer when it will not turn a text message into a photo."""
    return any(
        phrase in reason
        for phrase in ("can't be edited", "there is no media", "media can't be", "wrong type")
    )


def _chat(key: ChannelKey) -> tuple[int, int | None]:
    return int(key.channel_id), int(key.thread_id) if key.thread_id else None


def _with_last(pieces: list[str]) -> list[tuple[str, bool]]:
    return [(piece, number == len(pieces) - 1) for number, piece in enumerate(pieces)]
