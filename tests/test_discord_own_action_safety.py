"""The core's rules on a player's own action, on Discord through the fake Discord (issue
15): the server's blocked words and the own-action cooldown refuse a modal's text
privately (ephemeral, the word never repeated, nothing changed), the cooldown says when,
a restart keeps both, and the story's participation mode decides who may offer one."""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.storage.sqlite import Store
from tests import test_discord
from tests.fake_discord import FakeDiscord
from tests.fakes import FakeClock
from tests.test_discord import (
    ALICE,
    BOB,
    CAROL,
    MOD,
    STORIES,
    BotFactory,
    buttons,
    description,
    is_ephemeral,
    reply_to,
    story,
)

dc = test_discord.dc  # the Discord tests' fake server and bot
make_bot = test_discord.make_bot

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."
COOLDOWN = AbuseLimits(own_action_cooldown_seconds=120)


async def offer(dc: FakeDiscord, member: Any, mid: int, action: str, part: int = 1) -> int:
    """`member` presses the own-action button and submits `action` in the modal."""
    asked = dc.click(member, mid, f"sc:w:{part}")
    await dc.wait_until(lambda: asked in dc.modals)
    return dc.submit_modal(member, asked, action)


def no_word_shown(dc: FakeDiscord, word: str) -> bool:
    """No message in the channel (text, embeds, buttons) holds `word`."""
    shown = [m.get("content") or "" for m in dc.messages.values()]
    shown += [description(m) for m in dc.messages.values()]
    shown += [label for m in dc.messages.values() for label, _ in buttons(m)]
    return all(word not in s.casefold() for s in shown)


async def test_a_blocked_word_in_an_own_action_is_refused_privately_unrepeated(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    await reply_to(dc, dc.slash(MOD, STORIES, "settings", block="dragon"))
    dc.slash(ALICE, STORIES, "start")
    mid = int((await dc.wait_until(lambda: story(dc, 1)))["id"])

    refused = await offer(dc, BOB, mid, "I wake the DRAGON")
    assert await reply_to(dc, refused) == BLOCKED
    assert is_ephemeral(dc, refused)
    assert no_word_shown(dc, "dragon")
    stored = await store.get_segment(1)
    assert stored is not None
    assert (len(stored.choices), stored.own_actions) == (3, ())

    # Refused, not counted: the same player may offer a clean one for the part.
    accepted = await offer(dc, BOB, mid, "I wake the wyvern")
    assert await reply_to(dc, accepted) == "Your action is on the ballot: I wake the wyvern"
    entry = ("✍️ Bob: I wake the wyvern", "sc:c:1:3")
    await dc.wait_until(lambda: entry in buttons(dc.messages[mid]))
    assert dc.errors == []


async def test_the_own_action_cooldown_says_when_and_a_restart_keeps_it_and_the_words(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock, store: Store
) -> None:
    before = await make_bot(limits=COOLDOWN)
    await reply_to(dc, dc.slash(MOD, STORIES, "settings", block="dragon"))
    dc.slash(ALICE, STORIES, "start")
    mid = int((await dc.wait_until(lambda: story(dc, 1)))["id"])
    assert await reply_to(dc, await offer(dc, BOB, mid, "I light a torch"))
    await dc.wait_until(lambda: ("✍️ Bob: I light a torch", "sc:c:1:3") in buttons(dc.messages[mid]))
    assert await reply_to(dc, dc.click(ALICE, mid, "sc:c:1:0"))
    await clock.advance(60)  # the vote ends; part 2 opens
    second = int((await dc.wait_until(lambda: story(dc, 2)))["id"])

    # Refused at the button, before the player types anything: no modal.
    pressed = dc.click(BOB, second, "sc:w:2")
    assert await reply_to(dc, pressed) == "You can suggest your own action again in 60 seconds."
    assert is_ephemeral(dc, pressed)
    assert pressed not in dc.modals
    # A modal opened earlier (here forged) meets the same rule at its submission.
    forged = dc.forge_modal(BOB, STORIES, "sc:w:2", "action", "I run")
    assert await reply_to(dc, forged) == "You can suggest your own action again in 60 seconds."
    assert is_ephemeral(dc, forged)
    # Another player has no cooldown of his own yet.
    carol = await offer(dc, CAROL, second, "I hide", part=2)
    assert await reply_to(dc, carol) == "Your action is on the ballot: I hide"

    await before.engine.shutdown()
    await before.adapter.stop()
    await clock.advance(30)
    await make_bot(limits=COOLDOWN)
    again = dc.click(BOB, second, "sc:w:2")
    assert await reply_to(dc, again) == "You can suggest your own action again in 30 seconds."
    assert is_ephemeral(dc, again)
    kept = dc.click(CAROL, second, "sc:w:2")  # her ballot entry outlived the restart
    assert await reply_to(dc, kept) == "You have already offered your own action for this part."
    await clock.advance(30)
    still_blocked = await offer(dc, BOB, second, "I call the Dragon", part=2)
    assert await reply_to(dc, still_blocked) == BLOCKED
    accepted = await offer(dc, BOB, second, "I run", part=2)
    assert await reply_to(dc, accepted) == "Your action is on the ballot: I run"
    stored = await store.get_segment(int(await _segment_id(store, 2)))
    assert stored is not None
    assert [(a.user_name, stored.choices[a.choice_index]) for a in stored.own_actions] == [
        ("Carol", "I hide"),
        ("Bob", "I run"),
    ]
    assert no_word_shown(dc, "dragon")
    assert dc.errors == []


async def _segment_id(store: Store, index: int) -> int:
    """The id of the first story's part number `index` (counted from 1)."""
    return (await store.live_segments(1))[index - 1].id


async def test_starter_mode_refuses_others_privately_and_anyone_mode_decides_at_once(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    started = dc.slash(ALICE, STORIES, "start", mode="starter")
    assert await reply_to(dc, started)
    mid = int((await dc.wait_until(lambda: story(dc, 1)))["id"])
    pressed = dc.click(BOB, mid, "sc:w:1")
    assert await reply_to(dc, pressed) == "Only the player who started this story chooses in it."
    assert is_ephemeral(dc, pressed)
    assert pressed not in dc.modals
    forged = dc.forge_modal(BOB, STORIES, "sc:w:1", "action", "I take over")
    assert await reply_to(dc, forged) == "Only the player who started this story chooses in it."
    assert is_ephemeral(dc, forged)
    stored = await store.get_segment(1)
    assert stored is not None
    assert (stored.own_actions, stored.chosen_index) == ((), None)

    await reply_to(dc, dc.slash(ALICE, STORIES, "settings", mode="anyone"))
    decided = await offer(dc, BOB, mid, "I take the helm")
    assert await reply_to(dc, decided) == "Chosen: I take the helm"
    assert is_ephemeral(dc, decided)
    await dc.wait_until(lambda: story(dc, 2))
    stored = await store.get_segment(1)
    assert stored is not None
    chosen = stored.own_action(stored.chosen_index)
    assert chosen is not None
    assert (chosen.user_name, stored.choices[chosen.choice_index]) == ("Bob", "I take the helm")
    assert dc.errors == []
