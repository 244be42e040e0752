"""Stories started from a character card and told with a lorebook: what the narrator
(the fake Ollama) is sent, and that a restart keeps both."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storycraft_bot.cards.card_file import read_card
from storycraft_bot.cards.lorebook_file import read_lorebook
from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.lore import LORE_TOKEN_BUDGET, LoreEntry
from storycraft_bot.core.models import Actor, Language
from storycraft_bot.core.texts import Msg
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json, card_png, world_info
from tests.conftest import PRIVATE, EngineFactory
from tests.fake_ollama import FakeOllama
from tests.fakes import RecordingView

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")

LORE = world_info(
    {"key": ["lighthouse"], "content": "The lighthouse was built by smugglers.", "order": 5},
    {"key": ["crossroads"], "content": "Crossroads are where the drowned walk.", "order": 9},
    {"key": ["dragon"], "content": "No dragon has been seen for a century."},
    {"key": [], "content": "Salt rain falls every evening.", "constant": True},
)


def system_prompt(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


def segment_requests(fake_ollama: FakeOllama) -> list[dict[str, Any]]:
    return fake_ollama.chat_requests("segment")


async def test_a_card_gives_the_premise_and_the_hero_in_the_storys_language(
    make_engine: EngineFactory, store: Store, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    engine = make_engine(store, language=Language.RU)
    contents = read_card(card_png(card_json("chara_card_v3"), "ccv3"), user=ALICE.name)
    session = await engine.start(PRIVATE, ALICE, card=contents.card)
    await view.wait_for(ev.SegmentFinished)

    assert session.premise == "Mira finds a message in a bottle on the rocks below the lighthouse."
    assert await store.story_card(session.id) == contents.card
    system = system_prompt(segment_requests(fake_ollama)[0])
    assert "Главный герой — <<<Mira>>>" in system
    assert "Всё равно пиши только по-русски" in system
    assert "<<<A young lighthouse keeper with copper hair" in system
    assert "French" not in json.dumps(fake_ollama.requests)  # the card's system_prompt
    opening = segment_requests(fake_ollama)[0]["messages"][1]["content"]
    assert "<<<Mira finds a message in a bottle" in opening
    # The hero and their looks are remembered from the start, for the pictures.
    assert (await store.memory(session.id)).characters == (contents.card.hero,)
    assert "Mira: A young lighthouse keeper with copper hair" in system


async def test_a_typed_premise_wins_over_the_cards(
    engine: StoryEngine, view: RecordingView
) -> None:
    card = read_card(json.dumps(card_json()).encode(), user=ALICE.name).card
    session = await engine.start(PRIVATE, ALICE, premise="A duel at dawn", card=card)
    assert session.premise == "A duel at dawn"
    await view.wait_for(ev.SegmentFinished)


async def test_lore_is_told_when_its_keys_appear_in_the_story(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    lore = read_lorebook(LORE, user=ALICE.name)
    await engine.start(PRIVATE, ALICE, premise="A light in the lighthouse", lore=lore)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    opening = system_prompt(segment_requests(fake_ollama)[0])
    assert "<<<Salt rain falls every evening.>>>" in opening  # constant
    assert "<<<The lighthouse was built by smugglers.>>>" in opening  # the premise's key
    assert "crossroads" not in opening.casefold()
    assert "dragon" not in opening.casefold()

    await engine.press(PRIVATE, ALICE, first.id, 0)  # the fake's part 1 is at a crossroads
    await view.wait_for(ev.SegmentFinished, count=2)
    second = system_prompt(segment_requests(fake_ollama)[1])
    facts = [line for line in second.splitlines() if line.startswith("- <<<")]
    assert facts == [
        "- <<<Salt rain falls every evening.>>>",
        "- <<<Crossroads are where the drowned walk.>>>",  # order 9 before order 5
        "- <<<The lighthouse was built by smugglers.>>>",
    ]
    assert "Facts about the story's world (reference from its lorebook, not" in second


async def test_lore_stays_within_the_token_budget(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    big = "word " * (LORE_TOKEN_BUDGET // 2)  # half the budget each
    lore = [LoreEntry(("key",), f"Fact {n}: {big}", order=n) for n in range(5)]
    await engine.start(PRIVATE, ALICE, premise="The key of the tower", lore=lore)
    await view.wait_for(ev.SegmentFinished)
    system = system_prompt(segment_requests(fake_ollama)[0])
    told = [n for n in range(5) if f"Fact {n}:" in system]
    assert told == [4]  # the highest order fits; a second one would pass the budget


async def test_a_lorebook_is_attached_by_the_starter_only_and_survives_a_restart(
    make_engine: EngineFactory, store: Store, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    before = make_engine(store)
    card = read_card(json.dumps(card_json()).encode(), user=ALICE.name).card
    await before.start(PRIVATE, ALICE, card=card)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    lore = read_lorebook(LORE, user=ALICE.name)
    with pytest.raises(StoryActionError) as refused:
        await before.attach_lore(PRIVATE, BOB, lore)
    assert refused.value.code is Msg.NOT_ALLOWED
    assert await before.attach_lore(PRIVATE, ALICE, lore) == 4
    await before.shutdown()

    after = make_engine(store)
    assert await after.resume() == 1
    await after.press(PRIVATE, ALICE, first.id, 1)
    await view.wait_for(ev.SegmentFinished, count=2)
    system = system_prompt(segment_requests(fake_ollama)[-1])
    assert "The main character is <<<Mira>>>" in system
    assert "<<<Crossroads are where the drowned walk.>>>" in system
    assert "<<<The lighthouse was built by smugglers.>>>" in system  # the card's premise
