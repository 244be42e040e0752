"""The web adapter's HTTP and WebSocket protocol: the real aiohttp server in front of the
engine on the fake Ollama (and fake ComfyUI), driven with aiohttp's client."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.storage.sqlite import Store
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]
XSS = '<script>alert(1)</script> <img src=x onerror="alert(2)"> <a href="javascript:alert(3)">x</a>'


def dump(tmp_path: Path) -> str:
    """Everything the database holds, as SQL."""
    db = sqlite3.connect(next(tmp_path.glob("*.sqlite3")))
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


async def grow(browser: Browser, pace: asyncio.Semaphore, clock: FakeClock, words: str) -> None:
    """Let the model write a chunk at a time, the engine's narration throttle passing
    between chunks, until the page shows `words`."""
    for _ in range(40):
        pace.release()
        await asyncio.sleep(0.02)
        await clock.advance(1)
        if words in browser.text:
            return
    await browser.until(lambda: words in browser.text)


async def test_a_story_streams_and_a_press_decides(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama, clock: FakeClock
) -> None:
    pace = asyncio.Semaphore(0)
    narration = "The lighthouse keeper climbs the stairs. " * 12
    fake_ollama.then(Reply.segment(narration, ["Open the door", "Wait"], pace=pace))
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start("a lighthouse")
    await alice.connect()
    await grow(alice, pace, clock, "The lighthouse keeper")
    grown = alice.frames
    for _ in range(200):
        pace.release()
    await alice.until(lambda: len(alice.buttons()) == 2)
    # Dozens of chunks arrived; the page got a few frames, not one per token.
    assert alice.frames - grown < 10
    assert [label for _, label in alice.buttons()] == ["Open the door", "Wait"]
    assert "The lighthouse keeper" in await alice.page()  # the server renders it as it stands

    answer = await alice.ask({"op": "press", "button": alice.buttons()[0][0]})
    assert answer == {"op": "reply", "text": "Chosen: Open the door", "error": False}
    await alice.until(lambda: "Part 1." in alice.text)  # the next part, from the fake
    assert "» " in alice.text  # the decided part says what was chosen


async def test_two_connections_vote_with_live_counts(
    make_web: WebFactory, browsers: Open, clock: FakeClock
) -> None:
    rig = await make_web()
    alice, bob = await browsers(rig), await browsers(rig)
    story = await alice.start(together=True)
    await alice.connect()
    await bob.connect(story)
    await alice.until(lambda: len(alice.buttons()) == 3)
    await bob.until(lambda: len(bob.buttons()) == 3)
    first, second = bob.buttons()[0][0], bob.buttons()[1][0]
    assert (await alice.ask({"op": "press", "button": first}))["text"].startswith("Vote counted")
    assert (await bob.ask({"op": "press", "button": first}))["text"].startswith("Vote counted")
    await alice.until(lambda: "· 2" in alice.text)
    await bob.until(lambda: "· 2" in bob.text)
    assert (await bob.ask({"op": "press", "button": second}))["text"].startswith("You changed")
    await alice.until(lambda: "· 1" in alice.buttons()[0][1] and "· 1" in alice.buttons()[1][1])
    await clock.advance(61)  # the vote window ends: a tie, settled by the engine
    await alice.until(lambda: "Part 2." in alice.text)
    await bob.until(lambda: "Part 2." in bob.text)


async def test_a_reload_and_a_reconnect_find_the_story_as_it_stands(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama, clock: FakeClock
) -> None:
    pace = asyncio.Semaphore(0)
    fake_ollama.then(
        Reply.segment("Snow falls on the old mill. " * 10, ["Go in", "Leave"], pace=pace)
    )
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start()
    await alice.connect()
    await grow(alice, pace, clock, "Snow falls on the old mill.")
    await alice.disconnect()  # mid-stream
    page = await alice.page()
    assert "Snow falls on the old mill." in page
    await alice.connect()  # the reset frame brings everything at once
    await alice.until(lambda: "Snow falls" in alice.text)
    for _ in range(100):
        pace.release()
    await alice.until(lambda: len(alice.buttons()) == 2)
    assert '<div class="message" data-id="1"><section class="part open"' in await alice.page()


async def test_the_starter_commands_and_others_are_refused(
    make_web: WebFactory, browsers: Open
) -> None:
    rig = await make_web()
    alice, mallory = await browsers(rig), await browsers(rig)
    story = await alice.start()
    await alice.connect()
    await mallory.connect(story)
    await alice.until(lambda: len(alice.buttons()) == 3)
    refused = await mallory.ask({"op": "command", "command": "stop"})
    assert refused["error"] is True
    assert refused["text"].startswith("Only the person who started")
    settings = await alice.ask({"op": "settings", "window": 30})
    assert settings["error"] is False
    status = await mallory.ask({"op": "command", "command": "status"})
    assert status["error"] is False
    assert (await alice.ask({"op": "command", "command": "stop"}))["error"] is False
    await alice.until(lambda: alice.buttons() == [])
    await mallory.until(lambda: "The story has ended" in mallory.text or "ended" in mallory.text)


async def test_forged_frames_get_error_frames_and_change_nothing(
    make_web: WebFactory,
    browsers: Open,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = await make_web(frame_burst=1000)
    alice, mallory = await browsers(rig), await browsers(rig)
    story = await alice.start()
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)
    own = alice.buttons()[0][0]
    other = await (await browsers(rig)).start()  # a second story: its buttons are not ours
    await mallory.connect(story)
    await rig.engine.wait_idle()  # the second story's first part is written
    before = dump(tmp_path)
    segment = own.split(":")[1]
    forgeries: list[object] = [
        "",
        "not json",
        "[]",
        "null",
        '"press"',
        "[" * 5000 + "]" * 5000,
        "x" * 5000,
        {"op": "press"},
        {"op": "press", "button": 7},
        {"op": "press", "button": own, "extra": 1},
        {"op": "press", "button": f"c:{segment}:9"},
        {"op": "press", "button": f"c:0{segment}:0"},
        {"op": "press", "button": f"c:{segment}:\u00b2"},
        {"op": "press", "button": f"c:{segment}:-1"},
        {"op": "press", "button": "c:99999:0"},
        {"op": "press", "button": f"x:{segment}"},
        {"op": "press", "button": f"r:{segment}"},
        {"op": "command", "command": "start"},
        {"op": "command", "command": "close"},
        {"op": "command", "command": "stop"},
        {"op": "command", "command": "undo"},
        {"op": "command", "command": "retry"},
        {"op": "command", "command": ["stop"]},
        {"op": "settings", "window": 31},
        {"op": "settings", "window": 30.0},
        {"op": "settings", "pictures": 1},
        {"op": "settings", "pictures": True},
        {"op": "settings", "pictures": True, "window": 30},
        {"op": "__proto__", "button": own},
        {"op": "PRESS", "button": own},
    ]
    with caplog.at_level(logging.INFO):
        for forgery in forgeries:
            answer = await mallory.ask(forgery)
            assert answer["op"] == "error" or answer["error"] is True, (forgery, answer)
        assert mallory.ws is not None
        count = len(mallory.answers)
        await mallory.ws.send_bytes(b"\x00\x01")
        await mallory.until(lambda: len(mallory.answers) > count)
        assert mallory.answers[-1]["code"] == "bad_frame"
    await rig.engine.wait_idle()
    assert dump(tmp_path) == before
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    codes = {a.get("code") for a in mallory.answers}
    assert {"bad_frame", "too_big"} <= codes
    assert other != story


async def test_a_flood_of_frames_is_refused_once_per_burst(
    make_web: WebFactory, browsers: Open, clock: FakeClock
) -> None:
    rig = await make_web(clock=clock, frame_burst=5)  # the budget refills on the fake clock
    alice = await browsers(rig)
    await alice.start()
    await alice.connect()
    for _ in range(30):
        await alice.send({"op": "command", "command": "help"})
    await alice.until(lambda: len(alice.answers) >= 6)
    await asyncio.sleep(0.2)  # anything more would have come by now
    assert [a["op"] for a in alice.answers] == ["reply"] * 5 + ["error"]
    assert alice.answers[-1]["code"] == "too_fast"
    await clock.advance(1)  # five more frames' worth
    assert (await alice.ask({"op": "command", "command": "help"}))["op"] == "reply"


async def test_narration_with_markup_renders_as_text(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply.segment(XSS, ["<b>bold</b>", 'javascript:alert("4")']))
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start(XSS)
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 2)
    for html in (await alice.page(), alice.text):
        assert "<script>" not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html
        assert "<b>bold" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "onerror=&quot;alert(2)&quot;" in html


async def test_the_socket_refuses_other_origins(make_web: WebFactory, browsers: Open) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    story = await alice.start()
    for origin in ("http://evil.example", "null", f"{rig.url}.evil.example"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await alice.http.ws_connect(f"{rig.url}/s/{story}/ws", origin=origin)
        assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await alice.http.ws_connect(f"{rig.url}/s/{story}/ws")  # no Origin at all
    async with alice.http.post(
        rig.url + "/start", data={"premise": ""}, headers={"Origin": "http://evil.example"}
    ) as response:
        assert response.status == 403
    async with alice.http.get(f"{rig.url}/s/{'A' * 32}") as response:
        assert response.status == 404  # an unknown story


async def test_a_token_guards_every_request(make_web: WebFactory, browsers: Open) -> None:
    rig = await make_web(token="s3cret-token")
    alice = await browsers(rig)
    for path in ("/", "/static/story.js", "/pictures/1/x.png", f"/s/{'A' * 32}/ws"):
        async with alice.http.get(rig.url + path) as response:
            assert response.status == 401, path
    async with alice.http.get(rig.url + "/?token=wrong") as response:
        assert response.status == 401
    async with alice.http.get(rig.url + "/?token=s3cret-token") as response:
        assert response.status == 200  # and the cookie keeps it from now on
    story = await alice.start()
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)
    assert story


async def test_the_picture_waits_in_its_section_then_is_served_with_an_etag(
    make_web: WebFactory, browsers: Open, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.hold = True  # the first story's picture takes the one GPU slot and stays
    rig = await make_web(comfy=fake_comfy)
    first, alice = await browsers(rig), await browsers(rig)
    await first.start()
    await rig.engine.wait_idle()
    await alice.start()
    await alice.connect()
    await alice.until(lambda: 'class="picture waiting"' in alice.text)
    assert "Picture queued (1 picture ahead)" in alice.text  # the running one, held by ComfyUI
    fake_comfy.release()
    await alice.until(lambda: "<img " in alice.text)
    image = alice.text.split("<img ", 1)[1].split(">", 1)[0]
    assert 'loading="lazy"' in image
    assert 'width="' in image
    assert 'height="' in image
    source = image.split('src="', 1)[1].split('"', 1)[0]
    async with alice.http.get(rig.url + source) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        etag = response.headers["ETag"]
    async with alice.http.get(rig.url + source, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
    async with alice.http.get(rig.url + "/pictures/1/..%2F..%2Fstory.sqlite3") as response:
        assert response.status == 404


async def test_the_page_speaks_the_browsers_language_with_a_switch(
    make_web: WebFactory, browsers: Open
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    ru = {"Accept-Language": "de-DE, ru;q=0.9, en;q=0.8"}
    async with alice.http.get(rig.url + "/", headers=ru) as response:
        assert "Новая история" in await response.text()
    async with alice.http.get(rig.url + "/?lang=en", headers=ru) as response:
        assert "A new story" in await response.text()
    async with alice.http.get(rig.url + "/", headers=ru) as response:
        assert "A new story" in await response.text()  # the switch's cookie wins


async def test_a_prewritten_part_arrives_whole_with_its_buttons(
    make_web: WebFactory, browsers: Open, store: Store
) -> None:
    rig = await make_web(prewrite=PrewriteMode.ALL)
    alice = await browsers(rig)
    await alice.start("a lighthouse")
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)

    async def all_drafted() -> bool:  # a story of one reader drafts every choice, in order
        part = (await store.live_segments(1))[-1]
        return len(await store.drafts(part.id)) == 3

    for _ in range(500):
        if await all_drafted():
            break
        await asyncio.sleep(0.02)
    await rig.engine.prewriting.wait_idle()
    before = len(alice.shown)
    answer = await alice.ask({"op": "press", "button": alice.buttons()[0][0]})
    assert answer == {"op": "reply", "text": "Chosen: Path 1.1", "error": False}
    await alice.until(lambda: "Path 2.1" in alice.text)

    # The first choice's draft (the fake's second reply; written anew it would be
    # "Part 5.") reached the page in one frame with its buttons: never a part of it.
    narration = (await store.live_segments(1))[-1].narration
    assert narration.startswith("Part 2. Mara the wanderer")
    showing = [item for item in alice.shown[before:] if "Part 2." in item]
    assert showing
    assert all(narration in item and "Path 2.3" in item for item in showing)
    assert rig.engine.prewriting.figures.hits == 1
    assert rig.engine.prewriting.figures.misses == 0
