"""The narrator over the fake Ollama: prompts, streaming narration, repair, memory."""

from __future__ import annotations

import json

import pytest

from storycraft_bot.core.errors import MalformedReply
from storycraft_bot.core.models import Character, Language, Segment, SegmentState, StoryMemory
from storycraft_bot.core.ports import SegmentRequest
from storycraft_bot.narration.narrator import OllamaNarrator, build_messages
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from tests.fake_ollama import FakeOllama, Reply


def request(**changes: object) -> SegmentRequest:
    base: dict[str, object] = {
        "language": Language.RU,
        "genre": "фэнтези",
        "premise": "Потерянный ключ",
        "words": 100,
        "choices": 3,
        "memory": StoryMemory(),
        "recent": (),
        "chosen": "",
    }
    base.update(changes)
    return SegmentRequest(**base)  # type: ignore[arg-type]


def segment(index: int, narration: str, choices: tuple[str, ...], chosen: int | None) -> Segment:
    return Segment(index + 1, 1, index, SegmentState.DECIDED, narration, choices, "", chosen)


async def collect(narrator: OllamaNarrator, req: SegmentRequest) -> tuple[list[str], object]:
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    draft = await narrator.write_segment(req, on_text)
    return seen, draft


def test_messages_carry_the_language_memory_and_recent_choices() -> None:
    memory = StoryMemory("Ключ украли.", 2, (Character("Мара", "red-haired woman"),))
    recent = (segment(3, "У ворот.", ("Войти", "Уйти"), 0),)
    messages = build_messages(request(memory=memory, recent=recent, chosen="Войти"))

    assert messages[0]["role"] == "system"
    assert "по-русски" in messages[0]["content"]
    assert "Ключ украли." in messages[0]["content"]
    assert "Мара: red-haired woman" in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[-1]["content"] == "Игроки выбрали: Войти. Продолжай."


def test_english_prompt_and_a_surprise_premise() -> None:
    messages = build_messages(request(language=Language.EN, premise=""))
    assert "vivid English" in messages[0]["content"]
    assert messages[1]["content"] == "Begin the story. Premise: surprise me"


async def test_narration_is_reported_as_it_streams(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    narration = "Ветер гнал листья по пустой площади, и где-то звенел колокол."
    content = json.dumps(
        {"narration": narration, "choices": ["Идти", "Ждать", "Бежать"], "scene": "square"},
        ensure_ascii=False,
    )
    fake_ollama.then(Reply(content=content, chunk_size=10))

    seen, draft = await collect(OllamaNarrator(gateway), request())

    assert len(seen) > 3
    assert all(narration.startswith(s) for s in seen)
    assert seen[-1] == narration
    assert draft.choices == ("Идти", "Ждать", "Бежать")  # type: ignore[attr-defined]
    sent = fake_ollama.chat_requests("segment")[0]
    assert sent["format"]["properties"]["choices"]["minItems"] == 3
    assert sent["format"]["required"] == ["narration", "choices", "scene"]


async def test_plain_text_reply_is_repaired_without_asking_again(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content="Тьма.\n1. Зажечь свечу\n2. Ждать"))

    _, draft = await collect(OllamaNarrator(gateway), request())

    assert draft.choices == ("Зажечь свечу", "Ждать")  # type: ignore[attr-defined]
    assert len(fake_ollama.chat_requests()) == 1


async def test_a_hopeless_reply_is_asked_again_once(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content="{not json at all"))

    _, draft = await collect(OllamaNarrator(gateway), request())

    assert len(draft.choices) == 3  # type: ignore[attr-defined]
    second = fake_ollama.chat_requests()[1]
    assert "JSON object only" in second["messages"][-1]["content"]


async def test_two_hopeless_replies_raise_malformed(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(
        Reply(content="nothing useful"), Reply(content='{"narration": "x", "choices": []}')
    )

    with pytest.raises(MalformedReply):
        await collect(OllamaNarrator(gateway), request())


async def test_memory_update_folds_segments_into_summary_and_characters(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    old = StoryMemory("Earlier things.", 1, (Character("Old", "grey"),))
    segments = [
        segment(2, "Mara arrives.", ("a", "b"), 0),
        segment(3, "Mara leaves.", ("a", "b"), 1),
    ]

    memory = await OllamaNarrator(gateway).update_memory(Language.EN, old, segments)

    assert memory.summary_upto == 3
    assert memory.summary.startswith("Mara walked")
    assert memory.characters == (Character("Mara", "red-haired woman in a green cloak"),)
    sent = fake_ollama.chat_requests("memory")[0]["messages"][1]["content"]
    assert "Earlier things." in sent
    assert "Mara leaves." in sent


async def test_a_broken_memory_reply_raises(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content='{"summary": 5}'))

    with pytest.raises(MalformedReply):
        await OllamaNarrator(gateway).update_memory(
            Language.EN, StoryMemory(), [segment(0, "x", ("a", "b"), 0)]
        )
