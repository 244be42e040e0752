"""The operator's view: /healthz and /metrics over real HTTP, on the real engine, the
Telegram adapter (python-telegram-bot against the fake Bot API), the fake Ollama and
the fake ComfyUI; the figures parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.health import Part, check_health
from adapters.operator import Operator
from adapters.telegram_bot import TelegramAdapter, TelegramConfig
from adapters.web import WebAdapter, WebConfig
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.metrics import FailureReason
from storycraft_bot.core.models import Language, Platform, StorySettings
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.ports import Illustrator, NullIllustrator
from storycraft_bot.core.routing import PlatformRouter
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import ComfyIllustrator
from storycraft_bot.storage.sqlite import Store
from tests.conftest import CoreFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.fakes import FakeClock

ALICE_ID = 701


@dataclass
class Rig:
    operator: Operator
    adapter: TelegramAdapter
    url: str  # where /healthz and /metrics answer
    http: aiohttp.ClientSession

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.url + "/healthz") as response:
            return response.status, await response.json()

    async def metrics(self) -> dict[str, float]:
        """Every sample as `name{label="value",...}` -> value."""
        async with self.http.get(self.url + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            body = await response.text()
        samples = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(
    gateway: OllamaGateway,
    store: Store,
    tg: FakeTelegram,
    fake_comfy: FakeComfyUI,
    comfy_http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> AsyncIterator[RigFactory]:
    """A bot as bot.py wires it: the engine's view counts, the adapter is watched."""
    built: list[tuple[StoryEngine, TelegramAdapter, Operator, aiohttp.ClientSession]] = []
    illustrators: list[ComfyIllustrator] = []

    async def build(
        operator_store: Store | None = None, *, pictures: bool = False, **changes: Any
    ) -> Rig:
        router = PlatformRouter()
        narration = FairNarratorQueue(lambda: 2, clock)
        comfy = ComfyClient(fake_comfy.url, comfy_http, SystemClock(), backoff=0.01)
        operator = Operator(clock, operator_store or store, gateway, narration, [comfy])
        illustrator: Illustrator = NullIllustrator()
        if pictures:
            illustrator = ComfyIllustrator(
                ServerPool([comfy], clock), GpuQueue(), sd15_workflow(), tmp_path / "pics", clock
            )
            illustrators.append(illustrator)
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            illustrator,
            operator.view(router),
            clock,
            EngineConfig(language=Language.EN, story=StorySettings(vote_window_seconds=60)),
            random.Random(3),
            narration=narration,
        )
        settings: dict[str, Any] = {
            "token": TOKEN,
            "base_url": tg.base_url,
            "base_file_url": tg.file_url,
            "private_edit_interval": 0.05,
            "group_edit_interval": 0.1,
            "overall_rate": 1000,
            "group_rate": 1000,
            "poll_timeout": 1,
            "max_retries": 0,
        }
        config = TelegramConfig(**{**settings, **changes})
        adapter = TelegramAdapter(engine, StoredScreens(store), config)
        router.register(Platform.TELEGRAM, adapter)
        await adapter.start()
        operator.watch(Part.TELEGRAM, adapter)
        address = await operator.serve_alone("127.0.0.1", 0)
        assert address is not None
        await engine.resume()
        http = aiohttp.ClientSession()
        built.append((engine, adapter, operator, http))
        return Rig(operator, adapter, address, http)

    yield build
    for engine, adapter, operator, http in built:
        await http.close()
        await operator.stop()
        await adapter.stop()
        await engine.shutdown()
    for illustrator in illustrators:
        await illustrator.close()


async def play_first_part(tg: FakeTelegram) -> dict[str, Any]:
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story a lighthouse keeper")
    return await tg.wait_until(  # type: ignore[no-any-return]
        lambda: next(
            (
                m
                for m in tg.bot_messages(chat["id"])
                if m.get("text", "").startswith("Part 1.") and m.get("reply_markup")
            ),
            None,
        )
    )


async def until_figure(rig: Rig, name: str) -> dict[str, float]:
    """Scrape until `name` is above 0 (5 s at most); the last scrape."""
    for _ in range(250):
        figures = await rig.metrics()
        if figures[name]:
            return figures
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} never moved")


# /healthz


async def test_healthz_is_200_when_everything_answers(make_rig: RigFactory) -> None:
    rig = await make_rig()
    status, body = await rig.health()
    assert status == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "ollama", "comfyui", "telegram"}
    assert all(check["ok"] for check in body["checks"].values())


async def test_healthz_is_503_naming_ollama_when_it_is_gone(
    make_rig: RigFactory, fake_ollama: FakeOllama
) -> None:
    rig = await make_rig()
    await fake_ollama.stop()
    status, body = await rig.health()
    assert status == 503
    assert body["status"] == "unhealthy"
    assert "Ollama is not reachable" in body["checks"]["ollama"]["reason"]
    assert [part for part, check in body["checks"].items() if not check["ok"]] == ["ollama"]


