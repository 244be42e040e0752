"""The narrator over the fake Ollama: prompts, streaming narration, repair, memory."""

from __future__ import annotations

import asyncio
import json

import pytest

from storycraft_bot.core.errors import MalformedReply
from storycraft_bot.core.models import (
    CHOICE_MAX_CHARS,
    Character,
    Language,
    Segment,
    SegmentDraft,
    SegmentState,
    StoryMemory,
)
from storycraft_bot.core.ports import SegmentRequest
from storycraft_bot.narration.memory_reply import MemoryReply
from storycraft_bot.narration.narrator import OllamaNarrator, build_messages
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.narration.reply_parsing import (
    CHOICE_MAX_WORDS,
    NARRATION_CHARS_PER_WORD,
    SCENE_MAX_CHARS,
    ReplyBounds,
    reply_model,
    segment_schema,
)
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
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(content=content, chunk_size=10, pace=pace))
    seen: list[str] = []
    grew = asyncio.Event()

    async def on_text(text: str) -> None:
        seen.append(text)
        grew.set()

    writing = asyncio.create_task(OllamaNarrator(gateway).write_segment(request(), on_text))
    pace.release()  # '{"narratio': nothing to show yet
    for shown in range(1, 5):  # then each chunk of the narration is shown before the next
        grew.clear()
        pace.release()
        await asyncio.wait_for(grew.wait(), 5)
        assert len(seen) == shown
    for _ in range(len(content)):  # the rest, however it arrives
        pace.release()
    draft = await writing

    assert len(seen) > 3
    assert all(narration.startswith(s) for s in seen)
    assert seen[-1] == narration
    assert draft.choices == ("Идти", "Ждать", "Бежать")
    sent = fake_ollama.chat_requests("segment")[0]
    assert sent["format"]["properties"]["choices"]["minItems"] == 3
    assert sent["format"]["required"] == ["narration", "choices", "scene", "new_scene"]


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


async def test_the_schema_bounds_the_reply_and_num_predict_follows_the_length(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    await collect(OllamaNarrator(gateway), request(words=100, choices=3))

    sent = fake_ollama.chat_requests("segment")[0]
    bounds = ReplyBounds.for_request(100, 3)
    assert sent["format"] == segment_schema(bounds)
    assert sent["format"]["properties"] == reply_model(bounds).model_json_schema()["properties"]
    props = sent["format"]["properties"]
    assert (props["choices"]["minItems"], props["choices"]["maxItems"]) == (3, 3)
    assert props["choices"]["items"]["maxLength"] == CHOICE_MAX_CHARS
    assert props["choices"]["items"]["minLength"] == 1
    assert props["narration"]["maxLength"] == 100 * NARRATION_CHARS_PER_WORD
    assert props["scene"]["maxLength"] == SCENE_MAX_CHARS
    assert sent["options"]["num_predict"] == bounds.num_predict
    longer = await collect(OllamaNarrator(gateway), request(words=300, choices=3))
    assert longer is not None
    wider = fake_ollama.chat_requests("segment")[1]["options"]["num_predict"]
    assert wider > bounds.num_predict


async def test_an_empty_choice_is_dropped_without_asking_again(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply.segment("A fork in the road.", ["Go left", "", "Wait"], "a fork"))

    _, draft = await collect(OllamaNarrator(gateway), request(words=5))

    assert isinstance(draft, SegmentDraft)
    assert draft.choices == ("Go left", "Wait")
    assert draft.repaired
    assert len(fake_ollama.chat_requests("segment")) == 1


async def test_empty_and_wordy_choices_are_asked_again_or_cut(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    wordy = "walk slowly and carefully along the narrow winding path " * 3
    fake_ollama.then(
        Reply.segment("A fork in the road.", ["", " ", "Go"], "a fork"),
        Reply.segment("A fork in the road.", [wordy, "Stay"], "a fork"),
    )

    _, draft = await collect(OllamaNarrator(gateway), request(words=5, choices=2))

    assert isinstance(draft, SegmentDraft)
    assert len(fake_ollama.chat_requests("segment")) == 2
    assert len(draft.choices[0].rstrip("…").split()) == CHOICE_MAX_WORDS
    assert draft.choices[1] == "Stay"


async def test_an_over_long_narration_is_cut_at_a_sentence_and_never_shown_longer(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    long = "The wind howls over the moor. " * 60  # 1800 characters, the cap is 500
    fake_ollama.then(Reply.segment(long, ["Run", "Hide"], "a moor"))

    seen, draft = await collect(OllamaNarrator(gateway), request(words=50, choices=2))

    assert isinstance(draft, SegmentDraft)
    limit = 50 * NARRATION_CHARS_PER_WORD
    assert len(draft.narration) <= limit
    assert draft.narration.endswith("moor.")
    assert draft.choices == ("Run", "Hide")
    assert max(len(text) for text in seen) <= limit


async def test_a_reply_cut_at_the_token_cap_is_asked_again_shorter(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    runaway = "On and on the story goes " * 400  # far past num_predict
    fake_ollama.then(Reply.segment(runaway, ["Run", "Hide"], "a moor"))

    _, draft = await collect(OllamaNarrator(gateway), request(words=50, choices=3))

    assert isinstance(draft, SegmentDraft)
    assert draft.narration.startswith("Part 1.")  # the second, well-behaved reply
    second = fake_ollama.chat_requests("segment")[1]["messages"][-1]["content"]
    assert "too long" in second
    assert "50 words" in second


@pytest.mark.parametrize(
    ("summary", "cast"),
    [
        ("Mara walked on.", [("<sep>", "looks <sep>")]),
        ("Mara walked on. <|eot_id|>", [("Mara", "red hair")]),
        ("Mara walked on.", [("", "red hair")]),
        ("Mara walked on.", [("name", "description")]),
        ("Mara walked on.", [("Mara", "red hair</s>")]),
        ("...", [("Mara", "red hair")]),
    ],
)
async def test_a_nonsense_memory_is_refused(
    gateway: OllamaGateway, fake_ollama: FakeOllama, summary: str, cast: list[tuple[str, str]]
) -> None:
    fake_ollama.then(Reply.memory(summary, cast))

    with pytest.raises(MalformedReply, match="memory reply refused"):
        await OllamaNarrator(gateway).update_memory(
            Language.EN, StoryMemory(), [segment(0, "x", ("a", "b"), 0)]
        )
    sent = fake_ollama.chat_requests("memory")[0]
    assert sent["format"] == MemoryReply.model_json_schema()
    assert sent["options"]["num_predict"] == MemoryReply.num_predict()


async def test_a_good_memory_reply_is_trimmed_and_kept(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply.memory("  Mara walked on.  ", [(" Mara ", " red  hair ")]))

    memory = await OllamaNarrator(gateway).update_memory(
        Language.EN, StoryMemory(), [segment(0, "x", ("a", "b"), 0)]
    )

    assert memory.summary == "Mara walked on."
    assert memory.characters == (Character("Mara", "red hair"),)


async def test_a_reply_asked_again_first_takes_back_what_it_streamed(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    runaway = "On and on the story goes " * 400
    fake_ollama.then(Reply.segment(runaway, ["Run", "Hide"], "a moor"))

    seen, draft = await collect(OllamaNarrator(gateway), request(words=50, choices=3))

    taken_back = seen.index("")
    assert seen[:taken_back]
    assert all(runaway.startswith(t) for t in seen[:taken_back])
    assert seen[taken_back + 1 :]
    assert isinstance(draft, SegmentDraft)
    assert all(draft.narration.startswith(t) for t in seen[taken_back + 1 :])
