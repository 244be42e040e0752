"""`make eval`: its measures on known text, and its tally of a story played on the fake."""

from __future__ import annotations

import json

import pytest

from bench.eval_metrics import (
    cast_keeping,
    choice_similarity,
    in_language,
    script_share,
    word_count,
)
from bench.eval_run import EvalPlan, evaluate_model
from bench.eval_table import render
from bench.story_eval import main
from storycraft_bot.core.arc import PLANNED_PARTS
from storycraft_bot.core.models import Character, Language, StoryLength
from tests.fake_ollama import FakeOllama, Reply


def test_script_detection_tells_russian_from_english() -> None:
    russian = "Ты стоишь у маяка, и ветер гонит волны к скалам. Elara молчит."
    english = "You stand by the lighthouse while the wind drives waves onto the rocks."
    assert in_language(russian, Language.RU)
    assert not in_language(russian, Language.EN)
    assert in_language(english, Language.EN)
    assert not in_language(english, Language.RU)
    half = "Ты стоишь у маяка. You stand by the lamp."
    share = script_share(half, Language.RU)
    assert share is not None
    assert 0.3 < share < 0.7
    assert not in_language(half, Language.RU)
    assert script_share("123 … !!!", Language.EN) is None
    assert word_count("Один, два — three.") == 3


def test_choice_similarity_ranks_copies_above_distinct_choices() -> None:
    copies = choice_similarity(["Open the door", "Open the door.", "the door, open"])
    distinct = choice_similarity(["Climb the tower", "Ask the fisherman", "Hide in the cellar"])
    assert copies is not None
    assert distinct is not None
    assert copies > 0.9
    assert distinct < 0.5
    assert choice_similarity(["only one"]) is None


def test_cast_keeping_counts_renamed_characters_and_changed_looks() -> None:
    mara = Character("Mara", "red-haired woman in a green cloak")
    first = (mara, Character("Old Tom", "bearded fisherman with a pipe"))
    second = (
        Character("mara", "red haired woman in a green cloak"),  # same, case aside
        Character("Thomas", "bearded fisherman with a pipe"),  # renamed
    )
    third = (Character("Mara", "a tall robot made of brass gears"),)  # new looks
    kept = cast_keeping([first, second, third])
    assert (kept.names_seen, kept.names_kept) == (4, 2)  # Old Tom, then Thomas, are lost
    assert (kept.looks_compared, kept.looks_kept) == (2, 1)
    assert cast_keeping([first]).names_seen == 0


async def test_a_played_story_counts_repaired_and_failed_parts() -> None:
    fake = FakeOllama()
    await fake.start()
    good = {"narration": "You wake in a boat.", "choices": ["Row", "Swim", "Wait"], "scene": ""}
    fake.then(
        Reply(content="Sure! Here it is: " + json.dumps(good)),  # chatter: repaired
        Reply(content="I cannot continue this story."),  # unusable twice: the part fails
        Reply(content="Still nothing useful."),
    )
    plan = EvalPlan(stories=1, parts=4, languages=(Language.EN,), genres=("sea",), words=40)
    try:
        tally = await evaluate_model(fake.url, fake.models[0], plan)
    finally:
        await fake.stop()
    assert (tally.valid, tally.repaired, tally.failed) == (0, 1, 1)
    assert tally.stories == 1
    assert tally.words == [5]
    assert tally.in_language == 1
    assert len(tally.seconds) == 2
    # The story ended at the failed part: no further part was asked for.
    assert len(fake.chat_requests("segment")) == 3  # part 1, part 2 and its second try
    table = render([tally])
    assert "| failed parts | 1 (50%) |" in table
    assert "| endings reached in short stories | n/a (no short story played) |" in table