async def test_healthz_is_503_naming_comfyui_when_it_is_gone(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_rig()
    await fake_comfy.stop()
    status, body = await rig.health()
    assert status == 503
    assert "does not answer" in body["checks"]["comfyui"]["reason"]
    assert [part for part, check in body["checks"].items() if not check["ok"]] == ["comfyui"]


async def test_healthz_is_503_naming_the_database_when_it_is_closed(
    make_rig: RigFactory, tmp_path: Path
) -> None:
    async with Store(tmp_path / "checked.sqlite3") as checked:
        rig = await make_rig(operator_store=checked)
        assert (await rig.health())[0] == 200
        await checked.close()  # the database connection is gone
        status, body = await rig.health()
    assert status == 503
    assert not body["checks"]["database"]["ok"]
    assert body["checks"]["database"]["reason"]
    assert [part for part, check in body["checks"].items() if not check["ok"]] == ["database"]


async def test_healthz_is_503_naming_telegram_once_its_updates_stop(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    assert rig.adapter.connected
    await rig.adapter.stop()
    status, body = await rig.health()
    assert status == 503
    assert body["checks"]["telegram"] == {
        "ok": False,
        "reason": "Telegram updates are not coming in",
    }


# /metrics


async def test_a_played_turn_moves_the_counters(
    make_rig: RigFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    rig = await make_rig()
    before = await rig.metrics()
    assert before['storycraft_turns_total{platform="telegram"}'] == 0
    assert before["storycraft_stories_live{}"] == 0

    await play_first_part(tg)
    await clock.advance(30)  # nothing drawn since the bot started: ComfyUI idles
    after = await rig.metrics()

    assert after['storycraft_turns_total{platform="telegram"}'] == 1
    assert after['storycraft_turn_seconds_count{platform="telegram"}'] == 1
    assert after["storycraft_stories_live{}"] == 1
    assert after["storycraft_comfyui_idle_seconds{}"] == 30
    assert after["storycraft_narrator_queue_length{}"] == 0
    assert after["storycraft_narrator_wait_seconds_count{}"] == 0  # nobody had to wait
    assert after["storycraft_picture_queue_length{}"] == 0
    assert all(
        after[f'storycraft_failures_total{{reason="{reason.value}"}}'] == 0
        for reason in FailureReason
    )


async def test_a_drawn_picture_moves_the_picture_figures(
    make_rig: RigFactory, tg: FakeTelegram, clock: FakeClock
) -> None:
    rig = await make_rig(pictures=True)
    await play_first_part(tg)
    figures = await until_figure(rig, "storycraft_picture_wait_seconds_count{}")
    assert figures["storycraft_picture_wait_seconds_count{}"] == 1
    for _ in range(250):  # drawn: nothing waits or draws any more
        if not figures["storycraft_pictures_drawing{}"]:
            break
        await asyncio.sleep(0.02)
        figures = await rig.metrics()
    assert figures["storycraft_pictures_drawing{}"] == 0
    assert figures["storycraft_picture_queue_length{}"] == 0
    assert figures["storycraft_comfyui_idle_seconds{}"] == 0  # it has only just finished
    await clock.advance(12)
    assert (await rig.metrics())["storycraft_comfyui_idle_seconds{}"] == 12


async def test_a_failed_part_is_counted_by_its_reason(
    make_rig: RigFactory, tg: FakeTelegram, fake_ollama: FakeOllama
) -> None:
    rig = await make_rig()
    await fake_ollama.stop()  # the narrator cannot be reached
    alice = tg.user(ALICE_ID, "Alice")
    tg.send_text(tg.private_chat(alice), alice, "/story a lighthouse keeper")
    reason = 'storycraft_failures_total{reason="narrator_unavailable"}'
    figures = await until_figure(rig, reason)
    assert figures[reason] == 1
    assert figures['storycraft_turns_total{platform="telegram"}'] == 0


async def test_a_rate_limited_edit_is_counted_for_its_platform(
    make_rig: RigFactory, tg: FakeTelegram
) -> None:
    rig = await make_rig()
    message = await play_first_part(tg)
    tg.rate_limit("editMessageText", 2.0)  # past the rate limiter's retries (none)
    alice = tg.user(ALICE_ID, "Alice")
    tg.press(tg.private_chat(alice), alice, message["message_id"], "c:1:0")
    key = 'storycraft_rate_limited_total{platform="telegram"}'
    figures = await until_figure(rig, key)
    assert figures[key] >= 1
    assert figures['storycraft_rate_limited_total{platform="discord"}'] == 0


# Beside the web adapter


async def test_on_the_web_server_healthz_needs_no_token_and_metrics_does(
    make_core: CoreFactory,
    store: Store,
    gateway: OllamaGateway,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    core = make_core()
    operator = Operator(clock, store, gateway, FairNarratorQueue(lambda: 1, clock))
    config = WebConfig(port=0, token="s3cret", pictures_dir=tmp_path / "pictures")
    web = WebAdapter(core.engine, StoredScreens(store), config)
    web.app.add_routes(operator.routes())  # as bot.py does when METRICS_PORT is 0
    url = await web.start()
    operator.watch(Part.WEB, web)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/healthz") as response:
                assert response.status == 200
                assert (await response.json())["checks"]["web"] == {"ok": True}
            async with http.get(url + "/metrics") as response:
                assert response.status == 401
            bearer = {"Authorization": "Bearer s3cret"}
            async with http.get(url + "/metrics", headers=bearer) as response:
                assert response.status == 200
                assert "storycraft_turns_total" in await response.text()
            async with http.get(url + "/", allow_redirects=False) as response:
                assert response.status == 401  # the rest still needs the token
        await web.stop()
        health = await check_health(operator.probes)
        assert not health.healthy
        assert health.reasons[Part.WEB] == "the web adapter does not listen"
    finally:
        await web.stop()


async def test_a_taken_metrics_port_is_one_log_line(
    store: Store, gateway: OllamaGateway, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    operator = Operator(clock, store, gateway, FairNarratorQueue(lambda: 1, clock))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert await operator.serve_alone("127.0.0.1", port) is None
    assert f"/healthz and /metrics could not listen on 127.0.0.1:{port}" in caplog.text
    await operator.stop()  # nothing to stop: no error
