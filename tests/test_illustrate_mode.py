"""Illustrate when it matters (issue 16): the narrator says whether the scene changed, and
a story set to "on scene change" draws only then (the opening always)."""

from __future__ import annotations

import json

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.models import (
    Actor,
    IllustrateMode,
    ImageState,
    StorySettings,
)
from storycraft_bot.core.styles import default_illustrate_mode, illustrate_mode, wants_picture
from storycraft_bot.narration.reply_parsing import ReplyBounds, parse_reply, segment_schema
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, EngineFactory, StoreFactory
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import RecordingIllustrator, RecordingView

ALICE = Actor("u1", "Alice")


def part(n: int, *, new_scene: bool) -> Reply:
    value = {
        "narration": f"Part {n}. The road goes on.",
        "choices": [f"Path {n}.1", f"Path {n}.2", f"Path {n}.3"],
        "scene": "a road",
        "new_scene": new_scene,
    }
    return Reply(content=json.dumps(value))


def test_the_reply_says_whether_the_scene_changed() -> None:
    bounds = ReplyBounds.for_request(50, 3)
    base = {"narration": "The road goes on. " * 5, "choices": ["a", "b", "c"], "scene": "s"}

    said_no = parse_reply(json.dumps({**base, "new_scene": False}), "m", bounds)
    unsaid = parse_reply(json.dumps(base), "m", bounds)
    repaired = parse_reply(
        'Sure! {"narration": "Text.", "choices": ["a", "b"], "new_scene": false', "m"
    )
    junk = parse_reply('{"narration": "Text.", "choices": ["a", "b"], "new_scene": "no"}', "m")

    assert said_no is not None
    assert said_no.new_scene is False
    assert not said_no.repaired
    assert unsaid is not None
    assert unsaid.new_scene is True  # a reply that does not say gets its picture
    assert repaired is not None
    assert repaired.repaired
    assert repaired.new_scene is False
    assert junk is not None
    assert junk.new_scene is True  # only a real boolean counts
    schema = segment_schema(bounds)
    assert schema["properties"]["new_scene"]["type"] == "boolean"
    assert "new_scene" in schema["required"]


def test_which_parts_get_a_picture() -> None:
    every = StorySettings()
    on_change = StorySettings(illustrate=IllustrateMode.SCENE_CHANGE)
    assert default_illustrate_mode(every) is IllustrateMode.EVERY_PART
    assert illustrate_mode(on_change) is IllustrateMode.SCENE_CHANGE
    assert wants_picture(every, 3, new_scene=False)
    assert wants_picture(on_change, 0, new_scene=False)  # the opening always
    assert not wants_picture(on_change, 3, new_scene=False)
    assert wants_picture(on_change, 3, new_scene=True)
    assert not wants_picture(StorySettings(pictures=False), 0, new_scene=True)


async def play_three(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> list[int]:
    fake_ollama.then(part(1, new_scene=False), Reply(), part(2, new_scene=False))
    session = await engine.start(PRIVATE, ALICE, premise="A road", genre="fantasy")
    ids = []
    for count in (1, 2):
        segment = (await view.wait_for(ev.SegmentFinished, count=count)).segment
        ids.append(segment.id)
        await engine.wait_idle()
        if count == 2:
            fake_ollama.then(part(3, new_scene=True))
        await engine.press(PRIVATE, ALICE, segment.id, 0)
    ids.append((await view.wait_for(ev.SegmentFinished, count=3)).segment.id)
    await engine.wait_idle()
    assert session.id > 0
    return ids


async def test_on_scene_change_a_part_in_the_same_scene_gets_no_picture(
    make_engine: EngineFactory,
    store: Store,
    view: RecordingView,
    fake_ollama: FakeOllama,
) -> None:
    illustrator = RecordingIllustrator()
    engine = make_engine(
        store,
        illustrator=illustrator,
        story=StorySettings(vote_window_seconds=60, illustrate=IllustrateMode.SCENE_CHANGE),
    )
    first, same_scene, new_scene = await play_three(engine, view, fake_ollama)

    assert [job.segment_id for job in illustrator.jobs] == [first, new_scene]
    skipped = await store.get_segment(same_scene)
    assert skipped is not None
    assert skipped.image_state is ImageState.OFF
    assert skipped.image_prompt == ""  # no prompt written for it either
    assert len(fake_ollama.chat_requests("prompt")) == 2


@pytest.mark.parametrize("mode", [None, IllustrateMode.EVERY_PART])
async def test_by_default_every_part_gets_a_picture(
    make_engine: EngineFactory,
    store: Store,
    view: RecordingView,
    fake_ollama: FakeOllama,
    mode: IllustrateMode | None,
) -> None:
    illustrator = RecordingIllustrator()
    engine = make_engine(
        store,
        illustrator=illustrator,
        story=StorySettings(vote_window_seconds=60, illustrate=mode),
    )
    ids = await play_three(engine, view, fake_ollama)

    assert [job.segment_id for job in illustrator.jobs] == ids


async def test_the_illustrate_mode_and_style_are_kept_across_a_restart(
    make_engine: EngineFactory, store: Store, make_store: StoreFactory
) -> None:
    chosen = StorySettings(
        vote_window_seconds=60, illustrate=IllustrateMode.SCENE_CHANGE, style="horror"
    )
    engine = make_engine(store, story=chosen)
    session = await engine.start(PRIVATE, ALICE, premise="A road", genre="fantasy")
    await engine.wait_idle()
    await engine.shutdown()
    await store.close()

    async with make_store() as reopened:
        stored = await reopened.get_session(session.id)
    assert stored is not None
    assert stored.settings == chosen
    assert stored.settings.illustrate is IllustrateMode.SCENE_CHANGE
