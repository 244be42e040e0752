"""A player's own action on the web page (issue 15): the part's small form sends the text
over the socket; in a story played alone it continues at once, in one played together it
joins the ballot with the author's name; too long or forged frames change nothing."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from storycraft_bot.storage.sqlite import Store
from tests.fakes import FakeClock
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]


def own_form(browser: Browser) -> str:
    """The own-action form's button id on the page ("" when there is none)."""
    found = re.search(r'<form class="own_action" data-own="([^"]+)">', browser.text)
    return found.group(1) if found else ""


async def test_played_alone_an_own_action_continues_at_once(
    make_web: WebFactory, browsers: Open, store: Store
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start()
    await alice.connect()
    await alice.until(lambda: own_form(alice) == "w:1")
    assert 'maxlength="200"' in alice.text

    too_long = await alice.ask({"op": "own", "button": "w:1", "text": "y" * 201})
    assert too_long == {
        "op": "reply",
        "text": "The action is too long: 201 characters, at most 200 fit. "
        "Shorten it and offer it again.",
        "error": True,
    }
    answer = await alice.ask({"op": "own", "button": "w:1", "text": "I climb the stairs"})
    assert answer == {"op": "reply", "text": "Chosen: I climb the stairs", "error": False}
    await alice.until(lambda: "Part 2." in alice.text)
    assert "» Chosen: I climb the stairs" in alice.text
    stored = await store.get_segment(1)
    assert stored is not None
    assert stored.own_action(stored.chosen_index) is not None


async def test_played_together_it_joins_the_ballot_and_can_win(
    make_web: WebFactory, browsers: Open, clock: FakeClock
) -> None:
    rig = await make_web()
    alice, bob = await browsers(rig), await browsers(rig)
    story = await alice.start(together=True)
    await alice.connect()
    await bob.connect(story)
    await bob.until(lambda: own_form(bob) == "w:1")

    answer = await bob.ask({"op": "own", "button": "w:1", "text": "I ring the bell"})
    assert answer["text"] == "Your action is on the ballot: I ring the bell"
    await alice.until(lambda: len(alice.buttons()) == 4)
    entry, label = alice.buttons()[3]
    assert entry == "c:1:3"
    assert re.fullmatch(r"✍️ guest-[A-Za-z0-9_-]{4}: I ring the bell", label)  # its author
    again = await bob.ask({"op": "own", "button": "w:1", "text": "I ring it twice"})
    assert again["text"] == "You have already offered your own action for this part."
    assert (await alice.ask({"op": "press", "button": entry}))["text"].startswith("Vote counted")
    await clock.advance(61)
    await alice.until(lambda: "Part 2." in alice.text and "I ring the bell" in alice.text)


async def test_forged_own_action_frames_change_nothing(
    make_web: WebFactory, browsers: Open, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start()
    await alice.connect()
    await alice.until(lambda: own_form(alice) == "w:1")
    forgeries: list[object] = [
        {"op": "own", "button": "w:1"},
        {"op": "own", "button": "w:1", "text": 5},
        {"op": "own", "button": "w:1", "text": "x", "extra": 1},
        {"op": "own", "button": "c:1:0", "text": "I fly"},
        {"op": "own", "button": "w:01", "text": "I fly"},
        {"op": "own", "button": 1, "text": "I fly"},
        {"op": "own", "button": "w:99", "text": "I fly"},
        {"op": "own", "button": "w:1", "text": " \u0000 "},
        {"op": "press", "button": "w:1"},
    ]
    with caplog.at_level(logging.INFO):
        for forgery in forgeries:
            answer = await alice.ask(forgery)
            assert answer["op"] == "error" or answer["error"] is True, (forgery, answer)
    await rig.engine.wait_idle()
    stored = await store.get_segment(1)
    assert stored is not None
    assert (len(stored.choices), stored.own_actions, stored.chosen_index) == (3, (), None)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
