"""Safety on Telegram (issue 15) through the fake Bot API: blocked words managed by chat
administrators with /settings, refusals that a group sees only as a note deleting itself,
cooldowns that say when, and the chat's default rating set without a story."""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import ChannelKey, Platform, Rating
from storycraft_bot.storage.sqlite import Store
from tests import test_telegram
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import BOT, FakeTelegram
from tests.fakes import FakeClock
from tests.injection import INJECTION, assert_quoted_for_the_model
from tests.test_telegram import (
    ALICE_ID,
    BOB_ID,
    CAROL_ID,
    BotFactory,
    answer_of,
    keyboard,
    wait_story,
)

make_bot = test_telegram.make_bot  # the Telegram tests' bot on the fake Bot API

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."


def bot_text(tg: FakeTelegram, chat_id: int, start: str) -> dict[str, Any] | None:
    """The newest bot message whose text starts with `start`."""
    found = [m for m in tg.bot_messages(chat_id) if m.get("text", "").startswith(start)]
    return found[-1] if found else None


async def gone(tg: FakeTelegram, chat_id: int, message: dict[str, Any]) -> None:
    await tg.wait_until(lambda: (chat_id, message["message_id"]) not in tg.messages)


async def test_chat_administrators_manage_blocked_words_in_notes_that_delete_themselves(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    await make_bot(clock=clock)
    carol, bob = tg.user(CAROL_ID, "Carol"), tg.user(BOB_ID, "Bob")
    group = tg.group_chat(-1101)
    tg.admins[group["id"]] = {CAROL_ID}
    tg.bot_admin_in.add(group["id"])

    command = tg.send_text(group, carol, "/settings block Дракон")
    note = await tg.wait_until(lambda: bot_text(tg, group["id"], "Blocked: дракон"))
    await gone(tg, group["id"], command)  # the command named the word: deleted at once
    assert (group["id"], note["message_id"]) in tg.messages
    await clock.advance(15)
    await gone(tg, group["id"], note)

    tg.send_text(group, bob, "/settings block other")
    refused = await tg.wait_until(lambda: bot_text(tg, group["id"], "Only administrators"))
    tg.send_text(group, carol, "/settings block /(a+)+/")
    await tg.wait_until(lambda: bot_text(tg, group["id"], "The regular expression is too"))
    tg.send_text(group, carol, "/settings block /(a/")
    await tg.wait_until(lambda: bot_text(tg, group["id"], "This is not a valid regular"))
    tg.send_text(group, carol, "/settings blocked")
    listed = await tg.wait_until(lambda: bot_text(tg, group["id"], "Blocked words and"))
    assert listed["text"].endswith("\n• дракон")
    tg.send_text(group, carol, "/settings unblock ДРАКОН")
    await tg.wait_until(lambda: bot_text(tg, group["id"], "No longer blocked: дракон"))
    await clock.advance(15)
    await gone(tg, group["id"], refused)
    await gone(tg, group["id"], listed)


async def test_a_blocked_premise_in_a_group_is_refused_in_a_passing_note(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock, store: Store
) -> None:
    await make_bot(clock=clock)
    alice, carol = tg.user(ALICE_ID, "Alice"), tg.user(CAROL_ID, "Carol")
    group = tg.group_chat(-1102)
    tg.admins[group["id"]] = {CAROL_ID}
    tg.send_text(group, carol, "/settings block dragon")
    await tg.wait_until(lambda: bot_text(tg, group["id"], "Blocked: dragon"))

    premise = tg.send_text(group, alice, "/story A red DRAGON wakes")
    note = await tg.wait_until(lambda: bot_text(tg, group["id"], BLOCKED))
    assert "dragon" not in note["text"].lower()
    assert note["reply_to_message_id"] == premise["message_id"]
    # The bot is no administrator here: the premise stays (Telegram refused to delete it).
    assert ("deleteMessage", "Bad Request: message can't be deleted") in tg.errors
    assert await store.live_session(_key(group["id"])) is None
    await clock.advance(14)
    assert (group["id"], note["message_id"]) in tg.messages
    await clock.advance(1)
    await gone(tg, group["id"], note)
    assert note["from"]["id"] == BOT["id"]


async def test_a_blocked_premise_in_a_private_chat_is_a_plain_reply(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    await make_bot(clock=clock)
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/settings block dragon")  # her own chat: she is its admin
    await tg.wait_until(lambda: bot_text(tg, chat["id"], "Blocked: dragon"))
    tg.send_text(chat, alice, "/story the dragon")
    reply = await tg.wait_until(lambda: bot_text(tg, chat["id"], BLOCKED))
    await clock.advance(60)
    assert (chat["id"], reply["message_id"]) in tg.messages  # a private reply stays


async def test_a_start_cooldown_says_when_and_lets_through_later(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock, store: Store
) -> None:
    await make_bot(limits=AbuseLimits(start_cooldown_seconds=100))
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story")
    await wait_story(tg, chat["id"], 1)
    tg.send_text(chat, alice, "/stop")
    await tg.wait_until(
        lambda: any("Thanks for playing" in m.get("text", "") for m in tg.bot_messages(chat["id"]))
    )
    await clock.advance(40)
    tg.send_text(chat, alice, "/story")
    await tg.wait_until(
        lambda: bot_text(tg, chat["id"], "You can start a new story in 60 seconds.")
    )
    await clock.advance(60)
    tg.send_text(chat, alice, "/story")
    await wait_story(tg, chat["id"], 2)  # the fake model numbers its replies
    assert await store.live_session(_key(chat["id"])) is not None


async def test_an_administrator_sets_the_chat_rating_without_a_story(
    make_bot: BotFactory, tg: FakeTelegram, store: Store
) -> None:
    await make_bot()
    alice, carol = tg.user(ALICE_ID, "Alice"), tg.user(CAROL_ID, "Carol")
    group = tg.group_chat(-1103)
    tg.admins[group["id"]] = {CAROL_ID}
    tg.send_text(group, carol, "/settings")
    panel = await tg.wait_until(lambda: bot_text(tg, group["id"], "No story is running"))
    assert "Rating of new stories in this chat: safe." in panel["text"]
    assert [data for _, data in keyboard(panel)] == ["s:r:0", "s:r:1", "s:r:2"]

    refused = await answer_of(tg, tg.press(group, alice, panel["message_id"], "s:r:2"))
    assert refused == "Only the person who started the story or a moderator can do that."
    assert await answer_of(tg, tg.press(group, carol, panel["message_id"], "s:r:1")) == "Saved."
    defaults = await store.guild_defaults(Platform.TELEGRAM, f"tg:{group['id']}")
    assert defaults.rating is Rating.TEEN

    tg.send_text(group, alice, "/story")
    await wait_story(tg, group["id"], 1)
    session = await store.live_session(_key(group["id"]))
    assert session is not None
    assert session.settings.rating is Rating.TEEN


def _key(chat_id: int) -> ChannelKey:
    return ChannelKey(Platform.TELEGRAM, str(chat_id))


async def test_a_note_a_restart_interrupted_is_deleted_after_it(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    before = await make_bot(clock=clock)
    bob = tg.user(BOB_ID, "Bob")
    group = tg.group_chat(-1104)
    tg.send_text(group, bob, "/settings blocked")  # not an administrator: a passing note
    note = await tg.wait_until(lambda: bot_text(tg, group["id"], "Only administrators"))
    await before.adapter.stop()  # the process ends before the note's time

    await make_bot(clock=clock)
    await clock.advance(14)
    assert (group["id"], note["message_id"]) in tg.messages
    await clock.advance(1)
    await gone(tg, group["id"], note)


async def test_an_over_long_premise_is_refused_with_its_length_in_a_passing_note(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock, store: Store
) -> None:
    await make_bot(clock=clock)
    alice = tg.user(ALICE_ID, "Alice")
    group = tg.group_chat(-1105)
    tg.send_text(group, alice, "/story " + "x" * 1001)
    refusal = (
        "The premise is too long: 1001 characters, at most 1000 fit. Shorten it and start again."
    )
    note = await tg.wait_until(lambda: bot_text(tg, group["id"], refusal))
    assert await store.live_session(_key(group["id"])) is None
    await clock.wait_for_sleepers(1)  # its deletion is due
    await clock.advance(15)
    await gone(tg, group["id"], note)

    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story " + "x" * 1001)
    await tg.wait_until(lambda: bot_text(tg, chat["id"], refusal))  # a plain reply in private
    assert await store.live_session(_key(chat["id"])) is None


async def test_an_injected_premise_is_quoted_for_the_model_and_the_part_keeps_its_form(
    make_bot: BotFactory, tg: FakeTelegram, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story " + INJECTION)
    message = await wait_story(tg, chat["id"], 1)  # "Part 1." with its choices
    assert_quoted_for_the_model(fake_ollama)
    assert [label for label, _ in keyboard(message)][:3] == ["Path 1.1", "Path 1.2", "Path 1.3"]


async def test_a_restart_keeps_the_chats_mature_default(
    make_bot: BotFactory, tg: FakeTelegram, store: Store
) -> None:
    before = await make_bot()
    alice, carol = tg.user(ALICE_ID, "Alice"), tg.user(CAROL_ID, "Carol")
    group = tg.group_chat(-1106)
    tg.admins[group["id"]] = {CAROL_ID}
    tg.send_text(group, carol, "/settings")
    panel = await tg.wait_until(lambda: bot_text(tg, group["id"], "No story is running"))
    assert await answer_of(tg, tg.press(group, carol, panel["message_id"], "s:r:2")) == "Saved."
    await before.engine.shutdown()
    await before.adapter.stop()

    await make_bot()
    tg.send_text(group, alice, "/story")  # no administrator needed for the chat's default
    await wait_story(tg, group["id"], 1)
    tg.send_text(group, alice, "/status")
    await tg.wait_until(
        lambda: any(
            m.get("text", "").endswith("Rating: mature.") for m in tg.bot_messages(group["id"])
        )
    )
    session = await store.live_session(_key(group["id"]))
    assert session is not None
    assert session.settings.rating is Rating.MATURE
