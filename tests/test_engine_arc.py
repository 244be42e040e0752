"""Stories with a length and an arc (issue 16): the stage and the parts left reach the
narrator's request, "end the story here" from 80 % of the length, a real ending without
choices, and a story that ended refuses presses; all of it after a restart too."""

from __future__ import annotations

from typing import Any

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    Segment,
    SessionState,
    StoryLength,
    StorySettings,
)
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE, EngineFactory
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
END = "🏁 End the story here"


def system_prompt(request: dict[str, Any]) -> str:
    return str(request["messages"][0]["content"])


async def opened(view: RecordingView, count: int) -> Segment:
    return (await view.wait_for(ev.SegmentFinished, count=count)).segment


async def play(engine: StoryEngine, view: RecordingView, parts: int, *, pick: int = 0) -> Segment:
    """Choose choice `pick` on each part until `parts` parts are open; the newest part."""
    segment = await opened(view, 1)
    for count in range(2, parts + 1):
        await engine.press(PRIVATE, ALICE, segment.id, pick)
        segment = await opened(view, count)
    await engine.wait_idle()
    return segment


async def test_each_arc_stage_and_the_parts_left_reach_the_narrator(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    await play(engine, view, 8)
    await view.wait_for(ev.StoryEnded)

    prompts = [system_prompt(r) for r in fake_ollama.chat_requests("segment")]
    assert len(prompts) == 8
    expected = [
        ("opening", 7),
        ("opening", 6),
        ("rising action", 5),
        ("rising action", 4),
        ("rising action", 3),
        ("climax", 2),
        ("climax", 1),
    ]
    for prompt, (stage, left) in zip(prompts, expected, strict=False):
        assert f"Arc stage: {stage}" in prompt
        assert f"Parts left after this one: {left}." in prompt
    assert "This is the last part of the story" in prompts[7]
    assert "Arc stage" not in prompts[7]
    stored = await store.get_session(session.id)
    assert stored is not None
    assert stored.settings.length is StoryLength.SHORT


async def test_the_end_choice_is_offered_from_80_percent_of_the_length(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    await play(engine, view, 7)

    parts = [e.segment for e in view.of(ev.SegmentFinished)]
    assert all(END not in p.choices for p in parts[:6])
    assert parts[6].choices[-1] == END  # part 7 of 8: 7 >= 0.8 * 8
    assert parts[6].choices[:3] == ("Path 7.1", "Path 7.2", "Path 7.3")
    asked = fake_ollama.chat_requests("segment")[6]["format"]["properties"]["choices"]
    assert (asked["minItems"], asked["maxItems"]) == (3, 3)


async def test_the_end_choice_keeps_a_part_within_four_choices(
    make_engine: EngineFactory, store: Store, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    engine = make_engine(store, story=StorySettings(choices=4))
    await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    await play(engine, view, 7)

    parts = [e.segment for e in view.of(ev.SegmentFinished)]
    assert len(parts[5].choices) == 4
    assert parts[6].choices == ("Path 7.1", "Path 7.2", "Path 7.3", END)
    asked = fake_ollama.chat_requests("segment")[6]["format"]["properties"]["choices"]
    assert (asked["minItems"], asked["maxItems"]) == (3, 3)


async def test_choosing_the_end_writes_an_ending_without_choices(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE)  # medium: 15 parts planned
    offered = await play(engine, view, 12)
    assert offered.choices[-1] == END
    outcome = await engine.press(PRIVATE, ALICE, offered.id, len(offered.choices) - 1)
    assert outcome.kind is PressKind.DECIDED

    ended = await view.wait_for(ev.StoryEnded)
    ending = await opened(view, 13)
    assert ending.choices == ()
    assert ended.segment_id == ending.id
    assert ended.parts == 13
    last = fake_ollama.chat_requests("segment")[-1]
    assert last["format"]["properties"]["choices"]["maxItems"] == 0  # bounded in the request
    assert "write a real ending" in system_prompt(last)
    stored = await store.get_session(session.id)
    assert stored is not None
    assert (stored.state, stored.ended) == (SessionState.STOPPED, True)
    assert await store.live_session(PRIVATE.key) is None  # the channel is free again


async def test_a_story_that_ended_refuses_its_old_buttons(
    engine: StoryEngine, view: RecordingView
) -> None:
    await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    before_end = await play(engine, view, 7)
    await engine.press(PRIVATE, ALICE, before_end.id, 0)
    ending = await opened(view, 8)
    await view.wait_for(ev.StoryEnded)

    for segment_id, choice in ((before_end.id, 0), (ending.id, 0), (before_end.id, 3)):
        with pytest.raises(StoryActionError, match="story_has_ended"):
            await engine.press(PRIVATE, ALICE, segment_id, choice)
    # A new story may start where the old one ended; the old buttons still say so.
    await engine.start(PRIVATE, ALICE)
    with pytest.raises(StoryActionError, match="story_has_ended"):
        await engine.press(PRIVATE, ALICE, before_end.id, 0)


async def test_an_endless_story_has_no_arc_and_no_end_choice(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    await engine.start(PRIVATE, ALICE, length=StoryLength.ENDLESS)
    await play(engine, view, 10)

    assert not any(END in e.segment.choices for e in view.of(ev.SegmentFinished))
    assert not any("Arc stage" in system_prompt(r) for r in fake_ollama.chat_requests("segment"))
    assert not view.of(ev.StoryEnded)


async def test_nothing_is_prewritten_past_an_ending(
    make_engine: EngineFactory, store: Store, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    engine = make_engine(store, prewrite=PrewriteMode.ALL)
    await engine.start(PRIVATE, ALICE, length=StoryLength.SHORT)
    await play(engine, view, 8)
    await view.wait_for(ev.StoryEnded)
    await engine.wait_idle()

    ending = (await view.wait_for(ev.SegmentFinished, count=8)).segment
    requests = fake_ollama.chat_requests("segment")
    endings = [r for r in requests if "last part of the story" in system_prompt(r)]
    asked_after_ending = [
        r
        for r in requests
        if any(m["content"] == ending.narration for m in r["messages"] if m["role"] == "assistant")
    ]
    assert endings  # the ending itself may be written in advance
    assert asked_after_ending == []


async def test_the_arc_and_the_ending_survive_a_restart(
    make_engine: EngineFactory, store: Store, view: RecordingView, clock: FakeClock
) -> None:
    before = make_engine(store)
    session = await before.start(GROUP, ALICE, length=StoryLength.SHORT)
    segment = await opened(view, 1)
    for count in range(2, 8):
        await before.press(GROUP, ALICE, segment.id, 0)
        await clock.advance(60)
        segment = await opened(view, count)
    await before.shutdown()

    after = make_engine(store)
    await after.resume()
    assert segment.choices[-1] == END
    await after.press(GROUP, ALICE, segment.id, len(segment.choices) - 1)
    await clock.advance(60)
    ended = await view.wait_for(ev.StoryEnded)
    assert ended.session_id == session.id
    stored = await store.get_session(session.id)
    assert stored is not None
    assert stored.ended


async def test_an_own_action_after_the_end_choice_goes_on_with_the_story(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    await engine.start(PRIVATE, ALICE)  # medium: 15 parts planned
    offered = await play(engine, view, 12)
    assert offered.choices[-1] == END

    # Typed after "end the story here", it is the last choice now, but no ending.
    await engine.own_actions.submit(PRIVATE, ALICE, offered.id, "I open the last door")
    following = await opened(view, 13)

    assert following.choices  # a part to choose from, not an ending
    assert "write a real ending" not in system_prompt(fake_ollama.chat_requests("segment")[-1])
