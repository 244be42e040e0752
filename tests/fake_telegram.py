"""A fake Telegram Bot API server on 127.0.0.1 for python-telegram-bot, run unmodified
with `base_url` / `base_file_url` pointed here.

It speaks the real wire format (form-encoded, JSON or multipart bodies; `{"ok": ...}`
replies; `getUpdates` long polling with offsets), keeps a small world of chats, users and
messages, plays users (commands, button presses), and enforces the limits that bite:
callback_data 1-64 bytes, text 4096, caption 1024, "message is not modified", "message to
edit not found", a callback query answered twice or late ("query is too old"), and
429 with retry_after on demand (the next call of a method, or every call for a while;
any error with `refuse_next`). `edit_times` keeps when each message was edited;
`drafts` what each sendMessageDraft showed (private chats only; `refuse_drafts` answers
404 as servers without the method do).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TOKEN = "123456:TEST-token"
BOT = {
    "id": 123456,
    "is_bot": True,
    "first_name": "StoryCraft",
    "username": "StoryCraftBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
JSON_FIELDS = {
    "reply_markup",
    "media",
    "commands",
    "scope",
    "allowed_updates",
    "entities",
    "caption_entities",
    "reply_parameters",
    "link_preview_options",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


@dataclass
class FakeTelegram:
    """Start with `await server.start()`; `base_url` and `file_url` are for PTB."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    admins: dict[int, set[int]] = field(default_factory=dict)  # chat -> admin user ids
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # language -> list
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    rate_limit_next: dict[str, int] = field(default_factory=dict)  # method -> retry_after
    rate_limited_until: dict[str, float] = field(default_factory=dict)  # method -> monotonic
    # Telegram documents no exact limit for answering a query; the fake holds the bot to
    # Discord's 3 s, so a press answered only after slow work fails here as well.
    answer_deadline: float = 3.0
    blocked: set[int] = field(default_factory=set)  # private chats whose user blocked the bot
    errors: list[tuple[str, str]] = field(default_factory=list)  # (method, description) refused
    # Like older and self-hosted Bot API servers: editMessageMedia refuses text messages.
    refuse_media_on_text: bool = False
    # Like older and self-hosted Bot API servers: no sendMessageDraft (404 Not Found).
    refuse_drafts: bool = False
    drafts: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # texts shown
    # ForceReply markups the bot sent, by (chat, message): a reply field the client opens.
    force_replies: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[ApiError]] = field(default_factory=dict)  # method -> next answers
    edit_times: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    bot_admin_in: set[int] = field(default_factory=set)  # groups where the bot is an admin
    now: Callable[[], float] = time.monotonic  # the clock edit_times are read from
    url: str = ""
    tokens: tuple[str, ...] = (TOKEN,)  # the bot's; tests/fleet_rig.py lets processes share it
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=dict)
    _queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _query_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _files: dict[str, bytes] = field(default_factory=dict)
    downloads_offered: list[str] = field(default_factory=list)  # file ids getFile served
    _file_names: dict[str, str] = field(default_factory=dict)  # upload field -> its file name
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None
    # setWebhook's url and secret_token while a webhook is set: updates are then POSTed
    # there (with the secret in X-Telegram-Bot-Api-Secret-Token) and getUpdates refused.
    webhook: dict[str, str] | None = None
    webhook_answers: list[int] = field(default_factory=list)  # HTTP status of each POST
    _posting: set[asyncio.Task[int]] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        for task in list(self._posting):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # Playing users

    def user(self, user_id: int, name: str, language: str = "en") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": language}

    @staticmethod
    def private_chat(user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "type": "private", "first_name": user["first_name"]}

    @staticmethod
    def group_chat(chat_id: int, title: str = "Story club") -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": title}

    def send_text(
        self, chat: dict[str, Any], user: dict[str, Any], text_: str, *, topic: int | None = None
    ) -> dict[str, Any]:
        """A user writes in a chat, or in a forum topic (a command gets its bot_command entity)."""
        extra: dict[str, Any] = (
            {"message_thread_id": topic, "is_topic_message": True} if topic else {}
        )
        message = self._new_message(chat, user, text=text_, **extra)
        if text_.startswith("/"):
            length = len(text_.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push({"message": message})
        return message

    def reply(
        self, chat: dict[str, Any], user: dict[str, Any], message_id: int, text_: str
    ) -> dict[str, Any]:
        """A user replies to a message (a ForceReply prompt makes the client do so); like
        Telegram, the update carries the replied message without its own reply."""
        replied = dict(self.messages[(chat["id"], message_id)])
        replied.pop("reply_to_message", None)
        extra: dict[str, Any] = {}
        if replied.get("is_topic_message"):
            extra = {"message_thread_id": replied["message_thread_id"], "is_topic_message": True}
        message = self._new_message(chat, user, text=text_, reply_to_message=replied, **extra)
        self._push({"message": message})
        return message

    def send_document(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        data: bytes,
        file_name: str,
        *,
        caption: str = "",
        size: int | None = None,
    ) -> dict[str, Any]:
        """A user sends a file (with a caption; a command in it gets its caption entity).
        `size` overrides the file_size Telegram reports (as a forged update could)."""
        file_id = f"BQAD{len(self._files) + 1:06d}"
        self._files[file_id] = data
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "file_size": len(data) if size is None else size,
        }
        message = self._new_message(chat, user, document=document)
        if caption:
            message["caption"] = caption
            if caption.startswith("/"):
                length = len(caption.split()[0])
                message["caption_entities"] = [
                    {"type": "bot_command", "offset": 0, "length": length}
                ]
        self._push({"message": message})
        return message

    def reply_text(
        self, chat: dict[str, Any], user: dict[str, Any], text_: str, to: dict[str, Any]
    ) -> dict[str, Any]:
        """A user answers the message `to` with a text (a command gets its entity)."""
        message = self._new_message(chat, user, text=text_, reply_to_message=to)
        if text_.startswith("/"):
            length = len(text_.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push({"message": message})
        return message

    def press(self, chat: dict[str, Any], user: dict[str, Any], message_id: int, data: str) -> str:
        """A user presses an inline button; returns the callback query id."""
        query_id = str(next(self._query_ids))
        shown = self.messages[(chat["id"], message_id)]
        query = {
            "id": query_id,
            "from": user,
            "message": shown,
            "chat_instance": f"ci{chat['id']}",
            "data": data,
        }
        self._queries[query_id] = {"at": time.monotonic(), "answered": False}
        self._push({"callback_query": query})
        return query_id

    def rate_limit(self, method: str, seconds: float) -> None:
        """Every call of `method` gets 429 for the next `seconds`, `retry_after` the whole
        seconds left (as Telegram counts them)."""
        self.rate_limited_until[method] = time.monotonic() + seconds

    def bot_removed(self, chat: dict[str, Any], by: dict[str, Any]) -> None:
        member = {"user": BOT, "status": "left"}
        old = {"user": BOT, "status": "member"}
        self._push(
            {
                "my_chat_member": {
                    "chat": chat,
                    "from": by,
                    "date": int(time.time()),
                    "old_chat_member": old,
                    "new_chat_member": member,
                }
            }
        )

    def refuse_next(
        self,
        method: str,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` fail so."""
        errors = self.faults.setdefault(method, [])
        errors.extend(ApiError(code, description, retry_after) for _ in range(times))

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """A user deletes one of the bot's messages."""
        del self.messages[(chat_id, message_id)]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return [
            m
            for (c, _), m in sorted(self.messages.items())
            if c == chat_id and m["from"]["id"] == BOT["id"]
        ]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == method]

    async def wait_until(self, check: Any, *, seconds: float = 10) -> Any:
        """Wait up to `seconds` until `check()` is truthy (re-checked after every request)."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(check)
        return check()

    def _push(self, payload: dict[str, Any]) -> None:
        update = {"update_id": next(self._update_ids), **payload}
        if self.webhook is not None:
            secret = self.webhook.get("secret_token", "")
            task = asyncio.get_running_loop().create_task(self.post_update(update, secret))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
            return
        self._updates.append(update)
        self._new_update.set()

    async def post_update(self, update: dict[str, Any], secret: str | None) -> int:
        """POST one update to the webhook as Telegram does (the secret header unless None);
        the HTTP status the bot answered."""
        assert self.webhook is not None, "no webhook is set"
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.webhook["url"], json=update, headers=headers) as response,
        ):
            status = response.status
        self.webhook_answers.append(status)
        async with self._changed:
            self._changed.notify_all()
        return status

    def _new_message(
        self, chat: dict[str, Any], sender: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        counter = self._message_ids.setdefault(chat["id"], itertools.count(1))
        message = {
            "message_id": next(counter),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    # The API

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] not in self.tokens:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await self._params(request)
        self.requests.append((method, params))
        async with self._changed:
            self._changed.notify_all()  # a long poll may take a while: say it arrived
        try:
            retry = self.rate_limit_next.pop(method, None)
            left = self.rate_limited_until.get(method, 0.0) - time.monotonic()
            if left > 0:
                retry = max(retry or 0, math.ceil(left))
            if retry is not None:
                raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
            queued = self.faults.get(method)
            if queued:
                raise queued.pop(0)
            if "chat_id" in params and int(params["chat_id"]) in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params, files)
        except ApiError as err:
            self.errors.append((method, err.description))
            body: dict[str, Any] = {
                "ok": False,
                "error_code": err.code,
                "description": err.description,
            }
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            return web.json_response(body, status=err.code)
        finally:
            async with self._changed:
                self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        files: dict[str, bytes] = {}
        params: dict[str, Any] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if hasattr(value, "file"):
                    files[key] = value.file.read()
                    self._file_names[key] = str(getattr(value, "filename", ""))
                else:
                    params[key] = _decode(key, str(value))
        params.update({k: _decode(k, v) for k, v in request.query.items()})
        return params, files

    async def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return BOT

    async def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = None
        return True

    async def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        url, secret = str(params.get("url", "")), str(params.get("secret_token", ""))
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1:"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret}
        return True

    async def _m_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.commands[params.get("language_code", "")] = params["commands"]
        return True

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset", 0) or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed
        timeout = float(params.get("timeout", 0) or 0)
        if not self._updates and timeout:
            self._new_update.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._new_update.wait()
            except TimeoutError:
                pass
        limit = int(params.get("limit", 100) or 100)
        return self._updates[:limit]

    async def _m_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = "administrator" if user_id in self.admins.get(chat_id, set()) else "member"
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        extra = (
            {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
            if status == "administrator"
            else {}
        )
        return {"status": status, "user": user, **extra}

    async def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        query = self._queries.get(str(params["callback_query_id"]))
        late = query is not None and time.monotonic() - query["at"] > self.answer_deadline
        if query is None or query["answered"] or late:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        query["answered"] = True
        self.answered[str(params["callback_query_id"])] = params
        return True

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text_ = str(params.get("text", ""))
        _check_text(text_, 4096, "message is too long")
        _check_markup(params.get("reply_markup"))
        chat = self._chat(params["chat_id"])
        topic = params.get("message_thread_id")
        extra = {"message_thread_id": int(topic), "is_topic_message": True} if topic else {}
        message = self._new_message(chat, BOT, text=text_, **extra)
        _put_markup(message, params.get("reply_markup"))
        markup = params.get("reply_markup") or {}
        if markup.get("force_reply"):  # not part of the message Telegram returns
            self.force_replies[(chat["id"], message["message_id"])] = markup
        if params.get("entities"):
            message["entities"] = params["entities"]
        if "reply_parameters" in params:
            message["reply_to_message_id"] = params["reply_parameters"].get("message_id")
        return message

    async def _m_sendMessageDraft(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """A draft: an animated preview in a private chat, no message."""
        if self.refuse_drafts:
            raise ApiError(404, "Not Found")
        text_ = str(params.get("text", ""))
        _check_text(text_, 4096, "message is too long")
        draft_id = int(params.get("draft_id", 0) or 0)
        if not draft_id:
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        chat = self._chat(params["chat_id"])
        if chat["type"] != "private":
            raise ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        self.drafts.setdefault((chat["id"], draft_id), []).append(text_)
        return True

    async def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        caption = str(params.get("caption", ""))
        _check_text(caption, 1024, "message caption is too long", allow_empty=True)
        _check_markup(params.get("reply_markup"))
        photo = self._photo(params.get("photo"), files, "photo")
        chat = self._chat(params["chat_id"])
        message = self._new_message(chat, BOT, photo=photo)
        if caption:
            message["caption"] = caption
        _put_spoiler(message, params.get("has_spoiler"))
        _put_markup(message, params.get("reply_markup"))
        if "reply_parameters" in params:
            message["reply_to_message_id"] = params["reply_parameters"].get("message_id")
        return message

    async def _m_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        caption = str(params.get("caption", ""))
        _check_text(caption, 1024, "message caption is too long", allow_empty=True)
        if not files.get("document"):
            raise ApiError(400, "Bad Request: file must be non-empty")
        file_id = f"BQAC{len(self._files) + 1:06d}"
        self._files[file_id] = files["document"]
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": self._file_names.get("document", ""),
            "file_size": len(files["document"]),
        }
        message = self._new_message(self._chat(params["chat_id"]), BOT, document=document)
        if caption:
            message["caption"] = caption
        if "reply_parameters" in params:
            message["reply_to_message_id"] = params["reply_parameters"].get("message_id")
        return message

    async def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = str(params.get("file_id", ""))
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        data = self._files[file_id]
        if len(data) > 20 * 1024 * 1024:  # the Bot API serves files up to 20 MB
            raise ApiError(400, "Bad Request: file is too big")
        self.downloads_offered.append(file_id)
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": f"documents/{file_id}",
        }

    async def _download(self, request: web.Request) -> web.Response:
        """The file server: GET /file/bot<token>/<file_path> from getFile."""
        if request.match_info["token"] != TOKEN:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("documents/")
        if file_id not in self._files:
            return web.Response(status=404)
        return web.Response(body=self._files[file_id], content_type="application/octet-stream")

    def file(self, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded."""
        return self._files[file_id]

    async def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._target(params)
        text_ = str(params.get("text", ""))
        _check_text(text_, 4096, "message is too long")
        _check_markup(params.get("reply_markup"))
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if message.get("text") == text_ and message.get("reply_markup") == params.get(
            "reply_markup"
        ):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text_
        _put_markup(message, params.get("reply_markup"))  # omitted markup removes the keyboard
        message["edit_date"] = int(time.time())
        return message

    async def _m_editMessageCaption(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._target(params)
        caption = str(params.get("caption", ""))
        _check_text(caption, 1024, "message caption is too long", allow_empty=True)
        _check_markup(params.get("reply_markup"))
        if message.get("caption", "") == caption and message.get("reply_markup") == params.get(
            "reply_markup"
        ):
            raise ApiError(400, NOT_MODIFIED)
        message["caption"] = caption
        _put_markup(message, params.get("reply_markup"))
        return message

    async def _m_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        message = self._target(params)
        _check_markup(params.get("reply_markup"))
        if message.get("reply_markup") == params.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        _put_markup(message, params.get("reply_markup"))
        return message

    async def _m_editMessageMedia(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        message = self._target(params)
        if self.refuse_media_on_text and "text" in message:
            raise ApiError(400, "Bad Request: message can't be edited")
        media = params["media"]
        caption = str(media.get("caption", ""))
        _check_text(caption, 1024, "message caption is too long", allow_empty=True)
        _check_markup(params.get("reply_markup"))
        ref = str(media["media"])
        source = files.get(ref.removeprefix("attach://")) if ref.startswith("attach://") else None
        photo = self._photo(ref if source is None else None, {"x": source} if source else {}, "x")
        message.pop("text", None)
        message.pop("entities", None)
        message["photo"] = photo
        message["caption"] = caption
        _put_spoiler(message, media.get("has_spoiler"))
        _put_markup(message, params.get("reply_markup"))
        return message

    async def _m_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        """As Telegram: the bot deletes its own messages, and a member's only in a private
        chat or where it is an administrator."""
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        own = message["from"]["id"] == BOT["id"]
        private = message["chat"]["type"] == "private"
        if not (own or private or key[0] in self.bot_admin_in):
            raise ApiError(400, "Bad Request: message can't be deleted")
        del self.messages[key]
        return True

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        chat_id = int(chat_id)
        for (c, _), message in self.messages.items():
            if c == chat_id:
                return dict(message["chat"])
        raise ApiError(400, "Bad Request: chat not found")

    def _target(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        self.edit_times.setdefault(key, []).append(self.now())
        return self.messages[key]

    def _photo(self, ref: Any, files: dict[str, bytes], field_name: str) -> list[dict[str, Any]]:
        if field_name in files and files[field_name] is not None:
            data = files[field_name]
            file_id = f"AgAC{len(self._files) + 1:06d}"
            self._files[file_id] = data
        elif isinstance(ref, str) and ref in self._files:
            file_id = ref  # a file_id sent before: reused, no upload
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        size = len(self._files[file_id])
        return [
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "width": 64,
                "height": 64,
                "file_size": size,
            }
        ]


def _decode(key: str, value: str) -> Any:
    if key in JSON_FIELDS:
        return json.loads(value)
    return value


def _check_text(value: str, limit: int, problem: str, *, allow_empty: bool = False) -> None:
    if not value.strip() and not allow_empty:
        raise ApiError(400, "Bad Request: message text is empty")
    if len(value) > limit:
        raise ApiError(400, f"Bad Request: {problem}")


def _check_markup(markup: Any) -> None:
    if not markup:
        return
    if "force_reply" in markup and (
        markup["force_reply"] is not True
        or not 0 < len(markup.get("input_field_placeholder", " ")) <= 64
    ):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not str(button.get("text", "")).strip():
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )


def _put_markup(message: dict[str, Any], markup: Any) -> None:
    if markup and markup.get("inline_keyboard"):
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


def _put_spoiler(message: dict[str, Any], flag: Any) -> None:
    """Like Telegram: a photo sent with `has_spoiler` is shown blurred until tapped
    (`has_media_spoiler` on the message); a new photo without it is not."""
    if flag in (True, "true", "True"):
        message["has_media_spoiler"] = True
    else:
        message.pop("has_media_spoiler", None)
