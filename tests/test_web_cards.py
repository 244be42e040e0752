"""The web start form's uploads: a character card and a lorebook start the story; bad
or oversized files come back on the form with their reason, and start nothing."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable

import aiohttp

from storycraft_bot.core.models import Platform
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json, card_png, world_info
from tests.fake_ollama import FakeOllama
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]


def start_form(card: bytes | None, lorebook: bytes | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in (("premise", ""), ("genre", ""), ("language", "en")):
        form.add_field(name, value)
    # An empty file input is sent as a part with an empty file name, as browsers do.
    for name, data, filename in (("card", card, "mira.png"), ("lorebook", lorebook, "w.json")):
        form.add_field(
            name,
            io.BytesIO(data or b""),
            filename=filename if data else "",
            content_type="application/octet-stream",
        )
    return form


async def post(browser: Browser, form: aiohttp.FormData) -> tuple[int, str, str]:
    async with browser.http.post(
        browser.url + "/start", data=form, allow_redirects=False, headers={"Origin": browser.url}
    ) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def test_an_uploaded_card_and_lorebook_start_the_story(
    make_web: WebFactory, browsers: Open, store: Store, fake_ollama: FakeOllama
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    page = await (await alice.http.get(rig.url + "/")).text()
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" name="card"' in page
    lore = world_info({"key": [], "content": "Salt rain falls.", "constant": True})
    status, location, _ = await post(alice, start_form(card_png(card_json()), lore))
    assert status == 303
    alice.story = location.removeprefix("/s/")
    await alice.connect()
    await alice.until(lambda: "Part 1." in alice.text)
    sessions = [s for s in await store.active_sessions() if s.place.key.platform is Platform.WEB]
    assert len(sessions) == 1
    assert sessions[0].premise.startswith("Mira finds a message in a bottle")
    system = fake_ollama.chat_requests("segment")[0]["messages"][0]["content"]
    assert "The main character is <<<Mira>>>" in system
    assert "<<<Salt rain falls.>>>" in system


async def test_bad_uploads_come_back_with_their_reason(
    make_web: WebFactory, browsers: Open, store: Store
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    script = json.dumps(card_json(name="<script>x</script>")).encode()
    cases = [
        (start_form(script), "The field name holds a script or active HTML"),
        (start_form(b"A" * (9 * 1024 * 1024)), "The file is too large"),
        (start_form(card_png(card_json()), b"[]"), "This is not a lorebook"),
    ]
    for form, reason in cases:
        status, _, page = await post(alice, form)
        assert status == 400
        assert reason in page
    assert await store.active_sessions() == []


async def test_empty_file_inputs_are_no_files(make_web: WebFactory, browsers: Open) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    status, _, _ = await post(alice, start_form(card_png(card_json())))  # no lorebook chosen
    assert status == 303
    status, _, _ = await post(alice, start_form(None))  # neither: a plain start
    assert status == 303
