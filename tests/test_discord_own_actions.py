"""A player's own action on Discord (issue 15): the button answers with a modal (type 9)
within the deadline, its submission (type 5) joins the ballot with the author's name and
can win; one per player per part, off by setting, too long or forged refused privately
with nothing changed, and the ballot kept across a restart."""

from __future__ import annotations

from typing import Any

from storycraft_bot.storage.sqlite import Store
from tests import test_discord
from tests.fake_discord import FakeDiscord
from tests.fakes import FakeClock
from tests.test_discord import (
    ALICE,
    BOB,
    CAROL,
    MOD,
    OWN,
    OWNER,
    STORIES,
    BotFactory,
    buttons,
    description,
    is_ephemeral,
    reply_to,
    story,
)

# The Discord tests' fixtures: the fake Discord and bots on it.
dc = test_discord.dc
make_bot = test_discord.make_bot


async def first_part(dc: FakeDiscord) -> tuple[int, dict[str, Any]]:
    dc.slash(ALICE, STORIES, "start")
    message = await dc.wait_until(lambda: story(dc, 1))
    return int(message["id"]), message


async def offer(dc: FakeDiscord, member: Any, mid: int, action: str) -> int:
    """`member` presses the own-action button and submits `action` in the modal."""
    asked = dc.click(member, mid, "sc:w:1")
    await dc.wait_until(lambda: asked in dc.modals)
    return dc.submit_modal(member, asked, action)


async def test_an_own_action_joins_the_ballot_with_its_author_and_wins(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock, store: Store
) -> None:
    await make_bot()
    mid, message = await first_part(dc)
    assert (OWN, "sc:w:1") in buttons(message)

    asked = dc.click(BOB, mid, "sc:w:1")
    modal = await dc.wait_until(lambda: dc.modals.get(asked))
    assert modal["custom_id"] == "sc:w:1"
    assert modal["components"][0]["component"]["max_length"] == 200
    answered = dc.answered_within(asked)
    assert answered is not None
    assert answered < dc.interaction_deadline
    submitted = dc.submit_modal(BOB, asked, "I pick the lock")
    assert await reply_to(dc, submitted) == "Your action is on the ballot: I pick the lock"
    assert is_ephemeral(dc, submitted)
    await dc.wait_until(lambda: ("✍️ Bob: I pick the lock", "sc:c:1:3") in buttons(dc.messages[mid]))

    assert await reply_to(dc, dc.click(ALICE, mid, "sc:c:1:3")) == ("Vote counted: I pick the lock")
    assert (await reply_to(dc, dc.click(CAROL, mid, "sc:c:1:0"))).startswith("Vote counted")
    assert (await reply_to(dc, dc.click(BOB, mid, "sc:c:1:3"))).startswith("Vote counted")
    await clock.advance(60)
    decided = await dc.wait_until(
        lambda: (
            "The group chose: I pick the lock" in description(dc.messages[mid]) and dc.messages[mid]
        )
    )
    assert not buttons(decided)
    await dc.wait_until(lambda: story(dc, 2))
    stored = await store.get_segment(1)
    assert stored is not None
    assert (stored.chosen_index, stored.own_action(3)) == (3, stored.own_actions[0])
    assert stored.own_actions[0].user_name == "Bob"
    assert dc.errors == []


async def test_one_own_action_per_player_per_part_refused_without_a_modal(
    make_bot: BotFactory, dc: FakeDiscord
) -> None:
    await make_bot()
    mid, _ = await first_part(dc)
    await reply_to(dc, await offer(dc, BOB, mid, "I wait"))
    await dc.wait_until(lambda: ("✍️ Bob: I wait", "sc:c:1:3") in buttons(dc.messages[mid]))

    again = dc.click(BOB, mid, "sc:w:1")
    assert await reply_to(dc, again) == "You have already offered your own action for this part."
    assert is_ephemeral(dc, again)
    assert again not in dc.modals
    assert len([c for _, c in buttons(dc.messages[mid]) if c.startswith("sc:c:")]) == 4


