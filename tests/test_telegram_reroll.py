"""Telegram: re-rolling only the choices of the open part (issue 16) through the real
python-telegram-bot against the fake Bot API: the starter gets new choices on the same
message in one small request, others and stale buttons are refused in the answer."""

from __future__ import annotations

from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama
from tests.fake_telegram import FakeTelegram
from tests.test_telegram import (
    REROLL,
    BotFactory,
    answer_of,
    keyboard,
    make_bot,
    story_message,
    wait_story,
)

__all__ = ["make_bot"]  # the fixture, shared with the Telegram tests


async def test_the_starter_rerolls_the_choices_on_the_same_message(
    make_bot: BotFactory, tg: FakeTelegram, fake_ollama: FakeOllama, store: Store
) -> None:
    await make_bot()
    alice, bob = tg.user(801, "Alice"), tg.user(802, "Bob")
    group = tg.group_chat(-1010)
    tg.send_text(group, alice, "/story")
    first = await wait_story(tg, group["id"], 1)
    reroll = dict(keyboard(first))[REROLL]
    narration = first.get("text", first.get("caption", ""))

    refused = tg.press(group, bob, first["message_id"], reroll)
    assert await answer_of(tg, refused) == (
        "Only the person who started the story or a moderator can do that."
    )
    assert fake_ollama.chat_requests("choices") == []
    asked = tg.press(group, alice, first["message_id"], reroll)
    assert await answer_of(tg, asked) == "The narrator is thinking of other choices…"

    def shown() -> list[str]:
        return [label for label, _ in keyboard(tg.messages[(group["id"], first["message_id"])])]

    await tg.wait_until(lambda: "Another path 1" in shown())
    assert [label for label in shown() if label.startswith("Another path")] == [
        "Another path 1",
        "Another path 2",
        "Another path 3",
    ]
    assert REROLL in shown()
    again = tg.messages[(group["id"], first["message_id"])]
    assert again.get("text", again.get("caption", "")).startswith(narration.split("\n\n")[0])
    newest = story_message(tg, group["id"])
    assert newest is not None
    assert newest["message_id"] == first["message_id"]  # edited in place, none posted anew
    assert len(fake_ollama.chat_requests("choices")) == 1  # one small request
    assert len(fake_ollama.chat_requests("segment")) == 1  # the narration kept
    segments = await store.live_segments(1)
    assert segments[-1].choices[:3] == ("Another path 1", "Another path 2", "Another path 3")


async def test_a_reroll_on_an_old_part_changes_nothing(
    make_bot: BotFactory, tg: FakeTelegram, fake_ollama: FakeOllama
) -> None:
    await make_bot()
    alice = tg.user(811, "Alice")
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "/story")
    first = await wait_story(tg, chat["id"], 1)
    old_reroll = dict(keyboard(first))[REROLL]
    await answer_of(tg, tg.press(chat, alice, first["message_id"], keyboard(first)[0][1]))
    await wait_story(tg, chat["id"], 2)

    stale = tg.press(chat, alice, first["message_id"], old_reroll)
    assert await answer_of(tg, stale) == "This part is over."
    assert fake_ollama.chat_requests("choices") == []
