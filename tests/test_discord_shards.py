"""Discord sharding: two bots (as two processes would) run different shards of one
application with discord.py's AutoShardedClient against the fake Discord, which routes
each guild's events to shard (guild_id >> 22) % shard_count as Discord does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl

from adapters.discord_bot import DiscordAdapter, DiscordConfig
from storycraft_bot.core.models import Language, Platform
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.storage.sqlite import Store
from tests.conftest import CoreFactory
from tests.fake_discord import GUILD_ID, TOKEN, FakeDiscord, Member

ALICE = Member(501, "Alice")
SHARD_0_CHANNEL = 2000  # in GUILD_ID: (1000 >> 22) % 2 == 0
SHARD_1_GUILD = 1 << 22  # (guild >> 22) % 2 == 1
SHARD_1_CHANNEL = 3000


@pytest.fixture
async def dc(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    server.add_guild(SHARD_1_GUILD, SHARD_1_CHANNEL)
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
    )
    yield server
    await server.stop()


ShardFactory = Callable[..., Awaitable[DiscordAdapter]]


@pytest.fixture
async def start_shards(
    dc: FakeDiscord, make_core: CoreFactory, store: Store, tmp_path: Path
) -> AsyncIterator[ShardFactory]:
    """A bot running `shard_ids` of `shard_count`, its own engine on the shared store."""
    adapters: list[DiscordAdapter] = []

    async def start(shard_count: int | None, shard_ids: tuple[int, ...] | None) -> DiscordAdapter:
        core = make_core()
        config = DiscordConfig(
            token=TOKEN,
            data_dir=tmp_path,
            edit_interval=0.05,
            language=Language.EN,
            guild_ready_timeout=0.1,
            shard_count=shard_count,
            shard_ids=shard_ids,
        )
        adapter = DiscordAdapter(core.engine, StoredScreens(store), config)
        core.router.register(Platform.DISCORD, adapter)
        await adapter.start()
        adapters.append(adapter)
        async with asyncio.timeout(10):
            await adapter.wait_ready()
        await core.engine.resume()
        return adapter

    yield start
    for adapter in adapters:
        await adapter.stop()


def guilds(adapter: DiscordAdapter) -> set[int]:
    return {guild.id for guild in adapter.client.guilds}


def story_in(dc: FakeDiscord, channel_id: int, premise: str) -> dict[str, Any] | None:
    """The channel's first part once written (with its choices), told from `premise`."""
    return next(
        (
            m
            for m in dc.story_messages(channel_id)
            if premise in (m["embeds"][0].get("description") or "") and m.get("components")
        ),
        None,
    )


async def test_two_shard_sets_each_receive_only_their_guilds(
    start_shards: ShardFactory, dc: FakeDiscord
) -> None:
    first = await start_shards(2, (0,))
    second = await start_shards(2, (1,))

    assert dc.identified == [(0, 2), (1, 2)]  # each IDENTIFY carried its [shard, count]
    for adapter in (first, second):
        assert isinstance(adapter.client, discord.AutoShardedClient)
        assert adapter.client.shard_count == 2
        assert adapter.connected
    assert guilds(first) == {GUILD_ID}
    assert guilds(second) == {SHARD_1_GUILD}

    # A story in each guild: each is played by the process whose shard owns the guild.
    told = {SHARD_1_CHANNEL: "A storm on shard one", SHARD_0_CHANNEL: "A calm on shard zero"}
    for channel, premise in told.items():
        dc.slash(ALICE, channel, "start", premise=premise)
    for channel, premise in told.items():
        await dc.wait_until(lambda c=channel, p=premise: story_in(dc, c, p))
    interactions = [
        (shard, guild) for shard, event, guild in dc.delivered if event == "INTERACTION_CREATE"
    ]
    assert sorted(interactions) == [((0, 2), str(GUILD_ID)), ((1, 2), str(SHARD_1_GUILD))]
    assert dc.errors == []  # each interaction answered once, in time


async def test_without_shard_count_one_plain_connection(
    start_shards: ShardFactory, dc: FakeDiscord
) -> None:
    plain = await start_shards(None, None)
    assert not isinstance(plain.client, discord.AutoShardedClient)
    assert dc.identified == [None]
    assert guilds(plain) == {GUILD_ID, SHARD_1_GUILD}