async def test_too_long_and_forged_submissions_are_refused_and_change_nothing(
    make_bot: BotFactory, dc: FakeDiscord, store: Store
) -> None:
    await make_bot()
    mid, _ = await first_part(dc)
    asked = dc.click(BOB, mid, "sc:w:1")
    await dc.wait_until(lambda: asked in dc.modals)

    long = dc.forge_modal(BOB, STORIES, "sc:w:1", "action", "x" * 201)
    assert await reply_to(dc, long) == (
        "The action is too long: 201 characters, at most 200 fit. Shorten it and offer it again."
    )
    assert is_ephemeral(dc, long)
    for custom_id, field in (("sc:w:99", "action"), ("sc:c:1:0", "action"), ("zz", "x")):
        forged = dc.forge_modal(BOB, STORIES, custom_id, field, "I fly")
        assert await reply_to(dc, forged) == "This part is over."
    empty = dc.forge_modal(BOB, STORIES, "sc:w:1", "other", "I fly")
    assert await reply_to(dc, empty) == "Write what the hero does."

    stored = await store.get_segment(1)
    assert stored is not None
    assert (len(stored.choices), stored.own_actions) == (3, ())
    assert dc.errors == []


async def test_settings_turn_own_actions_off(make_bot: BotFactory, dc: FakeDiscord) -> None:
    await make_bot()
    mid, _ = await first_part(dc)
    refused = dc.slash(BOB, STORIES, "settings", own_actions=False)
    assert (await reply_to(dc, refused)).startswith("Only the person who started")
    assert (await reply_to(dc, dc.slash(ALICE, STORIES, "settings", own_actions=False))) != ""

    pressed = dc.click(BOB, mid, "sc:w:1")  # the button still on screen
    assert await reply_to(dc, pressed) == "Own actions are turned off in this story."
    assert pressed not in dc.modals
    forged = dc.forge_modal(BOB, STORIES, "sc:w:1", "action", "I fly")
    assert await reply_to(dc, forged) == "Own actions are turned off in this story."

    assert await reply_to(dc, dc.click(ALICE, mid, "sc:c:1:0"))
    await dc.wait_until(lambda: ("⏹ Close the vote", "sc:x:1") in buttons(dc.messages[mid]))
    dc.click(ALICE, mid, "sc:x:1")
    following = await dc.wait_until(lambda: story(dc, 2))
    assert not [c for _, c in buttons(following) if c.startswith("sc:w:")]  # no button now


async def test_a_restart_keeps_the_ballot_entry(
    make_bot: BotFactory, dc: FakeDiscord, clock: FakeClock
) -> None:
    before = await make_bot()
    mid, _ = await first_part(dc)
    asked = dc.click(BOB, mid, "sc:w:1")
    await dc.wait_until(lambda: asked in dc.modals)
    await before.engine.shutdown()
    await before.adapter.stop()

    await make_bot()  # the modal shown before the restart is submitted to the new process
    submitted = dc.submit_modal(BOB, asked, "I light a torch")
    assert await reply_to(dc, submitted) == "Your action is on the ballot: I light a torch"
    await dc.wait_until(lambda: ("✍️ Bob: I light a torch", "sc:c:1:3") in buttons(dc.messages[mid]))
    assert await reply_to(dc, dc.click(CAROL, mid, "sc:c:1:3")) == ("Vote counted: I light a torch")
    await clock.advance(60)
    await dc.wait_until(lambda: "The group chose: I light a torch" in description(dc.messages[mid]))


async def test_a_full_ballot_fits_discords_rows_and_refuses_one_more(
    make_bot: BotFactory, dc: FakeDiscord
) -> None:
    await make_bot()
    mid, _ = await first_part(dc)
    for n, member in enumerate((BOB, CAROL, MOD, OWNER)):
        await reply_to(dc, await offer(dc, member, mid, f"act {n}"))
    await dc.wait_until(lambda: ("✍️ Owner: act 3", "sc:c:1:6") in buttons(dc.messages[mid]))

    full = dc.click(ALICE, mid, "sc:w:1")
    assert await reply_to(dc, full) == "This part already has as many own actions as fit."
    rows = dc.messages[mid]["components"]
    # Three choices, the four typed actions, then the own-action and new-choices buttons.
    assert [len(row["components"]) for row in rows] == [1, 1, 1, 4, 2]
    assert dc.errors == []  # every edit kept Discord's five buttons a row
