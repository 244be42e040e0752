"""A fake Discord on 127.0.0.1 (REST + gateway) for discord.py, run unmodified with
`discord.http.Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY` pointed here.

It keeps a small world (a guild, channels, members, messages with components and
attachments), plays users (a slash command, a button press by a given member), records
every request, and enforces what matters: the 3 s first answer and one answer per
interaction, custom_id and label lengths, 5 buttons a row, modals (type 9) only in answer
to a command or button and within their limits (submitted as type 5), content and embed
limits, attachments kept on edit only when listed, 10008 for deleted messages, 30046 and
50013 on demand, any error injected with `refuse_next`, and 429 (with `retry_after`, on any
route, for a while) with `rate_limit`. A deferred command (type 5) shows a loading
message that its first followup replaces, with the defer's visibility. It notes in
`problems` what Discord would show broken: an empty upload, an embed whose
`attachment://` name matches no file of its message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

TOKEN = "fake-discord-token"
APP_ID = 900
GUILD_ID = 1000
BOT_USER = {
    "id": str(APP_ID),
    "username": "StoryCraft",
    "discriminator": "0",
    "global_name": "StoryCraft",
    "avatar": None,
    "bot": True,
}
MANAGE_GUILD, MANAGE_MESSAGES = 1 << 5, 1 << 13
BASIC = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16)
)  # view, send, embed, attach, history


@dataclass(frozen=True)
class Upload:
    """A file a member attaches to a slash command option (type 11, ATTACHMENT). `size`
    overrides the size Discord states (as a forged interaction could)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"
    size: int | None = None


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after


def _json(body: Any, status: int = 200) -> web.Response:
    # discord.py reads JSON only when Content-Type is exactly application/json.
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


@dataclass
class Member:
    user_id: int
    name: str
    permissions: int = BASIC

    def payload(self) -> dict[str, Any]:
        user = {
            "id": str(self.user_id),
            "username": self.name.lower(),
            "discriminator": "0",
            "global_name": self.name,
            "avatar": None,
        }
        return {
            "user": user,
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(self.permissions),
            "nick": None,
        }


@dataclass
class Interaction:
    id: int
    token: str
    created: float
    answered: bool = False
    original: dict[str, Any] | None = None
    loading_flags: int | None = None  # a deferred command's loading message, until replaced
    answered_at: float | None = None  # seconds after the interaction was created
    kind: int = 0  # 2 command, 3 button, 5 modal submission
    channel_id: int = 0


@dataclass(frozen=True)
class RateLimit:
    """Requests of `method` whose path starts with `prefix` get 429 until `until`."""

    method: str
    prefix: str
    until: float


