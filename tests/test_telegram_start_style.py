"""Telegram: a picture style chosen with a leading `style=<name>` word of /story reaches
every picture's prompt; an unknown one is refused in the chat's language and starts
nothing, through the real python-telegram-bot against the fake Bot API and ComfyUI."""

from __future__ import annotations

import json

from storycraft_bot.core.models import ChannelKey, Platform, StoryLength
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import FakeTelegram
from tests.test_discord_start_style import prompts
from tests.test_telegram import BotFactory, make_bot, wait_story

__all__ = ["make_bot"]  # the fixture, shared with the Telegram tests

TALE = StyleBook().styles["fairy tale"]
FANTASY = StyleBook().styles["fantasy"]  # the default genre's style


async def test_a_style_word_before_the_premise_is_in_every_pictures_prompt(
    make_bot: BotFactory, tg: FakeTelegram, fake_comfy: FakeComfyUI, store: Store
) -> None:
    await make_bot(comfy=fake_comfy)
    alice = tg.user(701, "Alice")
    group = tg.group_chat(-1009)
    tg.send_text(group, alice, "/story length=short style=fairy_tale The lost key")
    await wait_story(tg, group["id"], 1)
    await tg.wait_until(lambda: fake_comfy.posted_prompts())

    positive = prompts(fake_comfy, "Positive Prompt")
    assert positive
    assert all(TALE.positive in p for p in positive)
    assert not any(FANTASY.positive in p for p in positive)
    assert all(TALE.negative in n for n in prompts(fake_comfy, "Negative Prompt"))
    session = await store.live_session(ChannelKey(Platform.TELEGRAM, str(group["id"])))
    assert session is not None
    assert (session.settings.style, session.premise) == ("fairy tale", "The lost key")


async def test_an_unknown_style_is_refused_in_russian_and_starts_nothing(
    make_bot: BotFactory,
    tg: FakeTelegram,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    store: Store,
) -> None:
    await make_bot(comfy=fake_comfy)
    ivan = tg.user(702, "Иван", language="ru")
    chat = tg.private_chat(ivan)
    tg.send_text(chat, ivan, "/story style=акварель Потерянный ключ")

    refusal = await tg.wait_until(
        lambda: next(
            (m for m in tg.bot_messages(chat["id"]) if "стиля нет" in m.get("text", "")), None
        )
    )
    assert refusal["text"] == (
        "Такого стиля нет. Есть: fantasy, sci-fi, horror, mystery, fairy tale, cyberpunk, painting."
    )
    assert await store.live_session(ChannelKey(Platform.TELEGRAM, str(chat["id"]))) is None
    assert fake_ollama.chat_requests("segment") == []
    assert fake_comfy.posted_prompts() == []


async def test_a_card_caption_takes_the_same_leading_words(
    make_bot: BotFactory, tg: FakeTelegram, store: Store
) -> None:
    await make_bot()
    alice = tg.user(703, "Alice")
    chat = tg.private_chat(alice)
    card = json.dumps(card_json(name="Orrin")).encode()
    tg.send_document(chat, alice, card, "o.json", caption="/story style=mystery length=short")
    await wait_story(tg, chat["id"], 1)

    session = await store.live_session(ChannelKey(Platform.TELEGRAM, str(chat["id"])))
    assert session is not None
    assert (session.settings.style, session.settings.length) == ("mystery", StoryLength.SHORT)
    assert "style=" not in session.premise  # the card's premise, not the option words
