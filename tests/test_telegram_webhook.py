"""Telegram by webhook: python-telegram-bot's application fed by our aiohttp route, the
fake Bot API POSTing updates to it as Telegram does (with the secret header); a request
without the right secret is refused and changes nothing."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram_bot import TelegramAdapter, TelegramConfig
from adapters.telegram_webhook import SECRET_HEADER
from storycraft_bot.core.models import ChannelKey, Platform
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.storage.sqlite import Store
from tests.conftest import CoreFactory
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.test_bot_cli import run_bot, spawn_bot

SECRET = "s3cret-Token_42"
ALICE_ID = 601


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


AdapterFactory = Callable[..., Awaitable[TelegramAdapter]]


@pytest.fixture
async def start_bot(
    tg: FakeTelegram, make_core: CoreFactory, store: Store
) -> AsyncIterator[AdapterFactory]:
    adapters: list[TelegramAdapter] = []

    async def start(**changes: Any) -> TelegramAdapter:
        core = make_core()
        port = free_port()
        settings: dict[str, Any] = {
            "token": TOKEN,
            "base_url": tg.base_url,
            "base_file_url": tg.file_url,
            "private_edit_interval": 0.05,
            "overall_rate": 1000,
            "group_rate": 1000,
            "poll_timeout": 1,
            "webhook_url": f"http://127.0.0.1:{port}/telegram",
            "webhook_secret": SECRET,
            "webhook_port": port,
        }
        adapter = TelegramAdapter(
            core.engine, StoredScreens(store), TelegramConfig(**{**settings, **changes})
        )
        core.router.register(Platform.TELEGRAM, adapter)
        await adapter.start()
        adapters.append(adapter)
        await core.engine.resume()
        return adapter

    yield start
    for adapter in adapters:
        await adapter.stop()


def story_update(tg: FakeTelegram, update_id: int = 9000) -> dict[str, Any]:
    """A /story message as Telegram would POST it (not sent: the test forges it)."""
    alice = tg.user(ALICE_ID, "Alice")
    message = {
        "message_id": 77,
        "from": alice,
        "chat": tg.private_chat(alice),
        "date": 1_800_000_000,
        "text": "/story a forged tale",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": update_id, "message": message}


async def test_the_webhook_is_set_with_its_secret_and_nothing_polls(
    start_bot: AdapterFactory, tg: FakeTelegram
) -> None:
    adapter = await start_bot()
    assert tg.webhook is not None
    assert tg.webhook["secret_token"] == SECRET
    assert tg.webhook["url"].endswith("/telegram")
    (call,) = tg.calls("setWebhook")
    assert call["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert not tg.calls("getUpdates")
    assert adapter.connected
    await adapter.stop()
    assert not adapter.connected
    assert tg.webhook is not None  # left for the other processes behind the same URL


async def test_an_update_with_the_secret_plays_a_turn(
    start_bot: AdapterFactory, tg: FakeTelegram
) -> None:
    await start_bot()
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story A storm at sea")  # POSTed to the webhook
    story = await tg.wait_until(
        lambda: next((m for m in tg.bot_messages(chat["id"]) if m.get("reply_markup")), None)
    )
    assert story["text"].startswith("Part 1.")
    press = tg.press(chat, alice, story["message_id"], "c:1:0")
    await tg.wait_until(lambda: press in tg.answered)
    await tg.wait_until(
        lambda: any(m.get("text", "").startswith("Part 2.") for m in tg.bot_messages(chat["id"]))
    )
    assert tg.webhook_answers
    assert set(tg.webhook_answers) == {200}
    assert not tg.calls("getUpdates")


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
async def test_a_forged_update_is_refused_and_changes_nothing(
    start_bot: AdapterFactory,
    tg: FakeTelegram,
    store: Store,
    caplog: pytest.LogCaptureFixture,
    secret: str | None,
) -> None:
    await start_bot()
    assert await tg.post_update(story_update(tg), secret) == 403
    assert "telegram webhook: refused a request" in caplog.text
    # A genuine update afterwards is handled: had the forged one been queued, it would
    # have started the story first.
    genuine = story_update(tg, update_id=9001)
    genuine["message"]["text"] = "/story the real tale"
    assert await tg.post_update(genuine, SECRET) == 200
    await tg.wait_until(lambda: tg.calls("sendMessage") or tg.calls("sendMessageDraft"))
    session = await store.live_session(ChannelKey(Platform.TELEGRAM, str(ALICE_ID)))
    assert session is not None
    assert session.premise == "the real tale"


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"no": "update_id"}', b'{"update_id": "x"}']
)
async def test_a_body_that_is_no_update_is_refused(
    start_bot: AdapterFactory, tg: FakeTelegram, body: bytes
) -> None:
    await start_bot()
    assert tg.webhook is not None
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(tg.webhook["url"], data=body, headers=headers) as response,
    ):
        assert response.status == 400
    assert not tg.calls("sendMessage")


async def test_without_a_url_it_polls_as_before(
    start_bot: AdapterFactory, tg: FakeTelegram
) -> None:
    adapter = await start_bot(webhook_url="", webhook_secret="")
    await tg.wait_until(lambda: tg.calls("getUpdates"))
    assert not tg.calls("setWebhook")
    assert adapter.connected


async def test_bot_py_takes_updates_by_webhook(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    port = free_port()
    process = await spawn_bot(
        tmp_path,
        OLLAMA_URL=fake_ollama.url,
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=tg.url,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_WEBHOOK_PORT=str(port),
        WEB_ENABLED="false",
    )
    try:
        await tg.wait_until(lambda: tg.webhook, seconds=20)
        assert await tg.post_update(story_update(tg), "forged") == 403
        alice = tg.user(ALICE_ID, "Alice")
        chat = tg.private_chat(alice)
        tg.send_text(chat, alice, "/story A storm at sea")
        story = await tg.wait_until(
            lambda: next((m for m in tg.bot_messages(chat["id"]) if m.get("reply_markup")), None)
        )
        assert "A storm at sea" in story["text"]
        assert not tg.calls("getUpdates")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    log = (await process.stderr.read()).decode()
    assert "Traceback" not in log
    assert "refused a request with a wrong secret" in log
    assert SECRET not in log  # the secret never reaches the log


async def test_a_taken_webhook_port_leaves_telegram_off_in_one_line(
    tmp_path: Path, fake_ollama: FakeOllama, tg: FakeTelegram
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await run_bot(
            tmp_path,
            OLLAMA_URL=fake_ollama.url,
            TELEGRAM_TOKEN=TOKEN,
            TELEGRAM_API_URL=tg.url,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_WEBHOOK_PORT=str(port),
            WEB_ENABLED="false",
        )
    assert code == 1
    assert f"the Telegram webhook could not listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
