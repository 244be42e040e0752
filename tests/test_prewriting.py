"""Instant turns (issue 14): drafts written while players choose, used by their presses.

The engine runs on a real SQLite file and the fair narrator queue (one slot); the
narrator is a scripted port double whose continuations a test can hold halfway.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.engine_config import EngineConfig
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Language,
    Place,
    Platform,
    Segment,
    SegmentState,
    StorySettings,
)
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.texts import status_text
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE
from tests.fakes import (
    FakeClock,
    RecordingIllustrator,
    RecordingView,
    ScriptedNarrator,
    ScriptedPromptWriter,
)

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")
CAROL = Actor("u3", "Carol")
Build = Callable[..., StoryEngine]


@pytest.fixture
def narrator() -> ScriptedNarrator:
    return ScriptedNarrator()


@pytest.fixture
def illustrator() -> RecordingIllustrator:
    return RecordingIllustrator()


@pytest.fixture
async def build(
    narrator: ScriptedNarrator,
    illustrator: RecordingIllustrator,
    view: RecordingView,
    clock: FakeClock,
    store: Store,
) -> AsyncIterator[Build]:
    """Engines on `store` (shut down before it closes)."""
    built: list[StoryEngine] = []

    def make(
        store: Store, mode: PrewriteMode = PrewriteMode.AUTO, seed: int = 1, cap: int = 3
    ) -> StoryEngine:
        config = EngineConfig(
            language=Language.EN,
            story=StorySettings(vote_window_seconds=60.0),
            prewrite=mode,
            prewrite_cap=cap,
        )
        engine = StoryEngine(
            store,
            narrator,
            ScriptedPromptWriter(),
            illustrator,
            view,
            clock,
            config,
            random.Random(seed),
            narration=FairNarratorQueue(lambda: 1, clock),
        )
        built.append(engine)
        return engine

    yield make
    for engine in built:
        await engine.shutdown()


async def first_part(engine: StoryEngine, view: RecordingView, place: Place) -> Segment:
    await engine.start(place, ALICE)
    return (await view.wait_for(ev.SegmentFinished)).segment


def since(view: RecordingView, mark: int) -> list[type[ev.StoryEvent]]:
    return [type(e) for e in view.events[mark:]]


async def test_a_finished_draft_is_shown_whole_at_once_with_its_picture_queued(
    build: Build,
    store: Store,
    view: RecordingView,
    narrator: ScriptedNarrator,
    illustrator: RecordingIllustrator,
) -> None:
    engine = build(store)
    first = await first_part(engine, view, PRIVATE)
    await engine.wait_idle()
    drafts = await store.drafts(first.id)
    assert [d.choice_index for d in drafts] == [0, 1, 2]  # every choice, in order
    assert all(d.prompt is not None for d in drafts)
    asked = len(narrator.requests)

    mark = len(view.events)
    await engine.press(PRIVATE, ALICE, first.id, 1)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await engine.wait_idle()

    assert since(view, mark)[:3] == [ev.ChoiceDecided, ev.SegmentStarted, ev.SegmentFinished]
    assert second.narration == drafts[1].text.narration
    # The picture was queued with the draft's prompt, without writing one.
    assert drafts[1].prompt is not None
    job = next(j for j in illustrator.jobs if j.segment_id == second.id)
    assert job.prompt.positive == drafts[1].prompt.positive
    assert engine.prewriting.figures.hits == 1
    # The other two drafts were written in vain; the new part gets its own drafts.
    assert engine.prewriting.figures.wasted_chars == sum(
        len(d.text.narration) for d in (drafts[0], drafts[2])
    )
    assert len(narrator.requests) == asked + 3
    assert {d.segment_id for d in await store.drafts(second.id)} == {second.id}


async def test_a_press_joins_a_draft_halfway_and_sees_its_text_at_once(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store)
    release = narrator.hold("1a")
    first = await first_part(engine, view, PRIVATE)
    await narrator.halfway["1a"].wait()

    await engine.press(PRIVATE, ALICE, first.id, 0)
    grew = await view.wait_for(ev.NarrationGrew, lambda e: e.segment_id != first.id)
    assert grew.text == "Part 2, af"  # what the draft had so far, at once
    assert not view.of(ev.SegmentFinished)[1:]
    release.set()
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await engine.wait_idle()

    assert second.narration.startswith("Part 2, after 1a.")
    assert narrator.written_after("1a") == 1  # written once, not again for the press
    assert engine.prewriting.figures.partial_hits == 1


async def test_a_press_without_its_draft_writes_as_before(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store)
    narrator.hold("1a")
    first = await first_part(engine, view, PRIVATE)
    await narrator.halfway["1a"].wait()

    await engine.press(PRIVATE, ALICE, first.id, 2)  # its draft was not begun
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await engine.wait_idle()

    assert second.narration.endswith("after 1c. The road goes on.")
    figures = engine.prewriting.figures
    assert (figures.hits, figures.partial_hits, figures.misses) == (0, 0, 1)
    assert figures.wasted_chars == len("Part 2, af")  # the cancelled draft's text so far
    assert await store.drafts(first.id) == []


async def test_off_writes_no_drafts(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store, PrewriteMode.OFF)
    first = await first_part(engine, view, PRIVATE)
    await engine.wait_idle()
    assert await store.drafts(first.id) == []
    assert len(narrator.requests) == 1


async def test_a_group_drafts_the_leader_and_follows_the_lead_keeping_drafts(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store)
    first = await first_part(engine, view, GROUP)
    await engine.wait_idle()
    assert await store.drafts(first.id) == []  # nobody leads yet

    await engine.press(GROUP, ALICE, first.id, 0)
    await engine.wait_idle()
    assert [d.choice_index for d in await store.drafts(first.id)] == [0]
    await engine.press(GROUP, BOB, first.id, 2)
    await engine.press(GROUP, CAROL, first.id, 2)
    await engine.wait_idle()
    assert [d.choice_index for d in await store.drafts(first.id)] == [0, 2]
    assert narrator.written_after("1b") == 0


async def test_a_tied_vote_for_the_earlier_leader_uses_its_draft(
    build: Build, store: Store, view: RecordingView, clock: FakeClock
) -> None:
    engine = build(store, seed=0)  # breaks the 0-1 tie for choice 1
    first = await first_part(engine, view, GROUP)
    await engine.press(GROUP, ALICE, first.id, 1)
    await engine.wait_idle()
    await engine.press(GROUP, BOB, first.id, 0)  # a tie: the lead goes to choice 0
    await engine.wait_idle()
    drafts = {d.choice_index: d for d in await store.drafts(first.id)}
    assert set(drafts) == {0, 1}

    await clock.advance(61)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    assert view.of(ev.ChoiceDecided)[0].choice_index == 1
    assert second.narration == drafts[1].text.narration
    assert engine.prewriting.figures.hits == 1


async def test_a_vote_for_an_undrafted_choice_writes_it(
    build: Build, store: Store, view: RecordingView, clock: FakeClock, narrator: ScriptedNarrator
) -> None:
    engine = build(store, seed=0)
    first = await first_part(engine, view, GROUP)
    await engine.press(GROUP, ALICE, first.id, 0)
    await engine.wait_idle()
    await engine.press(GROUP, BOB, first.id, 1)  # a tie; the lead stays with choice 0
    await engine.wait_idle()
    assert [d.choice_index for d in await store.drafts(first.id)] == [0]

    await clock.advance(61)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    assert second.narration.endswith("after 1b. The road goes on.")
    assert engine.prewriting.figures.misses == 1


async def test_retry_of_a_prewritten_part_writes_it_anew(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store)
    first = await first_part(engine, view, PRIVATE)
    await engine.wait_idle()
    await engine.press(PRIVATE, ALICE, first.id, 0)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await engine.wait_idle()
    assert narrator.written_after("1a") == 1

    await engine.retry(PRIVATE, ALICE)
    again = (await view.wait_for(ev.SegmentFinished, count=3)).segment
    await engine.wait_idle()
    assert narrator.written_after("1a") == 2
    assert again.narration != second.narration
    assert again.index == second.index
    assert await store.drafts(second.id) == []  # the superseded part's drafts went


async def test_undo_after_a_prewritten_part_reopens_and_drafts_again(
    build: Build, store: Store, view: RecordingView
) -> None:
    engine = build(store)
    session = await engine.start(PRIVATE, ALICE)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await engine.wait_idle()
    await engine.press(PRIVATE, ALICE, first.id, 1)
    await view.wait_for(ev.SegmentFinished, count=2)
    await engine.wait_idle()

    previous = await engine.undo(PRIVATE, ALICE)
    await engine.wait_idle()
    assert previous.id == first.id
    assert [s.state for s in await store.live_segments(session.id)] == [SegmentState.OPEN]
    assert [d.choice_index for d in await store.drafts(first.id)] == [0, 1, 2]
    await engine.press(PRIVATE, ALICE, first.id, 2)
    third = (await view.wait_for(ev.SegmentFinished, count=4)).segment
    assert third.narration.endswith("after 1c. The road goes on.")


async def test_stop_drops_the_drafts_and_the_draft_underway(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    engine = build(store)
    narrator.hold("1b")
    first = await first_part(engine, view, PRIVATE)
    await narrator.halfway["1b"].wait()
    assert [d.choice_index for d in await store.drafts(first.id)] == [0]
    report = await engine.status(PRIVATE, ALICE)
    assert report.drafts is not None
    assert (report.drafts.ready, report.drafts.writing) == (1, True)
    assert "written in advance: 1, one more underway" in status_text(report)
    assert (await engine.status(PRIVATE, BOB)).drafts is None  # the starter's only

    await engine.stop(PRIVATE, ALICE)
    await engine.wait_idle()
    assert await store.drafts(first.id) == []
    assert narrator.written_after("1c") == 0


async def test_a_restart_mid_draft_neither_duplicates_nor_loses_the_press(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    before = build(store)
    narrator.hold("1b")
    session = await before.start(PRIVATE, ALICE)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await narrator.halfway["1b"].wait()
    await before.press(PRIVATE, ALICE, first.id, 1)  # joins the draft underway
    await view.wait_for(ev.NarrationGrew, lambda e: e.segment_id != first.id)
    await before.shutdown()  # the restart

    after = build(store)
    narrator.held.clear()
    assert await after.resume() == 1
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await after.wait_idle()
    segments = await store.live_segments(session.id)
    assert [(s.index, s.state) for s in segments] == [
        (0, SegmentState.DECIDED),
        (1, SegmentState.OPEN),
    ]
    assert segments[0].chosen_index == 1
    assert second.narration.endswith("after 1b. The road goes on.")


async def test_drafts_survive_a_restart(
    build: Build, store: Store, view: RecordingView, narrator: ScriptedNarrator
) -> None:
    before = build(store)
    first = await first_part(before, view, PRIVATE)
    await before.wait_idle()
    await before.shutdown()
    drafts = await store.drafts(first.id)

    after = build(store)
    await after.resume()
    await after.wait_idle()
    asked = len(narrator.requests)
    await after.press(PRIVATE, ALICE, first.id, 2)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    assert second.narration == drafts[2].text.narration
    assert after.prewriting.figures.hits == 1
    assert narrator.requests[asked:] == narrator.requests[asked : asked + 3]  # only new drafts


async def test_drafts_never_cross_stories(build: Build, store: Store, view: RecordingView) -> None:
    engine = build(store)
    other = Place(ChannelKey(Platform.TELEGRAM, "1002"), guild_id="tg:1002", is_group=False)
    first = await first_part(engine, view, PRIVATE)
    await engine.start(other, BOB)
    await engine.wait_idle()
    theirs = next(e.segment for e in view.of(ev.SegmentFinished) if e.segment.id != first.id)
    await engine.stop(other, BOB)
    assert await store.drafts(theirs.id) == []
    assert [d.choice_index for d in await store.drafts(first.id)] == [0, 1, 2]
    assert {d.session_id for d in await store.drafts(first.id)} == {first.session_id}
