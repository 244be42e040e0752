"""Safety on Discord (issue 15) through the fake Discord: blocked words managed from
/story settings by moderators and server managers, private refusals that never name the
word, cooldowns that say when, and a cap on rewrites per part."""

from __future__ import annotations

from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import ChannelKey, Platform, Rating
from storycraft_bot.storage.sqlite import Store
from tests import test_discord
from tests.fake_discord import FakeDiscord
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock
from tests.injection import INJECTION, assert_quoted_for_the_model
from tests.test_discord import (
    ALICE,
    MOD,
    OWNER,
    STORIES,
    BotFactory,
    buttons,
    is_ephemeral,
    reply_to,
    story,
)

dc = test_discord.dc  # the Discord tests' fake server and bot
make_bot = test_discord.make_bot

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."
CHANNEL = ChannelKey(Platform.DISCORD, str(STORIES))


async def test_moderators_manage_blocked_words_privately_and_members_cannot(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot()
    refused = dc.slash(ALICE, STORIES, "settings", block="dragon")
    assert await reply_to(dc, refused) == "Only administrators can manage blocked words."
    assert is_ephemeral(dc, refused)

    added = dc.slash(MOD, STORIES, "settings", block="Red  Dragon")
    assert await reply_to(dc, added) == "Blocked: red dragon"
    assert is_ephemeral(dc, added)
    await clock.advance(1)  # listed oldest first
    bad = dc.slash(OWNER, STORIES, "settings", block="/(a/")
    assert (await reply_to(dc, bad)).startswith(
        "This is not a valid regular expression: missing ), unterminated subpattern"
    )
    risky = dc.slash(OWNER, STORIES, "settings", block="/(x+)+y/")
    assert (await reply_to(dc, risky)).startswith("The regular expression is too complex")
    both = dc.slash(OWNER, STORIES, "settings", block="/b[a4]d/", blocked=True)
    assert await reply_to(dc, both) == (
        "Blocked: /b[a4]d/\nBlocked words and patterns:\n• red dragon\n• /b[a4]d/"
    )
    removed = dc.slash(MOD, STORIES, "settings", unblock="red dragon")
    assert await reply_to(dc, removed) == "No longer blocked: red dragon"
    listed = dc.slash(MOD, STORIES, "settings", blocked=True)
    assert await reply_to(dc, listed) == "Blocked words and patterns:\n• /b[a4]d/"
    assert dc.errors == []


async def test_a_blocked_premise_is_refused_privately_without_the_word_or_a_thread(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    await reply_to(dc, dc.slash(MOD, STORIES, "settings", block="dragon"))
    await reply_to(dc, dc.slash(OWNER, STORIES, "defaults", threads=True))
    channels = len(dc.channels)
    refused = dc.slash(ALICE, STORIES, "start", premise="The DRAGON of the north")
    assert await reply_to(dc, refused) == BLOCKED
    assert is_ephemeral(dc, refused)
    assert len(dc.channels) == channels  # no thread named after the premise
    assert await store.live_session(CHANNEL) is None
    assert all("dragon" not in m.get("content", "").lower() for m in dc.messages.values())

    dc.slash(ALICE, STORIES, "start", premise="The wyvern of the north")
    await dc.wait_until(lambda: len(dc.channels) > channels)
    assert dc.errors == []


async def test_a_start_cooldown_and_a_rewrite_cap_say_when_to_try_again(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot(limits=AbuseLimits(start_cooldown_seconds=300, retries_per_part=1))
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 1))
    await reply_to(dc, dc.slash(ALICE, STORIES, "retry"))
    await dc.wait_until(lambda: story(dc, 2))  # the fake model numbers its replies
    capped = dc.slash(ALICE, STORIES, "retry")
    assert await reply_to(dc, capped) == (
        "This part has been rewritten once already. The next part can be rewritten again."
    )
    assert is_ephemeral(dc, capped)
    await reply_to(dc, dc.slash(ALICE, STORIES, "stop"))

    await clock.advance(200)
    early = dc.slash(ALICE, STORIES, "start")
    assert (
        await reply_to(dc, early) == "You can start a new story in 2 minutes."
    )  # 100 s, rounded up
    assert is_ephemeral(dc, early)
    await clock.advance(100)
    dc.slash(ALICE, STORIES, "start")
    await dc.wait_until(lambda: story(dc, 3))
    assert dc.errors == []


async def test_a_start_the_limits_refuse_opens_no_thread(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    await make_bot(limits=AbuseLimits(start_cooldown_seconds=60, stories_per_user=1))
    await reply_to(dc, dc.slash(OWNER, STORIES, "defaults", threads=True))
    started = dc.slash(ALICE, STORIES, "start", premise="The lost key")
    first = await reply_to(dc, started)  # the story is stored: its thread is made
    assert first.startswith("📖 **Alice**")
    channels = len(dc.channels)
    capped = dc.slash(ALICE, STORIES, "start", premise="Another key")
    assert (await reply_to(dc, capped)).startswith("You are running 1 story at once already.")
    threads = [c for c in dc.channels.values() if c["type"] == 11]
    await reply_to(dc, dc.slash(ALICE, int(threads[0]["id"]), "stop"))
    early = dc.slash(ALICE, STORIES, "start", premise="Another key")
    assert await reply_to(dc, early) == "You can start a new story in 60 seconds."
    assert len(dc.channels) == channels  # no thread for either refusal
    await clock.advance(60)
    dc.slash(ALICE, STORIES, "start", premise="Another key")
    await dc.wait_until(lambda: len(dc.channels) > channels)
    assert dc.errors == []


async def test_an_injected_premise_is_quoted_for_the_model_and_the_part_keeps_its_form(
    make_bot: BotFactory, dc: FakeDiscord, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start", premise=INJECTION)
    message = await dc.wait_until(lambda: story(dc, 1))  # "Part 1." with its choices
    assert_quoted_for_the_model(fake_ollama)
    assert [label for label, _ in buttons(message)][:3] == ["Path 1.1", "Path 1.2", "Path 1.3"]
    assert dc.errors == []


async def test_a_restart_keeps_the_mature_rating_of_an_age_restricted_story(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    general = 2001
    dc.channels[general]["nsfw"] = True
    before = await make_bot()
    dc.slash(ALICE, general, "start", premise="A dark tale", rating="mature")
    await dc.wait_until(lambda: story(dc, 1, channel=general))
    await before.engine.shutdown()
    await before.adapter.stop()

    await make_bot()
    status = dc.slash(ALICE, general, "status")
    assert (await reply_to(dc, status)).endswith("Rating: mature.")
    session = await store.live_session(ChannelKey(Platform.DISCORD, str(general)))
    assert session is not None
    assert session.settings.rating is Rating.MATURE
    assert dc.errors == []


async def test_a_blocked_word_and_another_setting_in_one_command_both_take(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    dc.slash(ALICE, STORIES, "start", premise="A quiet harbour")
    await dc.wait_until(lambda: story(dc, 1))

    both = dc.slash(MOD, STORIES, "settings", block="kraken", mode="anyone")
    reply = await reply_to(dc, both)

    assert reply.startswith("Blocked: kraken\n")
    session = await store.live_session(CHANNEL)
    assert session is not None
    assert session.settings.participation.value == "anyone"  # not dropped beside the block
