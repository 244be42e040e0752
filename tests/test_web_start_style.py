"""The web start form: its picture style select, the chosen style in every picture's
prompt, and an unknown style refused on the form with nothing started; the real aiohttp
server on the fake Ollama and ComfyUI."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from storycraft_bot.core.styles import StyleBook
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.test_discord_start_style import prompts
from tests.web_rig import Browser, WebFactory, WebRig, browsers, make_web

__all__ = ["browsers", "make_web"]  # fixtures

Open = Callable[[WebRig], Awaitable[Browser]]
MYSTERY = StyleBook().styles["mystery"]


async def test_the_start_form_offers_the_styles_and_the_chosen_one_is_drawn(
    make_web: WebFactory, browsers: Open, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_web(comfy=fake_comfy)
    alice = await browsers(rig)
    async with alice.http.get(rig.url + "/?lang=en") as response:
        form = await response.text()
    select = re.search(r'<select name="style">(.*?)</select>', form)
    assert select is not None
    values = re.findall(r'<option value="([^"]*)">', select.group(1))
    assert values == ["", *StyleBook().names]  # "": the genre's style
    assert '<option value="">The genre&#x27;s</option>' in select.group(1)

    await alice.start("a lighthouse", style="mystery")
    await alice.connect()
    await alice.until(lambda: len(alice.buttons()) == 3)
    await fake_comfy.received.wait()
    positive = prompts(fake_comfy, "Positive Prompt")
    assert positive
    assert all(MYSTERY.positive in p for p in positive)


async def test_an_unknown_style_is_refused_on_the_form(
    make_web: WebFactory, browsers: Open, fake_ollama: FakeOllama
) -> None:
    rig = await make_web()
    alice = await browsers(rig)
    data = {"premise": "a lighthouse", "language": "en", "style": "<b>watercolour</b>"}
    async with alice.http.post(
        rig.url + "/start?lang=en", data=data, allow_redirects=False, headers={"Origin": rig.url}
    ) as response:
        assert response.status == 400
        page = await response.text()
    assert "No such style. There are: fantasy, sci-fi, horror" in page
    assert "<b>watercolour" not in page
    assert fake_ollama.chat_requests("segment") == []