@dataclass
class FakeDiscord:
    """`await start()`, then point discord.py at `api_base` and `gateway_url`."""

    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # bot and user messages by id
    deleted: set[int] = field(default_factory=set)
    uploads: dict[str, bytes] = field(default_factory=dict)  # attachment id -> its bytes
    cdn_fetches: list[str] = field(default_factory=list)  # attachment ids fetched from the CDN
    ephemeral: list[dict[str, Any]] = field(
        default_factory=list
    )  # ephemeral replies, by interaction
    replies: dict[int, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # interaction id -> replies
    commands: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # scope -> synced commands
    command_puts: int = 0
    errors: list[tuple[str, int]] = field(
        default_factory=list
    )  # (path, Discord error code) refused
    too_old: set[int] = field(default_factory=set)  # message ids that answer 30046 to edits
    no_permission: set[int] = field(default_factory=set)  # channel ids where the bot may not post
    rate_limits: list[RateLimit] = field(default_factory=list)
    limited: list[tuple[str, str]] = field(default_factory=list)  # (method, path) given a 429
    interaction_deadline: float = 3.0
    modals: dict[int, dict[str, Any]] = field(default_factory=dict)  # interaction id -> modal
    faults: dict[str, list[ApiError]] = field(default_factory=dict)  # method -> next answers
    problems: list[str] = field(default_factory=list)  # what would show broken in Discord
    edit_times: dict[int, list[float]] = field(default_factory=dict)  # message id -> edits
    now: Callable[[], float] = time.monotonic  # the clock edit_times are read from
    url: str = ""
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5000))
    _interactions: dict[int, Interaction] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    # Each session's [shard_id, shard_count] from its IDENTIFY (None: not sharded).
    _shard_of: dict[web.WebSocketResponse, tuple[int, int] | None] = field(default_factory=dict)
    identified: list[tuple[int, int] | None] = field(default_factory=list)
    # (shard, event, guild id) of every dispatch, as each session received it.
    delivered: list[tuple[tuple[int, int] | None, str, str | None]] = field(default_factory=list)
    guild_ids: list[int] = field(default_factory=lambda: [GUILD_ID])
    # Interaction id -> the choices an autocomplete was answered with (callback type 8).
    suggestions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        for channel_id, name in ((2000, "stories"), (2001, "general")):
            self._add_channel(channel_id, name, GUILD_ID)

    def add_guild(self, guild_id: int, channel_id: int) -> None:
        """Another guild the bot is in, with one text channel."""
        self.guild_ids.append(guild_id)
        self._add_channel(channel_id, "stories", guild_id)

    def _add_channel(self, channel_id: int, name: str, guild_id: int) -> None:
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def _guild_of(self, channel_id: int) -> str:
        channel = self.channels.get(channel_id)
        return str(channel["guild_id"]) if channel else str(GUILD_ID)

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway"

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._cdn)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # Playing users

    def _interaction(
        self,
        kind: int,
        member: Member,
        channel_id: int,
        data: dict[str, Any],
        message: dict[str, Any] | None = None,
    ) -> int:
        interaction_id = next(self._ids)
        token = f"itoken{interaction_id}"
        guild_id = self.channels[channel_id]["guild_id"]
        self._interactions[interaction_id] = Interaction(
            interaction_id, token, time.monotonic(), kind=kind, channel_id=channel_id
        )
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "guild_id": guild_id,
            "channel_id": str(channel_id),
            "channel": self.channels[channel_id],
            "member": member.payload(),
            "token": token,
            "version": 1,
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": str(BASIC),
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        asyncio.get_running_loop().create_task(self._dispatch("INTERACTION_CREATE", payload))
        return interaction_id

    def slash(self, member: Member, channel_id: int, sub: str, **options: Any) -> int:
        """`/story SUB option=value ...` typed by a member; returns the interaction id."""
        types = {str: 3, int: 4, bool: 5, float: 10}
        sub_options = []
        resolved: dict[str, Any] = {}
        for name, value in options.items():
            if isinstance(value, Upload):  # an attachment: its id, the file in `resolved`
                attachment = self._upload(value)
                resolved[attachment["id"]] = attachment
                sub_options.append({"name": name, "type": 11, "value": attachment["id"]})
            else:
                sub_options.append({"name": name, "type": types[type(value)], "value": value})
        data: dict[str, Any] = {
            "id": "7001",
            "name": "story",
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": sub_options}],
        }
        if resolved:
            data["resolved"] = {"attachments": resolved}
        return self._interaction(2, member, channel_id, data)

    def autocomplete(
        self, member: Member, channel_id: int, sub: str, option: str, typed: str
    ) -> int:
        """A member typing `typed` into `/story SUB`'s `option`: Discord asks the bot what
        to suggest (an interaction of type 4); returns the interaction id."""
        focused = {"name": option, "type": 3, "value": typed, "focused": True}
        data: dict[str, Any] = {
            "id": "7001",
            "name": "story",
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": [focused]}],
        }
        return self._interaction(4, member, channel_id, data)

    def _upload(self, upload: Upload) -> dict[str, Any]:
        """A member's file put on the CDN, as the attachment object Discord resolves."""
        attachment_id = str(next(self._ids))
        self.uploads[attachment_id] = upload.data
        url = f"{self.url}/attachments/{attachment_id}/{upload.filename}"
        return {
            "id": attachment_id,
            "filename": upload.filename,
            "size": len(upload.data) if upload.size is None else upload.size,
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type,
        }

    async def _cdn(self, request: web.Request) -> web.Response:
        """The CDN: an attachment's bytes by id (and file name), as Discord serves them."""
        attachment_id = request.match_info["attachment_id"]
        self.cdn_fetches.append(attachment_id)
        if attachment_id not in self.uploads:
            return web.Response(status=404)
        return web.Response(body=self.uploads[attachment_id])

    def click(
        self, member: Member, message_id: int, custom_id: str, *, seen: dict[str, Any] | None = None
    ) -> int:
        """A member presses a button on a message; returns the interaction id. Like Discord,
        only a component the message has can be pressed; `seen` is the copy the member's
        client showed when the press raced an edit."""
        message = seen or self.messages[message_id]
        present = {
            b.get("custom_id")
            for row in message.get("components", [])
            for b in row.get("components", [])
        }
        if custom_id not in present:
            raise ValueError(f"message {message_id} has no button {custom_id!r}")
        data = {"custom_id": custom_id, "component_type": 2}
        return self._interaction(3, member, int(message["channel_id"]), data, message)

    def submit_modal(self, member: Member, interaction_id: int, value: str) -> int:
        """A member fills the one text field of the modal shown in answer to
        `interaction_id` and submits it (type 5); like Discord's client, only a modal that
        was shown can be submitted, and a value over the field's max_length cannot be typed."""
        modal = self.modals[interaction_id]
        field = modal["components"][0]["component"]
        if not 0 < len(value) <= int(field.get("max_length", 4000)):
            raise ValueError(f"the client refuses {len(value)} characters")
        channel_id = self._interactions[interaction_id].channel_id
        return self.forge_modal(member, channel_id, modal["custom_id"], field["custom_id"], value)

    def forge_modal(
        self, member: Member, channel_id: int, custom_id: str, field_id: str, value: str
    ) -> int:
        """A modal submission as a hostile client may send it: any custom_id and value."""
        label = {"type": 18, "id": 1, "component": {"type": 4, "id": 2, "custom_id": field_id}}
        label["component"]["value"] = value  # type: ignore[index]
        data = {"custom_id": custom_id, "components": [label]}
        return self._interaction(5, member, channel_id, data)

    def post_as_bot(self, channel_id: int, custom_ids: list[str]) -> int:
        """A message the bot sent long ago (e.g. by an older version), with these buttons."""
        buttons = [{"type": 2, "style": 1, "label": c[:80], "custom_id": c} for c in custom_ids]
        rows = [{"type": 1, "components": buttons[i : i + 5]} for i in range(0, len(buttons), 5)]
        body = {"embeds": [{"description": "old"}], "components": rows}
        _check_message(body)  # at most 5 rows of 5, as Discord allows
        message = self._store_message(channel_id, body, {})
        return int(message["id"])

    def rate_limit(self, method: str, prefix: str, seconds: float) -> None:
        """Every `method` request under `prefix` gets 429 for the next `seconds`, its
        `retry_after` the time left (e.g. all edits of a channel: "PATCH",
        "/channels/2000/messages/")."""
        self.rate_limits.append(RateLimit(method, prefix, time.monotonic() + seconds))

    def answered_within(self, interaction_id: int) -> float | None:
        """Seconds from the interaction to its first answer (None: not answered)."""
        return self._interactions[interaction_id].answered_at

    def refuse_next(
        self,
        method: str,
        status: int,
        code: int,
        message: str,
        *,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` channel-message requests with this HTTP method fail so."""
        errors = self.faults.setdefault(method, [])
        errors.extend(ApiError(status, code, message, retry_after) for _ in range(times))

    def delete(self, message_id: int) -> None:
        self.deleted.add(message_id)

    def story_messages(self, channel_id: int = 2000) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages.values()
            if int(m["channel_id"]) == channel_id
            and m["id"] not in self.deleted
            and int(m["author"]["id"]) == APP_ID
            and m.get("embeds")
        ]

    def reply_text(self, interaction_id: int) -> str | None:
        replies = self.replies.get(interaction_id)
        if not replies:
            return None
        return str(replies[0].get("content") or "")

    def calls(self, method: str, prefix: str) -> list[Any]:
        return [body for m, path, body in self.requests if m == method and path.startswith(prefix)]

    async def wait_until(self, check: Any, *, seconds: float = 10) -> Any:
        """Wait up to `seconds` until `check()` is truthy (re-checked after every request)."""
        async with asyncio.timeout(seconds), self._changed:
            await self._changed.wait_for(check)
        return check()

    # Gateway

    def on_shard(self, guild_id: int | None, shard: tuple[int, int] | None) -> bool:
        """Discord's rule: a guild's events go to shard (guild_id >> 22) % shard_count;
        direct messages (no guild) to shard 0."""
        if shard is None:
            return True
        shard_id, count = shard
        return shard_id == (0 if guild_id is None else (guild_id >> 22) % count)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        guild = data.get("guild_id")
        for ws in list(self._sockets):
            shard = self._shard_of.get(ws)
            if not self.on_shard(int(guild) if guild else None, shard):
                continue
            if not ws.closed:
                self.delivered.append((shard, event, guild))
                await ws.send_str(
                    json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data})
                )

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(
            json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        )
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["op"] == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif frame["op"] == 2:
                raw = frame["d"].get("shard")
                shard = (int(raw[0]), int(raw[1])) if raw else None
                if shard is not None and not 0 <= shard[0] < shard[1]:
                    await ws.close(code=4010, message=b"Invalid shard")
                    break
                self.identified.append(shard)
                self._shard_of[ws] = shard
                self._sockets.append(ws)
                guilds = [g for g in self.guild_ids if self.on_shard(g, shard)]
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                    "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                }
                if shard is not None:
                    ready["shard"] = list(shard)
                await ws.send_str(
                    json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
                )
                for guild_id in guilds:
                    created = self._guild(guild_id)
                    await ws.send_str(
                        json.dumps(
                            {"op": 0, "t": "GUILD_CREATE", "s": next(self._seq), "d": created}
                        )
                    )
        if ws in self._sockets:
            self._sockets.remove(ws)
        self._shard_of.pop(ws, None)
        return ws

    def _guild(self, guild_id: int = GUILD_ID) -> dict[str, Any]:
        everyone = {
            "id": str(guild_id),
            "name": "@everyone",
            "permissions": str(BASIC),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(guild_id),
            "name": "Story Club",
            "icon": None,
            "owner_id": "1",
            "roles": [everyone],
            "channels": [c for c in self.channels.values() if c["guild_id"] == str(guild_id)],
            "members": [],
            "member_count": 3,
            "emojis": [],
            "stickers": [],
            "features": [],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "large": False,
            "unavailable": False,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "system_channel_flags": 0,
            "joined_at": "2026-01-01T00:00:00+00:00",
        }

    # REST

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body, files = await _read_body(request)
        self.requests.append((request.method, path, body))
        limited = self._limited(request.method, path)
        if limited is not None:
            return limited
        try:
            if request.headers.get("Authorization") not in (
                f"Bot {TOKEN}",
                None,
            ) and not path.startswith(("/interactions/", "/webhooks/")):
                raise ApiError(401, 0, "401: Unauthorized")
            result = await self._route(request.method, path, body, files)
        except ApiError as err:
            self.errors.append((path, err.code))
            error: dict[str, Any] = {"message": err.message, "code": err.code}
            if err.retry_after is not None:
                error.update(retry_after=err.retry_after, **{"global": False})
            result = _json(error, status=err.status)
            if err.retry_after is not None:  # discord.py retries only what Discord's edge sent
                result.headers.update({"Via": "1.1 google", "Retry-After": str(err.retry_after)})
        async with self._changed:
            self._changed.notify_all()
        return result

    def _limited(self, method: str, path: str) -> web.Response | None:
        """A 429 as Discord sends it (discord.py retries after `retry_after`; without a
        `Via` header it takes the 429 for a Cloudflare ban)."""
        now = time.monotonic()
        left = max(
            (
                r.until - now
                for r in self.rate_limits
                if r.method == method and path.startswith(r.prefix)
            ),
            default=0.0,
        )
        if left <= 0:
            return None
        self.limited.append((method, path))
        body = {"message": "You are being rate limited.", "retry_after": left, "global": False}
        headers = {
            "Content-Type": "application/json",
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(left))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{left:.3f}",
            "X-RateLimit-Bucket": f"fake-{method}-{path.split('/')[1]}",
            "X-RateLimit-Scope": "user",
        }
        return web.Response(status=429, body=json.dumps(body).encode(), headers=headers)

    async def _route(
        self, method: str, path: str, body: Any, files: dict[str, bytes]
    ) -> web.Response:
        parts = path.strip("/").split("/")
        if (method, path) == ("GET", "/users/@me"):
            return _json(BOT_USER)
        if (method, path) == ("GET", "/oauth2/applications/@me"):
            return _json(
                {
                    "id": str(APP_ID),
                    "name": "StoryCraft",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "owner": BOT_USER,
                    "flags": 0,
                    "summary": "",
                }
            )
        if parts[0] == "applications" and parts[-1] == "commands":
            scope = parts[3] if len(parts) > 4 else "global"
            if method == "PUT":
                self.command_puts += 1
                self.commands[scope] = [
                    {**c, "id": str(7000 + i), "application_id": str(APP_ID), "version": "1"}
                    for i, c in enumerate(body)
                ]
            return _json(self.commands.get(scope, []))
        if parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(int(parts[1]), parts[2], body, files)
        if parts[0] == "webhooks":
            return self._webhook(method, parts, body, files)
        if parts[0] == "channels" and parts[2:3] == ["threads"] and method == "POST":
            return _json(self._thread(int(parts[1]), body))
        if parts[0] == "channels" and parts[2:3] == ["messages"]:
            channel_id = int(parts[1])
            queued = self.faults.get(method)
            if queued:
                raise queued.pop(0)
            if method == "POST":
                return _json(self._post(channel_id, body, files))
            if method == "PATCH":
                return _json(self._edit(channel_id, int(parts[3]), body, files))
            if method == "GET":
                return _json(self._message(int(parts[3])))
        raise ApiError(404, 0, f"404: Not Found ({method} {path})")

    def _callback(
        self, interaction_id: int, token: str, body: Any, files: dict[str, bytes]
    ) -> web.Response:
        interaction = self._interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        if interaction.answered:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        waited = time.monotonic() - interaction.created
        if waited > self.interaction_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        kind = body["type"]
        data = body.get("data") or {}
        if (kind == 8) != (interaction.kind == 4):  # suggestions answer only autocompletes
            raise ApiError(400, 40043, "Interaction response type invalid for this interaction")
        if kind == 8:
            if len(data.get("choices", [])) > 25:
                raise ApiError(400, 50035, "Invalid Form Body (at most 25 choices)")
            self.suggestions[interaction_id] = data.get("choices", [])
        if kind == 9:  # a modal: only in answer to a command or a button
            if interaction.kind not in (2, 3):
                raise ApiError(400, 50035, "Invalid Form Body (a modal cannot answer a modal)")
            _check_modal(data)
            self.modals[interaction_id] = data
        interaction.answered = True
        interaction.answered_at = waited
        resource: dict[str, Any] = {"type": kind}
        if kind == 5:
            interaction.loading_flags = data.get("flags", 0) & 64
        if kind == 4:
            _check_message(data)
            message = self._store_message(None, data, files, interaction_reply=True)
            self.replies.setdefault(interaction_id, []).append(message)
            if data.get("flags", 0) & 64:
                self.ephemeral.append(message)
            interaction.original = message
            resource["message"] = message
        elif kind == 7:
            _check_message(data)
        return _json(
            {
                "interaction": {
                    "id": str(interaction_id),
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(data.get("flags", 0) & 64),
                },
                "resource": resource,
            }
        )

    def _webhook(
        self, method: str, parts: list[str], body: Any, files: dict[str, bytes]
    ) -> web.Response:
        token = parts[2]
        interaction = next((i for i in self._interactions.values() if i.token == token), None)
        if interaction is None or not interaction.answered:
            raise ApiError(404, 10015, "Unknown Webhook")
        if method == "POST":  # a followup
            _check_message(body)
            if interaction.loading_flags is not None:
                # The first followup replaces the loading message and keeps its visibility.
                body = {**body, "flags": interaction.loading_flags}
            message = self._store_message(None, body, files, interaction_reply=True)
            if interaction.loading_flags is not None:
                interaction.loading_flags = None
                interaction.original = message
            self.replies.setdefault(interaction.id, []).append(message)
            if body.get("flags", 0) & 64:
                self.ephemeral.append(message)
            return _json(message)
        if method == "PATCH":  # edit @original
            _check_message(body)
            original = interaction.original or self._store_message(
                None, {}, {}, interaction_reply=True
            )
            original.update(
                {k: v for k, v in body.items() if k in ("content", "embeds", "components")}
            )
            interaction.original = original
            self.replies.setdefault(interaction.id, []).append(original)
            return _json(original)
        if method == "DELETE" and parts[-1] == "@original":
            interaction.loading_flags = None
            interaction.original = None
            return web.Response(status=204)
        raise ApiError(405, 0, "405: Method Not Allowed")

    def _thread(self, parent_id: int, body: Any) -> dict[str, Any]:
        if parent_id in self.no_permission:
            raise ApiError(403, 50013, "Missing Permissions")
        if not 1 <= len(body.get("name", "")) <= 100:
            raise ApiError(
                400, 50035, "Invalid Form Body: name: Must be between 1 and 100 in length."
            )
        thread_id = next(self._ids)
        thread = {
            "id": str(thread_id),
            "type": body.get("type", 11),
            "guild_id": self._guild_of(parent_id),
            "parent_id": str(parent_id),
            "owner_id": str(APP_ID),
            "name": body["name"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": _now(),
                "locked": False,
                "create_timestamp": _now(),
            },
        }
        self.channels[thread_id] = thread
        return thread

    def _post(self, channel_id: int, body: Any, files: dict[str, bytes]) -> dict[str, Any]:
        if channel_id in self.no_permission:
            raise ApiError(403, 50013, "Missing Permissions")
        if channel_id not in self.channels:
            raise ApiError(404, 10003, "Unknown Channel")
        _check_message(body)
        message = self._store_message(channel_id, body, files)
        self._check_pictures(message, files)
        return message

    def _edit(
        self, channel_id: int, message_id: int, body: Any, files: dict[str, bytes]
    ) -> dict[str, Any]:
        if channel_id in self.no_permission:
            raise ApiError(403, 50013, "Missing Permissions")
        message = self._message(message_id)
        if message_id in self.too_old:
            raise ApiError(
                400,
                30046,
                "Maximum number of edits to messages older than 1 hour reached. Try again later.",
            )
        _check_message(body)
        for key in ("content", "embeds", "components", "flags"):
            if key in body:
                message[key] = body[key]
        if "attachments" in body:
            kept = {str(a["id"]) for a in body["attachments"] if "id" in a}
            old = [a for a in message["attachments"] if a["id"] in kept]
            message["attachments"] = old + self._attachments(body, files)
        message["edited_timestamp"] = _now()
        self.edit_times.setdefault(message_id, []).append(self.now())
        self._check_pictures(message, files)
        return message

    def _check_pictures(self, message: dict[str, Any], files: dict[str, bytes]) -> None:
        names = {a["filename"] for a in message["attachments"]}
        for part, data in files.items():
            if not data:
                self.problems.append(f"message {message['id']}: {part} is empty")
        for embed in message.get("embeds", []):
            url = (embed.get("image") or {}).get("url", "")
            if url.startswith("attachment://") and url.removeprefix("attachment://") not in names:
                self.problems.append(f"message {message['id']}: no file for {url} in {names}")

    def _message(self, message_id: int) -> dict[str, Any]:
        if message_id in self.deleted or message_id not in self.messages:
            raise ApiError(404, 10008, "Unknown Message")
        return self.messages[message_id]

    def _store_message(
        self,
        channel_id: int | None,
        body: Any,
        files: dict[str, bytes],
        *,
        interaction_reply: bool = False,
    ) -> dict[str, Any]:
        message_id = next(self._ids)
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id or 2000),
            "guild_id": self._guild_of(channel_id or 2000),
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "type": 20 if interaction_reply else 0,
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "flags": body.get("flags", 0),
            "attachments": self._attachments(body, files),
        }
        if not interaction_reply:
            self.messages[message_id] = message
        return message

    def _attachments(self, body: Any, files: dict[str, bytes]) -> list[dict[str, Any]]:
        result = []
        for index, (name, data) in enumerate(sorted(files.items())):
            meta: dict[str, Any] = next(
                (
                    a
                    for a in body.get("attachments", [])
                    if str(a.get("id")) == name.split("[")[-1].rstrip("]")
                ),
                {},
            )
            filename = meta.get("filename", f"file{index}")
            attachment_id = str(next(self._ids))
            self.uploads[attachment_id] = data
            result.append(
                {
                    "id": attachment_id,
                    "filename": filename,
                    "size": len(data),
                    "url": f"{self.url}/attachments/{attachment_id}/{filename}",
                    "proxy_url": f"{self.url}/attachments/{attachment_id}/{filename}",
                    "content_type": "image/png" if filename.endswith(".png") else "image/jpeg",
                }
            )
        return result


def _check_message(body: dict[str, Any]) -> None:
    """Discord's limits: content 2000, embed description 4096 and 6000 in all, components."""
    if len(body.get("content") or "") > 2000:
        raise ApiError(400, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    total = 0
    for embed in embeds:
        description = embed.get("description") or ""
        if len(description) > 4096:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body: embeds.0.description: Must be 4096 or fewer in length.",
            )
        total += (
            len(description)
            + len(embed.get("title") or "")
            + len((embed.get("footer") or {}).get("text", ""))
        )
    if total > 6000:
        raise ApiError(
            400, 50035, "Invalid Form Body: embeds: Embed size exceeds maximum size of 6000"
        )
    rows = body.get("components") or []
    if len(rows) > 5:
        raise ApiError(400, 50035, "Invalid Form Body: components: Must be 5 or fewer in length.")
    seen: set[str] = set()
    for row in rows:
        buttons = row.get("components", [])
        if len(buttons) > 5:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body: components.0.components: Must be 5 or fewer in length.",
            )
        for button in buttons:
            custom_id = button.get("custom_id")
            if custom_id is not None:
                if not 1 <= len(custom_id) <= 100:
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body: custom_id: Must be between 1 and 100 in length.",
                    )
                if custom_id in seen:
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body: custom_id: Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)
            if len(button.get("label") or "") > 80:
                raise ApiError(
                    400, 50035, "Invalid Form Body: label: Must be 80 or fewer in length."
                )


def _check_modal(data: dict[str, Any]) -> None:
    """Discord's modal limits: custom_id 1-100, title 1-45, 1-5 labels each holding one
    text input (custom_id 1-100, label text 1-45, max_length at most 4000)."""
    problems = []
    if not 0 < len(data.get("custom_id", "")) <= 100:
        problems.append("custom_id")
    if not 0 < len(data.get("title", "")) <= 45:
        problems.append("title")
    labels = data.get("components") or []
    if not 0 < len(labels) <= 5:
        problems.append("components")
    for label in labels:
        item = label.get("component") or {}
        if label.get("type") != 18 or not 0 < len(label.get("label", "")) <= 45:
            problems.append("label")
        if item.get("type") != 4 or not 0 < len(item.get("custom_id", "")) <= 100:
            problems.append("text input")
        if int(item.get("max_length", 4000)) > 4000:
            problems.append("max_length")
    if problems:
        raise ApiError(400, 50035, f"Invalid Form Body (modal: {', '.join(problems)})")


async def _read_body(request: web.Request) -> tuple[Any, dict[str, bytes]]:
    files: dict[str, bytes] = {}
    if not request.can_read_body:
        return {}, files
    if request.content_type.startswith("multipart/"):
        body: Any = {}
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)  # Discord sends no nested multipart
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.name:
                files[part.name] = bytes(await part.read())
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else {}), files


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
