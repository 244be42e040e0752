"""The web adapter on a real port in front of the engine (fake Ollama, fake ComfyUI), and
a browser's side of its protocol driven with aiohttp's client: shared by the protocol
and the browser tests."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.web import WebAdapter, WebConfig
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import Language, Platform
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.storage.sqlite import Store
from tests.conftest import CoreFactory
from tests.fake_comfyui import FakeComfyUI


@dataclass
class WebRig:
    engine: StoryEngine
    adapter: WebAdapter
    url: str


WebFactory = Callable[..., Awaitable[WebRig]]


@pytest.fixture
async def make_web(
    make_core: CoreFactory, store: Store, tmp_path: Path
) -> AsyncIterator[WebFactory]:
    adapters: list[WebAdapter] = []

    async def build(
        comfy: FakeComfyUI | None = None,
        clock: Clock | None = None,
        prewrite: PrewriteMode = PrewriteMode.OFF,
        limits: AbuseLimits | None = None,
        **changes: Any,
    ) -> WebRig:
        core = make_core(comfy, prewrite, limits)
        settings: dict[str, Any] = {
            "port": 0,
            "pictures_dir": tmp_path / "pictures",
            "language": Language.EN,
        }
        config = WebConfig(**{**settings, **changes})
        adapter = WebAdapter(core.engine, StoredScreens(store), config, clock)
        core.router.register(Platform.WEB, adapter)
        url = await adapter.start()
        adapters.append(adapter)
        await core.engine.resume()
        return WebRig(core.engine, adapter, url)

    yield build
    for adapter in adapters:
        await adapter.stop()


@dataclass
class Browser:
    """One browser: its cookies, its page's parts as the socket last said, its toasts."""

    url: str
    http: aiohttp.ClientSession
    story: str = ""
    ws: aiohttp.ClientWebSocketResponse | None = None
    parts: dict[int, str] = field(default_factory=dict)
    answers: list[dict[str, Any]] = field(default_factory=list)  # reply and error frames
    frames: int = 0
    shown: list[str] = field(default_factory=list)  # every part's html, as each frame said
    _reader: asyncio.Task[None] | None = None

    async def start(self, premise: str = "", *, together: bool = False, **form: str) -> str:
        data = {"premise": premise, "genre": "", "language": "en", **form}
        if together:
            data["together"] = "1"
        async with self.http.post(
            self.url + "/start", data=data, allow_redirects=False, headers={"Origin": self.url}
        ) as response:
            assert response.status == 303, await response.text()
            self.story = response.headers["Location"].removeprefix("/s/")
        return self.story

    async def page(self) -> str:
        async with self.http.get(f"{self.url}/s/{self.story}") as response:
            assert response.status == 200
            return await response.text()

    async def connect(self, story: str | None = None) -> None:
        self.story = story or self.story
        self.parts.clear()
        self.ws = await self.http.ws_connect(f"{self.url}/s/{self.story}/ws", origin=self.url)
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            frame = json.loads(message.data)
            self.frames += 1
            if frame["op"] == "parts":
                if frame["reset"]:
                    self.parts.clear()
                self.parts.update(dict(frame["items"]))
                self.shown.extend(html for _, html in frame["items"])
            else:
                self.answers.append(frame)

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def send(self, frame: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    @property
    def text(self) -> str:
        return "".join(self.parts[n] for n in sorted(self.parts))

    def buttons(self) -> list[tuple[str, str]]:
        """(button id, label) of every button on the page, in order."""
        return re.findall(r'data-button="([^"]+)">([^<]*)</button>', self.text)

    async def until(self, check: Callable[[], object]) -> None:
        """Until `check` holds for what the socket said (10 s at most)."""
        for _ in range(1000):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"never held; the page shows: {self.text[-2000:]}")

    async def ask(self, frame: Any) -> dict[str, Any]:
        """Send a frame; the reply or error frame that answers it."""
        count = len(self.answers)
        await self.send(frame)
        await self.until(lambda: len(self.answers) > count)
        return self.answers[count]


@pytest.fixture
async def browsers(make_web: WebFactory) -> AsyncIterator[Callable[[WebRig], Awaitable[Browser]]]:
    sessions: list[Browser] = []

    async def open_browser(rig: WebRig) -> Browser:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        browser = Browser(rig.url, http)
        sessions.append(browser)
        return browser

    yield open_browser
    for browser in sessions:
        await browser.disconnect()
        await browser.http.close()
