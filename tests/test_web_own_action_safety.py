"""The core's rules on a player's own action on the web page (issue 15): the part's form
meets the operator's blocked words and the own-action cooldown, answered to the one
browser that sent it (never to the others, never repeating the word); a restart keeps the
words, the cooldown and a ballot entry."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from adapters.console import PLACE, PLAYER
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.storage.sqlite import Store
from tests.fakes import FakeClock
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]

BLOCKED = "This text contains a word the administrators blocked here. Change it and try again."
COOLDOWN = AbuseLimits(own_action_cooldown_seconds=120)


def own_form(browser: Browser) -> str:
    """The own-action form's button id on the page ("" when there is none)."""
    found = re.search(r'<form class="own_action" data-own="([^"]+)">', browser.text)
    return found.group(1) if found else ""


def refusal(text: str) -> dict[str, object]:
    return {"op": "reply", "text": text, "error": True}


async def test_blocked_words_and_the_cooldown_answer_one_browser_and_outlive_a_restart(
    make_web: WebFactory, browsers: Open, clock: FakeClock, store: Store
) -> None:
    rig = await make_web(limits=COOLDOWN)
    await rig.engine.safety.blocklist.add(PLACE, PLAYER, "dragon")  # from the console
    alice, bob = await browsers(rig), await browsers(rig)
    story = await alice.start(together=True)
    await alice.connect()
    bob.story = story
    await bob.page()  # as a browser opens the link: its player cookie
    await bob.connect()
    await bob.until(lambda: own_form(bob) == "w:1")

    blocked = await bob.ask({"op": "own", "button": "w:1", "text": "I wake the DRAGON"})
    assert blocked == refusal(BLOCKED)
    offered = await bob.ask({"op": "own", "button": "w:1", "text": "I ring the bell"})
    assert offered["text"] == "Your action is on the ballot: I ring the bell"
    await alice.until(lambda: len(alice.buttons()) == 4)
    assert alice.answers == []  # the other browser heard nothing of either
    assert (await alice.ask({"op": "press", "button": "c:1:3"}))["text"].startswith("Vote")
    await clock.advance(61)
    await bob.until(lambda: own_form(bob) == "w:2")

    early = await bob.ask({"op": "own", "button": "w:2", "text": "I ring it again"})
    assert early == refusal("You can suggest your own action again in 59 seconds.")
    mine = await alice.ask({"op": "own", "button": "w:2", "text": "I climb the tower"})
    assert mine["text"] == "Your action is on the ballot: I climb the tower"
    await bob.until(lambda: len(bob.buttons()) == 4)
    assert "dragon" not in (alice.text + bob.text).casefold()

    await alice.disconnect()
    await bob.disconnect()
    await rig.adapter.stop()
    await rig.engine.shutdown()
    await clock.advance(30)
    again = await make_web(limits=COOLDOWN)  # a new process on the same database
    alice.url = bob.url = again.url
    await alice.connect(story)
    await bob.connect(story)
    await bob.until(lambda: len(bob.buttons()) == 4)
    entry, label = bob.buttons()[3]
    author = re.sub(r"guest-[A-Za-z0-9_-]+", "guest", label)
    assert (entry, author) == ("c:2:3", "✍️ guest: I climb the tower")
    taken = await alice.ask({"op": "own", "button": "w:2", "text": "I climb higher"})
    assert taken == refusal("You have already offered your own action for this part.")
    still = await bob.ask({"op": "own", "button": "w:2", "text": "I ring it again"})
    assert still == refusal("You can suggest your own action again in 29 seconds.")
    await clock.advance(29)
    kept = await bob.ask({"op": "own", "button": "w:2", "text": "The dragon wakes"})
    assert kept == refusal(BLOCKED)
    accepted = await bob.ask({"op": "own", "button": "w:2", "text": "I ring it again"})
    assert accepted["text"] == "Your action is on the ballot: I ring it again"
    await alice.until(lambda: len(alice.buttons()) == 5)
    stored = await store.get_segment(2)
    assert stored is not None
    assert [stored.choices[a.choice_index] for a in stored.own_actions] == [
        "I climb the tower",
        "I ring it again",
    ]
