"""The book served by the web adapter, a story page rebuilt from the book when its room
is gone, and the pace of the socket's frames (on the injected clock)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from adapters.web import frame_interval
from adapters.web_server import BOOK_POLICY
from storycraft_bot.core.models import ChannelKey, Platform
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock
from tests.test_web import XSS
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]


async def two_parts(browser: Browser, premise: str = "a lighthouse") -> str:
    """A story whose first part is decided and whose second is open; the book's link."""
    await browser.start(premise)
    await browser.connect()
    await browser.until(lambda: len(browser.buttons()) == 3)
    await browser.ask({"op": "press", "button": browser.buttons()[0][0]})
    await browser.until(
        lambda: browser.text.count('<section class="part') == 2 and len(browser.buttons()) == 3
    )
    found = re.search(r'<a href="(/book/[A-Za-z0-9_-]+)">', await browser.page())
    assert found is not None, "the story page links to its book"
    return found.group(1)


async def test_the_book_is_served_read_only_with_only_its_own_pictures(
    make_web: WebFactory, browsers: Open, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_web(comfy=fake_comfy)
    alice, bob = await browsers(rig), await browsers(rig)
    book = await two_parts(alice, "A lighthouse keeper")
    await alice.until(lambda: alice.text.count("<img ") == 2)  # both pictures drawn
    async with alice.http.get(rig.url + book) as response:
        assert response.status == 200
        assert response.headers["Content-Security-Policy"] == BOOK_POLICY
        page = await response.text()
    assert "<h1>A lighthouse keeper</h1>" in page
    assert "Part 1</h2>" in page
    assert "Part 2</h2>" in page
    assert "» chosen:" in page
    pictures = re.findall(r'<img src="([^"]+)" width="\d+" height="\d+"', page)
    assert pictures == [f"{book}/pictures/1", f"{book}/pictures/2"]
    async with alice.http.get(rig.url + pictures[0]) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        etag = response.headers["ETag"]
    async with bob.http.get(rig.url + pictures[0], headers={"If-None-Match": etag}) as response:
        assert response.status == 304  # anyone with the link, revalidated
    other = await two_parts(bob)
    for path in (
        f"{book}/pictures/3",  # no such part
        f"{book}/pictures/01x",
        f"{book}/pictures/%C2%B2",
        f"/book/{'A' * 22}/pictures/1",  # an unknown book has no pictures
        f"{other}/pictures/..%2F..%2Fstory.sqlite3",
    ):
        async with alice.http.get(rig.url + path) as response:
            assert response.status == 404, path
    for unknown in (f"/book/{'A' * 22}", "/book/x", f"/book/{'A' * 22}/download"):
        async with alice.http.get(rig.url + unknown) as response:
            assert response.status == 404
            assert "There is no book at this address." in await response.text()
    async with alice.http.post(rig.url + book, data={"x": "1"}) as response:
        assert response.status == 405  # read-only


async def test_the_download_is_one_file_with_its_pictures_inside(
    make_web: WebFactory, browsers: Open, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_web(comfy=fake_comfy)
    alice = await browsers(rig)
    book = await two_parts(alice, "Снег над мельницей")
    await alice.until(lambda: alice.text.count("<img ") == 2)
    async with alice.http.get(f"{rig.url}{book}/download") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        disposition = response.headers["Content-Disposition"]
        page = await response.text()
    assert disposition == 'attachment; filename="story-sneg-nad-mel-nitsey.html"'
    assert page.count('<img src="data:image/png;base64,') == 2
    assert "/pictures/" not in page  # nothing to fetch


async def test_the_book_needs_the_token_like_everything_else(
    make_web: WebFactory, browsers: Open
) -> None:
    rig = await make_web(token="s3cret-token")
    alice = await browsers(rig)
    async with alice.http.get(rig.url + "/?token=s3cret-token") as response:
        assert response.status == 200
    book = await two_parts(alice)
    async with alice.http.get(rig.url + book) as response:
        assert response.status == 200
    async with aiohttp.ClientSession() as stranger:
        for path in (book, f"{book}/download", f"{book}/pictures/1"):
            async with stranger.get(rig.url + path) as response:
                assert response.status == 401, path


async def test_markup_in_the_story_is_text_in_the_book(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply.segment(XSS, ["<b>bold</b>", 'javascript:alert("4")']))
    rig = await make_web()
    alice = await browsers(rig)
    await alice.start(XSS)
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 2)
    await alice.ask({"op": "press", "button": alice.buttons()[0][0]})
    await alice.until(lambda: "Part 1." in alice.text)
    book = re.findall(r'href="(/book/[^"]+)"', await alice.page())[0]
    for path in (book, f"{book}/download"):
        async with alice.http.get(rig.url + path) as response:
            page = await response.text()
        assert "<script>" not in page
        assert "<img src=x" not in page
        assert 'href="javascript:' not in page
        assert "<b>bold" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "chosen: &lt;b&gt;bold&lt;/b&gt;" in page


async def test_a_page_whose_room_is_gone_shows_the_whole_story_and_plays_on(
    make_web: WebFactory, browsers: Open, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_web(comfy=fake_comfy, max_rooms=1)
    alice, bob = await browsers(rig), await browsers(rig)
    await two_parts(alice)
    await alice.until(lambda: alice.text.count("<img ") == 2)
    before = await alice.page()
    await alice.disconnect()
    await bob.start()  # one room is kept: alice's story leaves memory
    await rig.engine.wait_idle()
    page = await alice.page()
    assert "Part 1." in page  # the current part, live
    assert page.count('<section class="part') == 2  # and the one before it, from the book
    assert "» chosen:" in page
    assert page.count("<img ") == 2
    ids = re.findall(r'<div class="message" data-id="(-?\d+)">', page)
    assert ids == re.findall(r'<div class="message" data-id="(-?\d+)">', before)
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)
    assert (await alice.ask({"op": "press", "button": alice.buttons()[0][0]}))["error"] is False
    await alice.until(lambda: "Part 2." in alice.text and len(alice.buttons()) == 3)
    assert alice.text.count('<section class="part') == 3  # the new part joins the old ones
    assert (await alice.ask({"op": "command", "command": "stop"}))["error"] is False
    await alice.disconnect()
    await rig.engine.wait_idle()
    await bob.page()  # bob's room takes the one place again
    ended = await alice.page()
    assert ended.count('<section class="part') == 3  # an ended story: its book
    assert "data-button" not in ended


async def test_changes_go_out_in_one_frame_per_batch_interval(
    make_web: WebFactory, browsers: Open, clock: FakeClock
) -> None:
    rig = await make_web(clock=clock, batch_interval=0.1)
    alice = await browsers(rig)
    story = await alice.start()
    await alice.connect()
    for _ in range(200):  # the narrator's pace runs on the same clock
        if len(alice.buttons()) == 3:
            break
        await clock.advance(1)
        await asyncio.sleep(0.01)
    await rig.engine.wait_idle()
    await clock.advance(1)
    key = ChannelKey(Platform.WEB, story)
    seen = alice.frames
    for n in range(5):  # changes of one moment: one frame
        await rig.adapter.post(key, f"notice {n}")
    await alice.until(lambda: "notice 4" in alice.text)
    assert alice.frames == seen + 1
    await rig.adapter.post(key, "notice 5")  # too soon after that frame: it waits
    await rig.adapter.post(key, "notice 6")
    await asyncio.sleep(0.1)
    await clock.advance(0.09)
    await asyncio.sleep(0.1)
    assert alice.frames == seen + 1
    assert "notice 5" not in alice.text
    await clock.advance(0.01)
    await alice.until(lambda: "notice 6" in alice.text)
    assert alice.frames == seen + 2  # both in one frame, 100 ms after the last


@pytest.mark.parametrize(
    ("sockets", "expected"),
    [(0, 0.1), (1, 0.1), (50, 0.1), (100, 0.2), (200, 0.4), (2000, 1.0)],
)
def test_a_crowded_room_sends_its_frames_less_often(sockets: int, expected: float) -> None:
    assert frame_interval(0.1, sockets, 50) == pytest.approx(expected)
