"""The browser gets the core's rules on typed text (issue 15): the operator's blocked
words (managed from the console) refuse a premise on the start page, privately."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.console import PLACE, PLAYER
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import ChannelKey, Platform
from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock
from tests.injection import INJECTION, assert_quoted_for_the_model
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]


async def test_a_premise_with_a_word_the_operator_blocked_is_refused_in_the_browser(
    make_web: WebFactory, browsers: Open, store: Store
) -> None:
    rig = await make_web()
    await rig.engine.safety.blocklist.add(PLACE, PLAYER, "дракон")  # from the console
    alice = await browsers(rig)
    form = {"premise": "Старый ДРАКОН спит", "genre": "", "language": "ru"}
    async with alice.http.post(
        rig.url + "/start", data=form, allow_redirects=False, headers={"Origin": rig.url}
    ) as response:
        assert response.status == 400
        page = await response.text()
    assert "This text contains a word the administrators blocked here." in page
    assert "ДРАКОН" not in page
    rows = [r async for r in store.table_rows("sessions")]
    assert rows == []

    story = await alice.start("An old wyvern sleeps")
    assert await store.live_session(ChannelKey(Platform.WEB, story)) is not None


async def test_an_over_long_premise_is_refused_with_its_length_not_cut(
    make_web: WebFactory, browsers: Open, store: Store
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    form = {"premise": "x" * 1500, "genre": "", "language": "en"}
    async with alice.http.post(
        rig.url + "/start", data=form, allow_redirects=False, headers={"Origin": rig.url}
    ) as response:
        assert response.status == 400
        page = await response.text()
    assert "The premise is too long: 1500 characters, at most 1000 fit." in page
    assert [r async for r in store.table_rows("sessions")] == []


async def test_an_injected_premise_is_quoted_for_the_model_and_the_part_keeps_its_form(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start(INJECTION)
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)  # "Part 1." with its choices
    assert_quoted_for_the_model(fake_ollama)
    assert [label for _, label in alice.buttons()] == ["Path 1.1", "Path 1.2", "Path 1.3"]


async def test_a_start_cooldown_refuses_the_form_with_the_time_to_wait(
    make_web: WebFactory, browsers: Open, clock: FakeClock, store: Store
) -> None:
    rig = await make_web(limits=AbuseLimits(start_cooldown_seconds=60))
    alice = await browsers(rig)
    await alice.start("A lighthouse")
    await clock.advance(45)
    form = {"premise": "A second lighthouse", "genre": "", "language": "en"}
    async with alice.http.post(
        rig.url + "/start", data=form, allow_redirects=False, headers={"Origin": rig.url}
    ) as response:
        assert response.status == 400
        page = await response.text()
    assert "You can start a new story in 15 seconds." in page
    assert len([r async for r in store.table_rows("sessions")]) == 1
    await clock.advance(15)
    await alice.start("A second lighthouse")
    assert len([r async for r in store.table_rows("sessions")]) == 2