@pytest.mark.parametrize("language", [Language.RU, Language.EN])
async def test_the_fake_model_plays_whole_stories_with_memory(language: Language) -> None:
    fake = FakeOllama()
    await fake.start()
    plan = EvalPlan(stories=2, parts=5, languages=(language,), genres=("fantasy",))
    try:
        tally = await evaluate_model(fake.url, fake.models[0], plan)
    finally:
        await fake.stop()
    assert (tally.valid, tally.repaired, tally.failed) == (10, 0, 0)
    # The fake writes English: its Russian stories are never in their language.
    assert tally.in_language == (10 if language is Language.EN else 0)
    assert tally.memory_kept == 2 * 2  # parts 4 and 5 fold one part each
    assert sum(c.names_kept for c in tally.cast) == sum(c.names_seen for c in tally.cast) > 0


def test_make_eval_without_a_server_says_it_measures_the_pipeline_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OLLAMA_URL", raising=False)
    assert main(["--stories", "2", "--parts", "2", "--languages", "ru", "--short", "0"]) == 0
    out = capsys.readouterr().out
    assert "measure the pipeline only" in out
    assert "| stories / parts asked | 2 / 4 |" in out
    assert "| parts in the story's language | 0 (0%) |" in out  # the fake writes English
    assert "| endings reached in short stories | n/a (no short story played) |" in out
    assert "endings:" not in out


def test_make_eval_on_a_server_needs_a_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OLLAMA_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("OLLAMA_MODEL", raising=False)
    monkeypatch.delenv("STORY_MODEL", raising=False)
    assert main([]) == 2
    assert "set OLLAMA_MODEL" in capsys.readouterr().out


def system_prompt(request: dict[str, object]) -> str:
    messages = request["messages"]
    assert isinstance(messages, list)
    return str(messages[0]["content"])


async def test_a_short_story_played_to_its_ending_is_counted() -> None:
    fake = FakeOllama()
    await fake.start()
    plan = EvalPlan(stories=2, parts=3, languages=(Language.EN,), short_share=0.5)
    try:
        tally = await evaluate_model(fake.url, fake.models[0], plan)
    finally:
        await fake.stop()
    short = PLANNED_PARTS[StoryLength.SHORT]
    assert (plan.is_short(0), plan.is_short(1)) == (False, True)  # the last one is short
    assert (tally.stories, tally.short_stories, tally.endings) == (2, 1, 1)
    assert tally.ending_parts == [short]
    assert tally.parts == 3 + short  # the short story ignores --parts
    # The narrator was asked for exactly one ending: the short story's last part.
    requests = fake.chat_requests("segment")
    endings = [r for r in requests if "last part of the story" in system_prompt(r)]
    assert len(endings) == 1
    assert requests[-1] is endings[0]
    assert "| endings reached in short stories | 1/1 (100%) |" in render([tally])


async def test_a_short_story_that_fails_before_its_ending_counts_none() -> None:
    fake = FakeOllama()
    await fake.start()
    good = Reply.segment("You wake in a boat.", ["Row", "Swim", "Wait"])
    fake.then(good, good, Reply(content="I cannot go on."), Reply(content="Nor now."))
    plan = EvalPlan(stories=1, parts=3, languages=(Language.EN,), short_share=1.0)
    try:
        tally = await evaluate_model(fake.url, fake.models[0], plan)
    finally:
        await fake.stop()
    assert (tally.short_stories, tally.endings, tally.failed) == (1, 0, 1)
    assert tally.ending_parts == []
    assert "| endings reached in short stories | 0/1 (0%) |" in render([tally])


def test_make_eval_plays_a_share_of_short_stories_and_prints_their_endings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OLLAMA_URL", raising=False)
    assert main(["--stories", "2", "--parts", "2", "--languages", "en"]) == 0  # share 0.5
    out = capsys.readouterr().out
    assert "2 stories × 2 parts (1 of them short, played to their ending)" in out
    assert f"| stories / parts asked | 2 / {2 + PLANNED_PARTS[StoryLength.SHORT]} |" in out
    assert "| endings reached in short stories | 1/1 (100%) |" in out
    assert "1 of 1 short stories reached their ending (after 8 parts)" in out
