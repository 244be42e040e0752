"""The core's rules on a player's own action, on Telegram through the fake Bot API (issue
15): a reply naming a blocked word is refused in a group by a note that deletes itself on
the clock (the action deleted too, the word never repeated); the own-action cooldown
says when; a restart keeps the chat's blocked words and the cooldown."""

from __future__ import annotations

from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.storage.sqlite import Store
from tests import test_telegram
from tests.fake_telegram import BOT, FakeTelegram
from tests.fakes import FakeClock, ticking
from tests.test_telegram import (
    ALICE_ID,
    BOB_ID,
    CAROL_ID,
    BotFactory,
    answer_of,
    keyboard,
    story_message,
    wait_story,
)
from tests.test_telegram_own_actions import ask, replies_to

make_bot = test_telegram.make_bot  # the Telegram tests' bot on the fake Bot API

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."


def shown_anywhere(tg: FakeTelegram, chat_id: int, word: str) -> bool:
    """Whether a message of the bot's in the chat (text or buttons) holds `word`."""
    for m in tg.bot_messages(chat_id):
        shown = [m.get("text", ""), m.get("caption", "")] + [label for label, _ in keyboard(m)]
        if any(word in s.casefold() for s in shown):
            return True
    return False


async def test_a_blocked_word_in_a_groups_own_action_is_a_passing_note(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock, store: Store
) -> None:
    await make_bot(clock=clock)
    alice, bob, carol = (
        tg.user(ALICE_ID, "Alice"),
        tg.user(BOB_ID, "Bob"),
        tg.user(CAROL_ID, "Carol"),
    )
    group = tg.group_chat(-1201)
    tg.admins[group["id"]] = {CAROL_ID}
    tg.bot_admin_in.add(group["id"])  # so it may delete the member's reply
    tg.send_text(group, carol, "/settings block dragon")
    added = await tg.wait_until(
        lambda: next((m for m in tg.bot_messages(group["id"]) if "dragon" in m["text"]), None)
    )
    await clock.wait_for_sleepers(1)  # its deletion is due
    await clock.advance(15)  # the administrator's note, naming the word, goes too
    await tg.wait_until(lambda: (group["id"], added["message_id"]) not in tg.messages)
    tg.send_text(group, alice, "/story")
    async with ticking(clock):
        mid = (await wait_story(tg, group["id"], 1))["message_id"]
    prompt = await ask(tg, group, bob, mid)

    typed = tg.reply(group, bob, prompt["message_id"], "I wake the DRAGON")
    await tg.wait_until(lambda: replies_to(tg, typed))
    assert replies_to(tg, typed) == [BLOCKED]
    note = next(m for m in tg.bot_messages(group["id"]) if m.get("text") == BLOCKED)
    assert note["from"]["id"] == BOT["id"]
    # The reply that named the word is deleted; the word is nowhere in the chat.
    await tg.wait_until(lambda: (group["id"], typed["message_id"]) not in tg.messages)
    assert not shown_anywhere(tg, group["id"], "dragon")
    stored = await store.get_segment(1)
    assert stored is not None
    assert (len(stored.choices), stored.own_actions) == (3, ())
    await clock.advance(14)
    assert (group["id"], note["message_id"]) in tg.messages
    await clock.advance(1)  # the note was for a while only
    await tg.wait_until(lambda: (group["id"], note["message_id"]) not in tg.messages)

    # The refused prompt may be answered again, with a clean action.
    tg.reply(group, bob, prompt["message_id"], "I wake the wyvern")
    async with ticking(clock):
        await tg.wait_until(
            lambda: (
                ("✍️ Bob: I wake the wyvern", "c:1:3") in keyboard(tg.messages[(group["id"], mid)])
            )
        )
    assert not [e for e in tg.errors if e[0] != "getUpdates"]


async def test_the_own_action_cooldown_says_when_and_a_restart_keeps_it_and_the_words(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock, store: Store
) -> None:
    limits = AbuseLimits(own_action_cooldown_seconds=100)
    before = await make_bot(limits=limits)
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/settings block dragon")  # her own chat: she is its admin
    tg.send_text(chat, alice, "/story")
    first = await wait_story(tg, chat["id"], 1)
    await ask(tg, chat, alice, first["message_id"])
    tg.send_text(chat, alice, "I open the door")  # private: decided at once
    second = await wait_story(tg, chat["id"], 2)

    await clock.advance(40)
    pressed = tg.press(chat, alice, second["message_id"], "w:2")
    refusal = "You can suggest your own action again in 60 seconds."
    assert await answer_of(tg, pressed) == refusal  # no prompt to type into

    await before.engine.shutdown()
    await before.adapter.stop()
    await clock.advance(30)
    await make_bot(limits=limits)
    again = tg.press(chat, alice, second["message_id"], "w:2")
    assert await answer_of(tg, again) == ("You can suggest your own action again in 30 seconds.")
    await clock.advance(30)
    await ask(tg, chat, alice, second["message_id"], part=2)
    tg.send_text(chat, alice, "I feed the dragon")
    refused = await tg.wait_until(lambda: tg.bot_messages(chat["id"])[-1].get("text") == BLOCKED)
    assert refused  # a private chat: a plain answer that stays
    tg.send_text(chat, alice, "I feed the cat")
    await wait_story(tg, chat["id"], 3)
    parts = await store.live_segments(1)
    assert [p.choices[p.chosen_index or 0] for p in parts[:2]] == [
        "I open the door",
        "I feed the cat",
    ]
    await clock.advance(60)
    assert tg.bot_messages(chat["id"])[-1]["text"].startswith("Part 3.")
    assert [m["text"] for m in tg.bot_messages(chat["id"])].count(BLOCKED) == 1


async def test_a_cooldown_refusal_in_a_group_is_a_passing_note(
    make_bot: BotFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    """A reply to a prompt shown before the cooldown began is refused at submission."""
    await make_bot(clock=clock, limits=AbuseLimits(own_action_cooldown_seconds=300))
    alice, bob = tg.user(ALICE_ID, "Alice"), tg.user(BOB_ID, "Bob")
    group = tg.group_chat(-1202)
    tg.send_text(group, alice, "/story")
    async with ticking(clock):
        mid = (await wait_story(tg, group["id"], 1))["message_id"]
    first = await ask(tg, group, bob, mid)
    other = tg.group_chat(-1203)
    tg.send_text(other, alice, "/story")
    async with ticking(clock):
        shown = await tg.wait_until(lambda: story_message(tg, other["id"]))
    elsewhere = shown["message_id"]
    part = next(int(d[2:]) for _, d in keyboard(shown) if d.startswith("w:"))
    waiting = await ask(tg, other, bob, elsewhere, part=part)
    tg.reply(group, bob, first["message_id"], "I pick the lock")
    async with ticking(clock):
        await tg.wait_until(
            lambda: ("✍️ Bob: I pick the lock", "c:1:3") in keyboard(tg.messages[(group["id"], mid)])
        )

    late = tg.reply(other, bob, waiting["message_id"], "I pick another lock")
    await tg.wait_until(lambda: replies_to(tg, late))
    assert replies_to(tg, late)[0].startswith("You can suggest your own action again in ")
    note = next(m for m in tg.bot_messages(other["id"]) if m.get("text", "").startswith("You can"))
    for _ in range(2):  # its deletion is due 15 s after it was posted, maybe after the first
        await clock.advance(15)
    await tg.wait_until(lambda: (other["id"], note["message_id"]) not in tg.messages)
    assert len(keyboard(tg.messages[(other["id"], elsewhere)])) == len(keyboard(shown))
