"""English picture prompts: the model's, cached; the rule's when the model fails."""

from __future__ import annotations

import json

from storycraft_bot.core.models import Character, Rating, Segment, SegmentState, StoryMemory
from storycraft_bot.core.rating import RATING_NEGATIVE, merge_negative
from storycraft_bot.narration.image_prompts import (
    MODEL_PROMPT_MAX_CHARS,
    PROMPT_MAX_CHARS,
    PROMPT_MAX_WORDS,
    ModelPromptWriter,
    fit_prompt,
    rule_prompt,
)
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from tests.fake_ollama import FakeOllama, Reply

MEMORY = StoryMemory(
    "", -1, (Character("Mara", "red-haired woman in a green cloak"), Character("Oskar", "old man"))
)
SEGMENT = Segment(
    1, 1, 0, SegmentState.OPEN, "Мара входит в башню.", ("a", "b"), "a woman enters a tower"
)


async def test_the_model_writes_it_and_the_looks_of_who_is_there_are_added(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    writer = ModelPromptWriter(gateway, "qwen2.5:3b")
    segment = Segment(1, 1, 0, SegmentState.OPEN, "Mara enters the tower.", ("a", "b"), "a tower")

    prompt = await writer.image_prompt("fantasy", segment, MEMORY)

    assert prompt.source == "model"
    assert prompt.positive.startswith("a wanderer at a misty crossroads")
    assert "red-haired woman in a green cloak" in prompt.positive
    assert "old man" not in prompt.positive  # Oskar is not in this scene
    assert "epic fantasy art" in prompt.positive
    assert "watermark" in prompt.negative
    assert fake_ollama.chat_requests("prompt")[0]["model"] == "qwen2.5:3b"


async def test_identical_requests_are_answered_from_the_cache(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    writer = ModelPromptWriter(gateway, "qwen2.5:3b")

    first = await writer.image_prompt("fantasy", SEGMENT, MEMORY)
    second = await writer.image_prompt("fantasy", SEGMENT, MEMORY)
    other = await writer.image_prompt("horror", SEGMENT, MEMORY)

    assert first == second
    assert other != first
    assert len(fake_ollama.chat_requests("prompt")) == 2


async def test_a_failing_model_gives_the_rule_prompt(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(content='{"prompt": ""}'))
    writer = ModelPromptWriter(gateway, "qwen2.5:3b")

    prompt = await writer.image_prompt("киберпанк", SEGMENT, MEMORY)

    assert prompt.source == "rule"
    assert prompt.positive.startswith("a woman enters a tower, cyberpunk, neon")


def test_the_rule_prompt_is_english_even_for_a_russian_genre_without_a_scene() -> None:
    segment = Segment(1, 1, 0, SegmentState.OPEN, "Мара спит.", ("a", "b"), "")
    prompt = rule_prompt("сказка", segment, MEMORY)
    assert prompt.positive.isascii()
    assert prompt.positive.startswith("a story scene, storybook illustration")


async def test_the_prompt_request_is_bounded_and_an_overlong_reply_falls_back(
    gateway: OllamaGateway, fake_ollama: FakeOllama
) -> None:
    rambling = ", ".join(f"detail number {n}" for n in range(28))  # 84 words
    fake_ollama.then(Reply(content=json.dumps({"prompt": rambling})))
    writer = ModelPromptWriter(gateway, "qwen2.5:3b")

    prompt = await writer.image_prompt("fantasy", SEGMENT, MEMORY)

    sent = fake_ollama.chat_requests("prompt")[0]
    assert sent["format"]["properties"]["prompt"]["maxLength"] == MODEL_PROMPT_MAX_CHARS
    assert sent["options"]["num_predict"] > 0
    assert prompt.source == "rule"
    assert "detail number" not in prompt.positive


def test_every_prompt_fits_one_text_encoder_chunk() -> None:
    scene = "a knight " + "and another knight " * 40 + "on a bridge"
    segment = Segment(1, 1, 0, SegmentState.OPEN, "Mara and Oskar.", ("a", "b"), scene)

    prompt = rule_prompt("fantasy", segment, MEMORY)

    assert len(prompt.positive.split()) <= PROMPT_MAX_WORDS
    assert len(prompt.positive) <= PROMPT_MAX_CHARS
    assert prompt.positive.startswith("a knight and another knight")


def test_fitting_keeps_whole_phrases_in_order_of_importance() -> None:
    looks = "red-haired woman in a green cloak"
    parts = ["a tower at night", looks, "epic fantasy art, painterly", "word " * 60]

    fitted = fit_prompt(parts)

    assert fitted.startswith(f"a tower at night, {looks}, epic fantasy art, painterly")
    assert "word" not in fitted  # the phrase that does not fit is left out whole


def test_negative_prompts_merge_each_phrase_once_in_order() -> None:
    workflow_own = "ugly, NSFW"
    merged = merge_negative(workflow_own, "lowres, nsfw", RATING_NEGATIVE[Rating.TEEN])
    assert merged == "ugly, NSFW, lowres, nudity, explicit, gore"
    assert merge_negative("", RATING_NEGATIVE[Rating.MATURE]) == ""
