"""Discord: /story start with a character card and a lorebook attached (options of type
ATTACHMENT, fetched from the fake's CDN), /story lorebook, and bad files refused
privately, through the real discord.py against the fake Discord."""

from __future__ import annotations

import json

from storycraft_bot.core.models import ChannelKey, Platform
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json, card_png, world_info
from tests.fake_discord import FakeDiscord, Upload
from tests.fake_ollama import FakeOllama
from tests.test_discord import (
    ALICE,
    BOB,
    STORIES,
    BotFactory,
    dc,
    is_ephemeral,
    make_bot,
    reply_to,
    story,
)

__all__ = ["dc", "make_bot"]  # the fixtures, shared with the Discord tests

KEY = ChannelKey(Platform.DISCORD, str(STORIES))
LORE = world_info(
    {"key": ["crossroads"], "content": "The drowned walk at crossroads."},
    {"key": [], "content": "Salt rain falls every evening.", "constant": True},
)


async def test_a_story_starts_from_an_attached_card_and_lorebook(
    make_bot: BotFactory, dc: FakeDiscord, store: Store, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    png = Upload("mira.png", card_png(card_json()), "image/png")
    started = dc.slash(ALICE, STORIES, "start", card=png, lorebook=Upload("w.json", LORE))
    assert (await reply_to(dc, started)).startswith("📖 **Alice** — ")
    assert not is_ephemeral(dc, started)
    await dc.wait_until(lambda: story(dc, 1))
    assert dc.answered_within(started) is not None
    assert len(dc.cdn_fetches) == 2
    session = await store.latest_session(KEY)
    assert session is not None
    assert session.premise.startswith("Mira finds a message in a bottle")
    card = await store.story_card(session.id)
    assert card is not None
    assert card.personality == "Curious, stubborn, kind to Alice."
    system = fake_ollama.chat_requests("segment")[0]["messages"][0]["content"]
    assert "The main character is <<<Mira>>>" in system
    assert "<<<Salt rain falls every evening.>>>" in system
    assert [e.content for e in await store.lore(session.id)] == [
        "The drowned walk at crossroads.",
        "Salt rain falls every evening.",
    ]


async def test_a_lorebook_is_attached_to_the_live_story_by_its_starter(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    await reply_to(dc, dc.slash(ALICE, STORIES, "start", premise="A storm"))
    await dc.wait_until(lambda: story(dc, 1))
    refused = dc.slash(BOB, STORIES, "lorebook", file=Upload("w.json", LORE))
    assert await reply_to(dc, refused) == (
        "Only the person who started the story or a moderator can do that."
    )
    assert is_ephemeral(dc, refused)
    attached = dc.slash(ALICE, STORIES, "lorebook", file=Upload("w.json", LORE))
    assert await reply_to(dc, attached) == "Lorebook attached to the story: 2 entries."
    session = await store.latest_session(KEY)
    assert session is not None
    assert len(await store.lore(session.id)) == 2


async def test_bad_files_are_refused_privately_and_start_nothing(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    script = json.dumps(card_json(first_mes="<script>x</script>")).encode()
    cases = [
        (Upload("c.json", script), "The field data.first_mes holds a script or active HTML"),
        (Upload("c.png", b"\x89PNG\r\n\x1a\n"), "The card in the file is damaged: PNG end"),
        (Upload("c.png", b"{}", size=9 * 1024 * 1024), "The file is too large: 9216 KB"),
    ]
    for upload, reason in cases:
        interaction = dc.slash(ALICE, STORIES, "start", card=upload)
        assert reason in await reply_to(dc, interaction)
        assert is_ephemeral(dc, interaction)
    assert len(dc.cdn_fetches) == 2  # the one stating 9 MB was never fetched
    assert await store.latest_session(KEY) is None
