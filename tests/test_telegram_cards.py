"""Telegram: a story from a character card sent as a document captioned /story (or a
/story reply to one), a lorebook captioned /lorebook, and bad files refused in the chat,
through the real python-telegram-bot against the fake Bot API and its file server."""

from __future__ import annotations

import json
from typing import Any

from storycraft_bot.core.models import ChannelKey, Platform
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json, card_png, world_info
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import BotFactory, make_bot, wait_story

__all__ = ["make_bot"]  # the fixture, shared with the Telegram tests

ALICE_ID = 601
LORE = world_info(
    {"key": ["crossroads"], "content": "The drowned walk at crossroads."},
    {"key": [], "content": "Salt rain falls every evening.", "constant": True},
)


def bot_texts(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m.get("text", "") for m in tg.bot_messages(chat_id)]


async def bot_said(tg: FakeTelegram, chat_id: int, words: str) -> str:
    found: str = await tg.wait_until(
        lambda: next((t for t in bot_texts(tg, chat_id) if words in t), None)
    )
    return found


async def test_a_card_captioned_story_starts_it_and_a_lorebook_follows(
    make_bot: BotFactory, tg: FakeTelegram, store: Store, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    tg.send_document(
        chat, alice, card_png(card_json("chara_card_v3"), "ccv3"), "mira.png", caption="/story"
    )
    first = await wait_story(tg, chat["id"], 1)
    session = await store.latest_session(ChannelKey(Platform.TELEGRAM, str(chat["id"])))
    assert session is not None
    assert session.premise.startswith("Mira finds a message in a bottle")
    card = await store.story_card(session.id)
    assert card is not None
    assert card.personality == "Curious, stubborn, kind to Alice."
    system = fake_ollama.chat_requests("segment")[0]["messages"][0]["content"]
    assert "The main character is <<<Mira>>>" in system

    tg.send_document(chat, alice, LORE, "world.json", caption="/lorebook")
    await bot_said(tg, chat["id"], "Lorebook attached to the story: 2 entries.")
    choice = first["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    tg.press(chat, alice, first["message_id"], choice)
    await wait_story(tg, chat["id"], 2)
    second = fake_ollama.chat_requests("segment")[1]["messages"][0]["content"]
    assert "<<<The drowned walk at crossroads.>>>" in second
    assert "<<<Salt rain falls every evening.>>>" in second


async def test_a_story_reply_to_a_card_starts_from_it(
    make_bot: BotFactory, tg: FakeTelegram, store: Store
) -> None:
    await make_bot()
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    sent = tg.send_document(chat, alice, json.dumps(card_json(name="Orrin")).encode(), "o.json")
    tg.reply_text(chat, alice, "/story A storm at sea", to=sent)
    await wait_story(tg, chat["id"], 1)
    session = await store.latest_session(ChannelKey(Platform.TELEGRAM, str(chat["id"])))
    assert session is not None
    assert session.premise == "A storm at sea"  # typed with the card: it wins
    card = await store.story_card(session.id)
    assert card is not None
    assert card.name == "Orrin"


async def test_bad_files_are_refused_with_their_reason(
    make_bot: BotFactory, tg: FakeTelegram, store: Store
) -> None:
    await make_bot()
    alice = tg.user(ALICE_ID, "Alice")
    chat = tg.private_chat(alice)
    hostile: list[tuple[bytes, dict[str, Any], str]] = [
        (
            json.dumps(card_json(scenario="<script>x</script>")).encode(),
            {},
            "The field data.scenario holds a script or active HTML",
        ),
        (b"\x89PNG\r\n\x1a\n", {}, "The card in the file is damaged: PNG"),
        (b"{}", {"size": 50 * 1024 * 1024}, "The file is too large: 51200 KB"),
    ]
    for data, more, reason in hostile:
        tg.send_document(chat, alice, data, "card.png", caption="/story", **more)
        await bot_said(tg, chat["id"], reason)
    tg.send_document(chat, alice, b"{}", "c.json", caption="/story@OtherBot")  # not for us
    tg.send_text(chat, alice, "/lorebook")
    await bot_said(tg, chat["id"], "with /lorebook as its caption")
    assert len(tg.downloads_offered) == 2  # the one claiming 50 MB was never fetched
    assert await store.latest_session(ChannelKey(Platform.TELEGRAM, str(chat["id"]))) is None
