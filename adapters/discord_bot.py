"""The Discord adapter (discord.py 2.7): the /story command group and restart-safe
buttons in, story messages out. It translates only: every rule lives in the engine.

Story messages are sent and edited with the bot's own token, never through interaction
tokens, which expire after 15 minutes. Buttons are DynamicItems whose custom_id carries
the segment id, so they resolve through the database after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from PIL import Image

from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.configuration import StoryChanges
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    IllustrateMode,
    Language,
    NoVoteRule,
    Participation,
    Place,
    Platform,
    Rating,
    StoryLength,
)
from storycraft_bot.core.safety_store import LimitedAction
from storycraft_bot.core.screen_records import ScreenRecords
from storycraft_bot.core.texts import Msg, rating_name, text

from .blocked_words import Blocking, blocklist_options
from .buttons import Button, ButtonKind, card_buttons, decode, encode
from .card_input import CARD_MAX_BYTES, LOREBOOK_MAX_BYTES, attach_lorebook, start_from_card
from .commands import (
    Attachment,
    Command,
    Reply,
    ReplyKind,
    answer,
    perform,
    press,
    settings_text,
    start_story,
)
from .discord_commands import RussianTranslator, StoryCommands
from .discord_files import attachment_bytes
from .discord_own_action import action_modal, submitted
from .own_action import may_type, submit
from .screen import Fault, Screen, Shown, narration_pieces
from .story_card import StoryCard

log = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 4096
STATUS_ROOM = 400
LABEL_LIMIT = 80
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
UNKNOWN_CHANNEL = 10003
TOO_MANY_OLD_EDITS = 30046  # edits of messages older than an hour: post the part anew
Piece = tuple[discord.Embed, discord.ui.View | None]  # one message: an embed, its buttons
PREFIX = "sc:"
TEMPLATE = r"sc:(?:c:[0-9]{1,15}:[0-9]|[rtxwo]:[0-9]{1,15})"  # ids buttons.encode makes
NO_ACCESS = {
    Language.RU: "Мне не хватает прав в этом канале: нужны «Отправлять сообщения», "
    "«Встраивать ссылки» и «Прикреплять файлы». История на паузе; когда права будут, "
    "`/story retry` продолжит её.",
    Language.EN: "I lack permissions in this channel: I need Send Messages, Embed Links and "
    "Attach Files. The story is paused; once I have them, `/story retry` continues it.",
}


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    """How to reach Discord and where to keep the command-sync fingerprint."""

    token: str
    data_dir: Path
    test_guild: int | None = None
    edit_interval: float = 1.0
    language: Language = Language.RU
    guild_ready_timeout: float = 2.0
    workflows: tuple[str, ...] = ()  # picture styles a story may choose
    upload_limit: int | None = None  # bytes a picture upload may weigh; None: the guild's
    web_url: str = ""  # WEB_PUBLIC_URL: where books can be read online ("" none)
    shard_count: int | None = None  # SHARD_COUNT: sharded (AutoShardedClient) when set
    shard_ids: tuple[int, ...] | None = None  # SHARD_IDS: this process's shards (None: all)


class StoryButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=TEMPLATE):
    """A card's button; its custom_id (buttons.encode with the `sc:` prefix) names the
    segment, so it resolves after a restart. `button` is None for a template-shaped id
    the bot never makes."""

    def __init__(self, button: Button | None, custom_id: str = "") -> None:
        choice = button is not None and button.kind is ButtonKind.CHOICE
        super().__init__(
            discord.ui.Button(
                label=(button.label if button else "") or "…",
                style=discord.ButtonStyle.primary if choice else discord.ButtonStyle.secondary,
                custom_id=encode(button, PREFIX) if button else custom_id,
                row=min(button.index, 3) if button and choice else 4,  # rows 0-3: choices
            )
        )
        self.button = button

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> StoryButton:
        custom_id = str(match.string)
        return cls(decode(custom_id, PREFIX), custom_id)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _adapter(interaction).on_button(interaction, self.button)


class StoryClient(discord.Client):
    """discord.py's client with our command tree and dynamic buttons."""

    def __init__(
        self, adapter: DiscordAdapter, guild_ready_timeout: float, **sharding: Any
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and guilds; interactions carry everything else
        super().__init__(
            intents=intents,
            guild_ready_timeout=guild_ready_timeout,
            # Premises and narration are user and model text: they must never ping anyone.
            allowed_mentions=discord.AllowedMentions.none(),
            **sharding,
        )
        self.adapter = adapter
        self.tree: app_commands.CommandTree[StoryClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(StoryButton)
        await self.adapter.setup(self)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Buttons whose custom_id matches none of ours (forged, or from an old version),
        and every modal submission (an own action's text)."""
        if interaction.type is discord.InteractionType.modal_submit:
            await self.adapter.on_own_action(interaction)
            return
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        if re.fullmatch(TEMPLATE, str(data.get("custom_id", ""))):
            return
        await self.adapter.on_button(interaction, None)


class ShardedStoryClient(StoryClient, discord.AutoShardedClient):
    """The same client on discord.py's AutoShardedClient: one gateway connection per shard
    this process runs (`shard_ids` of `shard_count`); Discord sends each guild's events to
    shard (guild_id >> 22) % shard_count, so each process hears only its guilds."""


def story_client(adapter: DiscordAdapter, config: DiscordConfig) -> StoryClient:
    """Sharded when SHARD_COUNT is set, else one plain connection."""
    if config.shard_count is None:
        return StoryClient(adapter, config.guild_ready_timeout)
    ids = list(config.shard_ids) if config.shard_ids is not None else None
    return ShardedStoryClient(
        adapter, config.guild_ready_timeout, shard_count=config.shard_count, shard_ids=ids
    )


def _adapter(interaction: discord.Interaction) -> DiscordAdapter:
    client = interaction.client
    assert isinstance(client, StoryClient)
    return client.adapter


class DiscordAdapter(Screen[Piece]):
    """Runs the Discord client and implements the engine's StoryView for Discord."""

    platform = Platform.DISCORD
    picture_rides_on_text = True
    book_command = "/story book"

    def __init__(
        self,
        engine: StoryEngine,
        records: ScreenRecords,
        config: DiscordConfig,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(engine, records, clock or SystemClock())
        self._config = config
        self._no_access: set[int] = set()  # channels we could not post in, not yet explained
        self._runner: asyncio.Task[None] | None = None
        self.client = story_client(self, config)

    # Life cycle

    async def start(self) -> None:
        """Log in (discord.LoginFailure for a wrong token), then connect in the background."""
        try:
            await self.client.login(self._config.token)
        except BaseException:
            await self.client.close()
            raise
        if self._config.shard_count is not None:
            ids = self._config.shard_ids
            shown = ",".join(map(str, ids)) if ids is not None else "all"
            log.info("Discord: shards %s of %d", shown, self._config.shard_count)
        self._runner = asyncio.create_task(self.client.connect(), name="discord")
        self._runner.add_done_callback(_report_end)

    async def wait_ready(self) -> None:
        await self.client.wait_until_ready()

    async def stop(self) -> None:
        await self.close()
        await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    @property
    def connected(self) -> bool:
        """The gateway session is ready (READY received) and not closed."""
        return self.client.is_ready() and not self.client.is_closed()

    async def setup(self, client: StoryClient) -> None:
        """Build the command tree and sync it only when it changed (200 creates/day/guild)."""
        tree = client.tree
        await tree.set_translator(RussianTranslator())
        guild = discord.Object(self._config.test_guild) if self._config.test_guild else None
        tree.add_command(StoryCommands(self), guild=guild)
        translator = tree.translator
        assert translator is not None
        payload = [
            await command.get_translated_payload(tree, translator)
            for command in tree.get_commands(guild=guild)
        ]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        scope = str(self._config.test_guild or "global")
        marker = self._config.data_dir / "discord_commands.json"
        synced = json.loads(marker.read_text()) if marker.exists() else {}
        if synced.get(scope) == digest:
            log.info("Discord: commands unchanged, not synced")
            return
        await tree.sync(guild=guild)
        synced[scope] = digest
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(synced))
        log.info("Discord: commands synced (%s)", scope)

    # From Discord to the engine

    def language_of(self, interaction: discord.Interaction) -> Language:
        if interaction.locale is discord.Locale.russian:
            return Language.RU
        if interaction.locale in (discord.Locale.american_english, discord.Locale.british_english):
            return Language.EN
        return self._config.language

    def _place(self, interaction: discord.Interaction) -> Place:
        channel = interaction.channel
        channel_id = interaction.channel_id or 0
        key = ChannelKey(Platform.DISCORD, str(channel_id))
        if isinstance(channel, discord.Thread) and channel.parent_id:
            key = ChannelKey(Platform.DISCORD, str(channel.parent_id), str(channel.id))
        guild = f"{interaction.guild_id}" if interaction.guild_id else f"dm:{interaction.user.id}"
        # A thread is age-restricted with its parent channel (discord.py asks the parent).
        nsfw = isinstance(channel, discord.TextChannel | discord.Thread) and channel.is_nsfw()
        return Place(key, guild, interaction.guild_id is not None, age_restricted=nsfw)

    @staticmethod
    def _actor(interaction: discord.Interaction) -> Actor:
        permissions = interaction.permissions
        return Actor(
            str(interaction.user.id),
            interaction.user.display_name,
            can_moderate=permissions.manage_messages,
            can_manage_guild=permissions.manage_guild,
        )

    async def answer(
        self,
        interaction: discord.Interaction,
        message: str,
        *,
        public: bool = False,
        attachment: Attachment | None = None,
    ) -> None:
        """Say `message` once the interaction is acknowledged (see `_acknowledge`): after a
        loading message the first followup replaces it, after a button's deferred update
        it is a message of its own. An attachment over the interaction's upload limit is
        left off and said so."""
        files: list[discord.File] = []
        if attachment is not None and len(attachment.data) > interaction.filesize_limit:
            size = f"{len(attachment.data) / 2**20:.1f}"
            language = self.language_of(interaction)
            message += "\n" + text(language, Msg.BOOK_TOO_LARGE, size=size)
        elif attachment is not None:
            files.append(discord.File(io.BytesIO(attachment.data), filename=attachment.name))
        try:
            await interaction.followup.send(message, ephemeral=not public, files=files)
        except discord.HTTPException as err:
            log.warning("Discord: could not answer interaction %s: %s", interaction.id, err)
        channel_id = interaction.channel_id
        if channel_id in self._no_access:
            self._no_access.discard(channel_id)
            with _quiet():
                await interaction.followup.send(
                    NO_ACCESS[self.language_of(interaction)], ephemeral=True
                )

    async def _acknowledge(self, interaction: discord.Interaction, *, public: bool) -> bool:
        """Answer at once, before any work: the engine's call may wait behind rate-limited
        edits, and Discord refuses a first answer after 3 s (10062). A button gets a
        deferred update (type 6, nothing changes on screen), a command a loading message
        (type 5). False if Discord refused it: the press still counts, but nothing more is
        said to the user (the followups would be refused too)."""
        try:
            if interaction.type is discord.InteractionType.component:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=not public, thinking=True)
        except discord.HTTPException as err:
            log.warning("Discord: interaction %s could not be answered: %s", interaction.id, err)
            return False
        return True

    async def _guarded(
        self,
        interaction: discord.Interaction,
        name: str,
        work: Awaitable[Reply | None],
        *,
        public: bool = False,
    ) -> None:
        """Every interaction's one path: acknowledged first, then the work and its one
        error path (see commands.answer), then its outcome as a followup."""
        started = time.monotonic()
        acknowledged = await self._acknowledge(interaction, public=public)
        reply = await answer(work, self.language_of(interaction), f"Discord: {name}")
        if reply is not None and acknowledged:
            shown_to_all = public and reply.kind is not ReplyKind.ERROR
            if public and not shown_to_all:
                # The loading message is public (`/story start`): a refusal goes privately.
                await _deleted_original(interaction)
            await self.answer(
                interaction, reply.text, public=shown_to_all, attachment=reply.attachment
            )
        log.info(
            "Discord: %s in %s handled in %.2fs",
            name,
            interaction.channel_id,
            time.monotonic() - started,
        )

    async def on_start(
        self,
        interaction: discord.Interaction,
        premise: str,
        genre: str | None,
        language: str | None,
        rating: Rating | None = None,
        *,
        length: StoryLength | None = None,
        participation: Participation | None = None,
        files: tuple[discord.Attachment | None, discord.Attachment | None] = (None, None),
        style: str | None = None,
    ) -> None:
        async def work() -> Reply:
            chosen = Language(language) if language else self.language_of(interaction)
            self._engine.styles.chosen(style)  # an unknown style is refused before a thread
            # Fetched first: a bad file is refused before a thread is made for the story.
            card = await attachment_bytes(files[0], CARD_MAX_BYTES)
            lore = await attachment_bytes(files[1], LOREBOOK_MAX_BYTES)
            place = self._place(interaction)
            where = ""
            channel = interaction.channel
            defaults = await self._engine.guild_defaults(place)
            if defaults.threads and isinstance(channel, discord.TextChannel):
                # The thread is named after the premise: refuse a blocked one before, and
                # make none for a start the limits refuse.
                actor = self._actor(interaction)
                await self._engine.safety.check_typed(place, actor, premise)
                await self._engine.safety.limits.check_stories(place, actor)
                await self._engine.safety.limits.check(place, actor, LimitedAction.START)
                thread = await self._new_thread(
                    channel, place, premise or interaction.user.display_name
                )
                key = ChannelKey(Platform.DISCORD, str(channel.id), str(thread.id))
                place = Place(key, place.guild_id, True, age_restricted=place.age_restricted)
                where = " " + text(chosen, Msg.STORY_IN_THREAD, thread=thread.mention)
            actor = self._actor(interaction)
            if card is None and lore is None:
                started = await start_story(
                    self._engine,
                    place,
                    actor,
                    chosen,
                    premise,
                    genre,
                    rating=rating,
                    length=length,
                    participation=participation,
                    style=style,
                )
            else:
                started = await start_from_card(
                    self._engine,
                    place,
                    actor,
                    chosen,
                    card,
                    lore,
                    premise=premise,
                    genre=genre,
                    rating=rating,
                    length=length,
                    participation=participation,
                    style=style,
                )
            about = f": *{premise[:200]}*" if premise else ""
            starter = interaction.user.display_name
            return Reply(f"📖 **{starter}** — {started.text}{about}{where}", started.kind)

        await self._guarded(interaction, "/story start", work(), public=True)

    async def on_lorebook(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        async def work() -> Reply:
            data = await attachment_bytes(file, LOREBOOK_MAX_BYTES)
            assert data is not None
            actor = self._actor(interaction)
            language = self.language_of(interaction)
            place = self._place(interaction)
            return await attach_lorebook(self._engine, place, actor, language, data)

        await self._guarded(interaction, "/story lorebook", work())

    async def _new_thread(
        self, channel: discord.TextChannel, place: Place, title: str
    ) -> discord.Thread:
        """A public thread for a new story (one story per thread, like per channel)."""
        return await channel.create_thread(
            name=f"📖 {title[:90]}",
            type=discord.ChannelType.public_thread,
            auto_archive_duration=1440,
        )

    async def on_command(self, interaction: discord.Interaction, command: Command) -> None:
        work = perform(
            self._engine,
            command,
            self._place(interaction),
            self._actor(interaction),
            self.language_of(interaction),
            help_text=Msg.HELP_DISCORD,
            web_url=self._config.web_url,
        )
        await self._guarded(interaction, f"/story {command}", work)

    def workflow_choices(self, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in self._config.workflows if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    def style_choices(self, current: str) -> list[app_commands.Choice[str]]:
        """The picture styles a new story may start in, as the player types."""
        names = [n for n in self._engine.styles.names if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    def _check_workflow(self, workflow: str | None) -> None:
        if workflow is not None and workflow not in self._config.workflows:
            raise StoryActionError(
                Msg.UNKNOWN_WORKFLOW, choices=", ".join(self._config.workflows) or "-"
            )

    async def on_settings(
        self,
        interaction: discord.Interaction,
        vote_window: int | None,
        pictures: bool | None,
        workflow: str | None = None,
        rating: Rating | None = None,
        own_actions: bool | None = None,
        blocking: Blocking | None = None,
        *,
        participation: Participation | None = None,
        no_votes: NoVoteRule | None = None,
        illustrate: IllustrateMode | None = None,
    ) -> None:
        async def work() -> Reply:
            self._check_workflow(workflow)
            place, actor = self._place(interaction), self._actor(interaction)
            language = self.language_of(interaction)
            # The blocked words are the server's, so they need no story (and answer privately).
            lines = await blocklist_options(
                self._engine, place, actor, language, blocking or Blocking()
            )
            changes: StoryChanges = {
                "vote_window_seconds": float(vote_window) if vote_window else None,
                "pictures": pictures,
                "workflow": workflow,
                "rating": rating,
                "own_actions": own_actions,
                "participation": participation,
                "no_votes": no_votes,
                "illustrate": illustrate,
            }
            if lines and all(value is None for value in changes.values()):
                return Reply("\n".join(lines), ReplyKind.INFO)  # only the blocklist
            settings = await self._engine.configure(place, actor, **changes)
            lines.append(settings_text(language, settings))
            return Reply("\n".join(lines), ReplyKind.INFO)

        await self._guarded(interaction, "/story settings", work())

    async def on_defaults(
        self,
        interaction: discord.Interaction,
        vote_window: int | None,
        pictures: bool | None,
        workflow: str | None,
        threads: bool | None,
        rating: Rating | None = None,
    ) -> None:
        async def work() -> Reply:
            language = self.language_of(interaction)
            self._check_workflow(workflow)
            defaults = await self._engine.configure_guild(
                self._place(interaction),
                self._actor(interaction),
                vote_window_seconds=float(vote_window) if vote_window else None,
                pictures=pictures,
                workflow=workflow,
                threads=threads,
                rating=rating,
            )
            unset = text(language, Msg.DEFAULT_VALUE)

            def on_off(value: bool | None) -> str:
                return unset if value is None else text(language, Msg.ON if value else Msg.OFF)

            seconds = defaults.vote_window_seconds
            summary = text(
                language,
                Msg.DEFAULTS_TITLE,
                pictures=on_off(defaults.pictures),
                window=text(language, Msg.SECONDS_SHORT, window=int(seconds)) if seconds else unset,
                threads=on_off(defaults.threads),
                workflow=defaults.workflow or unset,
                rating=rating_name(language, defaults.rating) if defaults.rating else unset,
            )
            return Reply(summary, ReplyKind.INFO)

        await self._guarded(interaction, "/story defaults", work())

    async def on_button(self, interaction: discord.Interaction, button: Button | None) -> None:
        if button is not None and button.kind is ButtonKind.OWN_ACTION:
            await self._ask_action(interaction, button)
            return

        async def work() -> Reply:
            place, actor = self._place(interaction), self._actor(interaction)
            message = interaction.message
            retired = message is not None and self.retired(place.key, message.id)
            language = self.language_of(interaction)
            return await press(self._engine, button, place, actor, language, retired=retired)

        name = f"button {button.kind.name.lower()}" if button else "button"
        await self._guarded(interaction, name, work())

    async def _ask_action(self, interaction: discord.Interaction, button: Button) -> None:
        """An own-action button: the modal is the interaction's single answer (within 3 s,
        so nothing is deferred), or the refusal privately."""
        place, actor = self._place(interaction), self._actor(interaction)
        language = self.language_of(interaction)
        message = interaction.message
        retired = message is not None and self.retired(place.key, message.id)
        try:
            try:
                part = await may_type(self._engine, button, place, actor, retired=retired)
            except StoryActionError as err:
                refusal = text(language, err.code, **err.params)
                await interaction.response.send_message(refusal, ephemeral=True)
                return
            except Exception:  # the one error path's answer, as commands.answer gives it
                log.exception("Discord: own-action button failed")
                failed = text(language, Msg.INTERNAL_ERROR)
                await interaction.response.send_message(failed, ephemeral=True)
                return
            await interaction.response.send_modal(action_modal(language, part, PREFIX))
        except discord.HTTPException as err:
            log.warning("Discord: interaction %s could not be answered: %s", interaction.id, err)
        log.info("Discord: own-action button in %s answered", interaction.channel_id)

    async def on_own_action(self, interaction: discord.Interaction) -> None:
        """A submitted modal: the own action's text for the part its custom_id names."""
        part, typed = submitted(interaction.data, PREFIX)
        place, actor = self._place(interaction), self._actor(interaction)
        language = self.language_of(interaction)
        work = submit(self._engine, place, actor, language, part, typed)
        await self._guarded(interaction, "own action", work)

    # From the engine to Discord: the Screen hooks

    def edit_interval(self, card: StoryCard) -> float:
        return self._config.edit_interval

    def fault(self, error: Exception) -> Fault | None:
        if isinstance(error, discord.Forbidden) or (
            isinstance(error, discord.NotFound) and error.code == UNKNOWN_CHANNEL
        ):
            return Fault.NO_ACCESS
        if isinstance(error, discord.NotFound) or (
            isinstance(error, discord.HTTPException) and error.code == TOO_MANY_OLD_EDITS
        ):
            return Fault.GONE
        if isinstance(error, discord.RateLimited) or (
            isinstance(error, discord.HTTPException) and error.status == 429
        ):
            return Fault.RATE_LIMITED  # discord.py waited out its retries: hold the channel
        return Fault.FAILED if isinstance(error, discord.HTTPException) else None

    def retry_after(self, error: Exception) -> float:
        if isinstance(error, discord.RateLimited):
            return error.retry_after
        response = getattr(error, "response", None)
        header = response.headers.get("Retry-After") if response is not None else None
        try:
            return float(header) if header else self._config.edit_interval
        except ValueError:
            return self._config.edit_interval

    def lost_access(self, key: ChannelKey) -> None:
        self._no_access.add(_channel_id(key))

    async def post(self, key: ChannelKey, message: str) -> None:
        await self._channel(_channel_id(key)).send(message)

    def _channel(self, channel_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id)

    def layout(self, shown: Shown) -> list[Piece]:
        card = shown.card
        status = "\n".join(card.status_lines(_vote_deadline))
        limit = DESCRIPTION_LIMIT - STATUS_ROOM
        pieces = narration_pieces(card.narration, status, limit, len(shown.messages))
        colour = discord.Colour.blurple() if card.is_open else discord.Colour.dark_grey()
        embeds = [discord.Embed(description=piece, colour=colour) for piece in pieces]
        embeds[0].title = f"{card.index + 1}"
        # An embed cannot hide its picture: a spoiler shows as the message's blurred file.
        if card.picture_path and not card.picture_spoiler:
            # The name the file is uploaded under (a shrunk picture is sent as .jpg).
            embeds[-1].set_image(url=f"attachment://{self._upload_name(shown)}")
        view = self._view(card)
        return [(embed, view if embed is embeds[-1] else None) for embed in embeds]

    def _view(self, card: StoryCard) -> discord.ui.View | None:
        view = discord.ui.View(timeout=None)
        for button in card_buttons(card, LABEL_LIMIT, reroll=True):
            view.add_item(StoryButton(button))
        return view if view.children else None

    def fingerprint(self, piece: Piece) -> str:
        embed, view = piece
        components = [c.to_component_dict() for c in view.children] if view else ""
        return json.dumps(embed.to_dict(), sort_keys=True) + str(components)

    async def send(self, shown: Shown, piece: Piece, *, last: bool) -> int:
        return await self._send(shown, piece, await self._new_picture(shown) if last else [])

    async def repost(self, shown: Shown, number: int, piece: Piece, *, last: bool) -> int:
        """The message again, with its picture if it has one (a new upload: the old
        message's attachment goes with it)."""
        path = shown.card.picture_path
        files = [await self._picture_file(shown)] if last and path else []
        return await self._send(shown, piece, files)

    async def _send(self, shown: Shown, piece: Piece, files: list[discord.File]) -> int:
        embed, view = piece
        message = await self._channel(_channel_id(shown.key)).send(
            embed=embed, view=view or discord.utils.MISSING, files=files or discord.utils.MISSING
        )
        return message.id

    async def edit(self, shown: Shown, number: int, piece: Piece, *, last: bool) -> None:
        """Edit with the bot token (interaction tokens expire after 15 minutes)."""
        embed, view = piece
        # A File is consumed by the request that sends it: built afresh for every attempt.
        files = await self._new_picture(shown) if last else []
        message = self._channel(_channel_id(shown.key)).get_partial_message(shown.messages[number])
        if files:
            await message.edit(embed=embed, view=view, attachments=files)
        else:
            await message.edit(embed=embed, view=view)

    async def strip(self, key: ChannelKey, message_id: int) -> None:
        message = self._channel(_channel_id(key)).get_partial_message(message_id)
        await message.edit(view=None)

    async def _new_picture(self, shown: Shown) -> list[discord.File]:
        """The card's picture as an upload if it is not on screen yet."""
        path = shown.card.picture_path
        return [await self._picture_file(shown)] if path and path != shown.picture_shown else []

    def _upload_limit(self, shown: Shown) -> int:
        if self._config.upload_limit is not None:
            return self._config.upload_limit
        channel = self.client.get_channel(_channel_id(shown.key))
        guild = getattr(channel, "guild", None)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    def _upload_name(self, shown: Shown) -> str:
        """The picture's file name in the upload: .jpg when it must be shrunk to fit."""
        path = Path(shown.card.picture_path)
        try:
            too_big = path.stat().st_size > self._upload_limit(shown)
        except OSError:
            too_big = False  # reading it will fail too, and say why
        name = path.with_suffix(".jpg").name if too_big else path.name
        # Discord blurs a file whose name starts with SPOILER_ until it is clicked.
        return f"SPOILER_{name}" if shown.card.picture_spoiler else name

    async def _picture_file(self, shown: Shown) -> discord.File:
        """A new upload of the picture, re-encoded smaller if over the guild's limit,
        named as the embed refers to it."""
        path = Path(shown.card.picture_path)
        data = await asyncio.to_thread(path.read_bytes)
        limit = self._upload_limit(shown)
        if len(data) > limit:
            data = await asyncio.to_thread(shrink, data, limit)
            log.info(
                "Discord: picture %s re-encoded to %d bytes for the %d-byte limit",
                path,
                len(data),
                limit,
            )
        return discord.File(io.BytesIO(data), filename=self._upload_name(shown))


def _channel_id(key: ChannelKey) -> int:
    return int(key.thread_id or key.channel_id)


def _report_end(task: asyncio.Task[None]) -> None:
    """The gateway connection ended for good (e.g. disallowed intents): say so once."""
    if not task.cancelled() and task.exception() is not None:
        log.error("Discord: the connection ended: %s", task.exception())


def shrink(data: bytes, limit: int) -> bytes:
    """Re-encode a picture as JPEG, smaller and smaller, until it fits `limit` bytes."""
    with Image.open(io.BytesIO(data)) as original:
        picture = original.convert("RGB")
    quality, scale = 90, 1.0
    while True:
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        buffer = io.BytesIO()
        picture.resize(size).save(buffer, "JPEG", quality=quality, optimize=True)
        # Past a tenth of the size it cannot get usefully smaller: send what it is.
        if buffer.tell() <= limit or scale < 0.1:
            return buffer.getvalue()
        if quality > 60:
            quality -= 10
        else:
            scale *= 0.75


async def _deleted_original(interaction: discord.Interaction) -> None:
    """Remove the public loading message of a deferred command (best effort)."""
    with _quiet():
        await interaction.delete_original_response()


class _quiet:
    """Suppress Discord HTTP errors for best-effort extras."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, trace: object) -> bool:
        return isinstance(error, discord.HTTPException)


def _vote_deadline(language: Language, closes_at: float) -> str:
    """Discord writes the time in each reader's own zone and counts down itself."""
    stamp = int(closes_at)
    return text(language, Msg.VOTE_OPEN, closes=f"<t:{stamp}:T> (<t:{stamp}:R>)")
