"""/healthz and /metrics of a real `bot.py` process on METRICS_PORT (no web adapter),
playing in Telegram against the fake Bot API and the fake Ollama."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_ollama import FakeOllama
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.test_bot_cli import spawn_bot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def turns(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(url + "/metrics") as response:
        assert response.status == 200
        body = await response.text()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "storycraft_turns_total" and sample.labels == {
                "platform": "telegram"
            }:
                return sample.value
    raise AssertionError("no storycraft_turns_total for telegram")


async def test_bot_py_serves_healthz_and_metrics_on_their_own_port(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await spawn_bot(
        tmp_path,
        OLLAMA_URL=fake_ollama.url,
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.url,
        WEB_ENABLED="false",
        METRICS_PORT=str(port),
    )
    try:
        await tg.wait_until(lambda: tg.calls("getUpdates"))
        async with aiohttp.ClientSession() as http:
            for _ in range(500):  # the endpoints start right after the platforms
                try:
                    async with http.get(url + "/healthz") as response:
                        status, health = response.status, await response.json()
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            assert status == 200
            assert set(health["checks"]) == {"database", "ollama", "telegram"}
            assert await turns(http, url) == 0
            alice = tg.user(501, "Alice")
            chat = tg.private_chat(alice)
            tg.send_text(chat, alice, "/story A storm at sea")
            await tg.wait_until(
                lambda: next(
                    (m for m in tg.bot_messages(chat["id"]) if m.get("reply_markup")), None
                )
            )
            assert await turns(http, url) == 1
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    assert "Traceback" not in (await process.stderr.read()).decode()
