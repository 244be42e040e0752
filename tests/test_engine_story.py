"""The engine end to end: the real narrator over the fake Ollama, a real SQLite file,
a recording view in place of a chat."""

from __future__ import annotations

import asyncio

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import PressKind, StoryEngine
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    DecidedBy,
    MessageKind,
    MessageRef,
    Platform,
    Segment,
    SegmentState,
    SessionState,
)
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, EngineFactory, GatewayFactory
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")
MOD = Actor("u9", "Mod", can_moderate=True)


async def opened_segment(view: RecordingView, count: int = 1) -> Segment:
    return (await view.wait_for(ev.SegmentFinished, count=count)).segment


async def test_a_private_story_through_three_segments(
    engine: StoryEngine, view: RecordingView, store: Store, fake_ollama: FakeOllama
) -> None:
    session = await engine.start(PRIVATE, ALICE, premise="A lost key", genre="mystery")
    first = await opened_segment(view)
    assert first.narration.startswith("Part 1.")
    assert first.choices == ("Path 1.1", "Path 1.2", "Path 1.3")

    outcome = await engine.press(PRIVATE, ALICE, first.id, 1)
    assert outcome.kind is PressKind.DECIDED
    assert outcome.choice_text == "Path 1.2"
    second = await opened_segment(view, 2)
    await engine.press(PRIVATE, ALICE, second.id, 0)
    third = await opened_segment(view, 3)
    await engine.wait_idle()

    stored = await store.live_segments(session.id)
    assert [s.index for s in stored] == [0, 1, 2]
    assert [s.state for s in stored] == [
        SegmentState.DECIDED,
        SegmentState.DECIDED,
        SegmentState.OPEN,
    ]
    assert stored[0].chosen_index == 1
    assert stored[0].decided_by is DecidedBy.PRESS
    assert stored[1].prompt_choice == "Path 1.2"
    assert third.id == stored[2].id
    decided = view.of(ev.ChoiceDecided)
    assert [d.choice_text for d in decided] == ["Path 1.2", "Path 2.1"]
    # The narrator was told what the player chose.
    last_segment_request = fake_ollama.chat_requests("segment")[-1]
    assert "The players chose: Path 2.1" in last_segment_request["messages"][-1]["content"]
    # Every finished segment got an image prompt (written by the prompt model).
    assert stored[0].image_prompt.startswith("a wanderer at a misty crossroads")
    assert stored[0].image_prompt_source == "model"
    assert "noir mystery" in stored[0].image_prompt


async def test_events_come_in_order_and_narration_is_throttled(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, clock: FakeClock
) -> None:
    fake_ollama.then(
        Reply(
            content='{"narration": "' + "word " * 60 + '", "choices": ["a", "b"], "scene": ""}',
            chunk_size=5,
        )
    )
    await engine.start(PRIVATE, ALICE)
    await opened_segment(view)

    kinds = [type(e) for e in view.events]
    assert kinds[0] is ev.SegmentStarted
    assert kinds[-1] is ev.SegmentFinished
    # The clock stood still while ~60 chunks streamed: one update got through, not sixty.
    assert len(view.of(ev.NarrationGrew)) == 1


async def test_a_press_on_an_old_segment_is_closed(
    engine: StoryEngine, view: RecordingView
) -> None:
    await engine.start(PRIVATE, ALICE)
    first = await opened_segment(view)
    await engine.press(PRIVATE, ALICE, first.id, 0)
    await opened_segment(view, 2)

    with pytest.raises(StoryActionError) as closed:
        await engine.press(PRIVATE, ALICE, first.id, 1)
    assert closed.value.code == "part_over"


@pytest.mark.parametrize(("segment_id", "choice"), [(999, 0), (1, 7), (1, -1)])
async def test_forged_presses_are_closed(
    engine: StoryEngine, view: RecordingView, segment_id: int, choice: int
) -> None:
    await engine.start(PRIVATE, ALICE)
    await opened_segment(view)

    with pytest.raises(StoryActionError, match="part_over"):
        await engine.press(PRIVATE, ALICE, segment_id, choice)


async def test_two_simultaneous_presses_make_one_segment(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE)
    first = await opened_segment(view)

    results = await asyncio.gather(
        engine.press(PRIVATE, ALICE, first.id, 0),
        engine.press(PRIVATE, BOB, first.id, 1),
        engine.press(PRIVATE, ALICE, first.id, 0),
        return_exceptions=True,
    )
    await engine.wait_idle()

    decided = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, StoryActionError)]
    assert len(decided) == 1
    assert len(refused) == 2
    assert len(await store.live_segments(session.id)) == 2
    assert len(view.of(ev.ChoiceDecided)) == 1


async def test_one_story_per_channel(engine: StoryEngine, view: RecordingView) -> None:
    await engine.start(PRIVATE, ALICE)
    with pytest.raises(StoryActionError, match="story_exists"):
        await engine.start(PRIVATE, BOB)


async def test_stop_keeps_the_record_and_allows_a_new_story(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE)
    first = await opened_segment(view)

    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.stop(PRIVATE, BOB)
    await engine.stop(PRIVATE, ALICE)

    assert view.of(ev.StoryStopped)
    stopped = await store.get_session(session.id)
    assert stopped is not None
    assert stopped.state is SessionState.STOPPED
    with pytest.raises(StoryActionError, match="part_over"):
        await engine.press(PRIVATE, ALICE, first.id, 0)
    again = await engine.start(PRIVATE, BOB)
    assert again.id != session.id


async def test_stop_while_writing_cancels_the_request(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, store: Store
) -> None:
    fake_ollama.then(Reply(first_token_delay=5.0))
    session = await engine.start(PRIVATE, ALICE)
    await view.wait_for(ev.SegmentStarted)

    await engine.stop(PRIVATE, MOD)
    await engine.wait_idle()

    assert not view.of(ev.SegmentFinished)
    segments = await store.live_segments(session.id)
    assert segments[0].state is SegmentState.GENERATING  # cut off, kept for the record


async def test_retry_rewrites_the_newest_segment(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    await engine.start(PRIVATE, ALICE)
    first = await opened_segment(view)

    with pytest.raises(StoryActionError, match="not_allowed"):
        await engine.retry(PRIVATE, BOB)
    await engine.retry(PRIVATE, ALICE)
    rewritten = await opened_segment(view, 2)

    assert rewritten.index == 0
    assert rewritten.id != first.id
    assert rewritten.narration.startswith("Part 2.")
    old = await store.get_segment(first.id)
    assert old is not None
    assert old.state is SegmentState.SUPERSEDED
    assert [(e.segment_id, e.reason) for e in view.of(ev.SegmentSuperseded)] == [
        (first.id, "retried")
    ]
    with pytest.raises(StoryActionError, match="part_over"):
        await engine.press(PRIVATE, ALICE, first.id, 0)


async def test_undo_goes_back_one_choice(
    engine: StoryEngine, view: RecordingView, store: Store
) -> None:
    session = await engine.start(PRIVATE, ALICE)
    first = await opened_segment(view)
    with pytest.raises(StoryActionError, match="nothing_to_undo"):
        await engine.undo(PRIVATE, ALICE)
    await engine.press(PRIVATE, ALICE, first.id, 2)
    await opened_segment(view, 2)

    reopened = await engine.undo(PRIVATE, ALICE)
    assert view.of(ev.SegmentSuperseded)[-1].reason == "undone"

    assert reopened.id == first.id
    assert reopened.state is SegmentState.OPEN
    assert reopened.chosen_index is None
    shown_again = await opened_segment(view, 3)
    assert shown_again.id == first.id
    assert [s.index for s in await store.live_segments(session.id)] == [0]
    outcome = await engine.press(PRIVATE, ALICE, first.id, 0)
    assert outcome.choice_text == "Path 1.1"
    assert (await opened_segment(view, 4)).index == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=503, error="server busy"), "narrator_unavailable"),
        (Reply(status=500, error="boom"), "narrator_unavailable"),
        (Reply(content="a" * 80, cut_after_chunks=2), "narrator_unavailable"),
        (Reply(content="no choices here"), "malformed_reply"),
    ],
)
async def test_narrator_failures_are_told_and_retry_recovers(
    engine: StoryEngine,
    view: RecordingView,
    fake_ollama: FakeOllama,
    store: Store,
    reply: Reply,
    reason: str,
) -> None:
    fake_ollama.then(*[reply] * 3)
    session = await engine.start(PRIVATE, ALICE)

    failed = await view.wait_for(ev.SegmentFailed)
    assert failed.reason == reason
    current = await store.current_segment(session.id)
    assert current is not None
    assert current.state is SegmentState.FAILED

    await engine.retry(PRIVATE, BOB)  # after a failure anyone may retry: no dead end
    recovered = await opened_segment(view)
    assert recovered.index == 0


async def test_a_missing_model_with_no_fallback_says_so(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models = []
    await engine.start(PRIVATE, ALICE)
    failed = await view.wait_for(ev.SegmentFailed)
    assert failed.reason == "model_not_installed"


async def test_a_slow_model_times_out(
    make_gateway: GatewayFactory,
    store: Store,
    view: RecordingView,
    fake_ollama: FakeOllama,
    clock: FakeClock,
) -> None:
    from storycraft_bot.core.engine import EngineConfig
    from storycraft_bot.core.models import Language
    from storycraft_bot.narration.image_prompts import ModelPromptWriter
    from storycraft_bot.narration.narrator import OllamaNarrator
    from tests.fakes import RecordingIllustrator

    slow = await make_gateway(first_token_timeout=0.2, retries=0)
    engine = StoryEngine(  # a gateway with a short timeout
        store,
        OllamaNarrator(slow),
        ModelPromptWriter(slow, "qwen2.5:3b"),
        RecordingIllustrator(),
        view,
        clock,
        EngineConfig(language=Language.EN),
    )
    fake_ollama.then(Reply(first_token_delay=3.0))
    try:
        await engine.start(PRIVATE, ALICE)
        failed = await view.wait_for(ev.SegmentFailed)
    finally:
        await engine.shutdown()
    assert failed.reason == "narrator_timeout"


async def test_image_prompt_falls_back_to_the_rule(
    engine: StoryEngine, view: RecordingView, fake_ollama: FakeOllama, store: Store
) -> None:
    fake_ollama.then(Reply(), *[Reply(status=500, error="oom")] * 3)  # segment fine, prompt fails
    session = await engine.start(PRIVATE, ALICE, genre="horror")
    await opened_segment(view)
    await engine.wait_idle()

    segment = await store.current_segment(session.id)
    assert segment is not None
    assert segment.image_prompt_source == "rule"
    assert segment.image_prompt.startswith("a red-haired wanderer at a misty crossroads at dawn")
    assert "dark horror illustration" in segment.image_prompt


async def test_a_restart_continues_the_story(
    make_engine: EngineFactory, view: RecordingView, store: Store
) -> None:
    before = make_engine(store)
    session = await before.start(PRIVATE, ALICE)
    first = await opened_segment(view)
    await before.shutdown()

    after = make_engine(store)  # a new engine on the same database
    assert await after.resume() == 1
    outcome = await after.press(PRIVATE, ALICE, first.id, 0)  # a button from before the restart
    assert outcome.kind is PressKind.DECIDED
    second = await opened_segment(view, 2)
    assert second.session_id == session.id
    assert second.index == 1


async def test_a_segment_cut_off_by_a_restart_is_written_again(
    make_engine: EngineFactory, view: RecordingView, store: Store, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(first_token_delay=5.0))
    before = make_engine(store)
    session = await before.start(PRIVATE, ALICE)
    await view.wait_for(ev.SegmentStarted)
    await fake_ollama.wait_until(lambda: fake_ollama.requests)  # the slow reply is its
    await before.shutdown()  # the process dies mid-segment

    after = make_engine(store)
    await after.resume()
    segment = await opened_segment(view)
    assert segment.session_id == session.id
    assert segment.index == 0
    assert len(await store.live_segments(session.id)) == 1


async def test_a_cut_parts_messages_go_to_its_rewrite(
    make_engine: EngineFactory, view: RecordingView, store: Store, fake_ollama: FakeOllama
) -> None:
    fake_ollama.then(Reply(first_token_delay=5.0))
    before = make_engine(store)
    await before.start(PRIVATE, ALICE)
    cut = await view.wait_for(ev.SegmentStarted)
    assert not cut.resumed
    refs = (MessageRef(Platform.TELEGRAM, MessageKind.TEXT, 7),)
    await store.set_messages(cut.segment_id, refs)  # what the screen had posted for it
    await before.shutdown()

    await make_engine(store).resume()
    rewrite = await view.wait_for(ev.SegmentStarted, count=2)
    assert rewrite.resumed
    assert rewrite.segment_id != cut.segment_id
    assert await store.messages(rewrite.segment_id) == refs  # written over in place
    assert await store.messages(cut.segment_id) == ()


async def test_memory_is_refreshed_every_few_segments(
    make_engine: EngineFactory, view: RecordingView, store: Store, fake_ollama: FakeOllama
) -> None:
    engine = make_engine(store, recent_segments=2, memory_every=2)
    session = await engine.start(PRIVATE, ALICE)
    # Writing segment 5 folds 0-1 into the summary; writing segment 7 folds 2-3.
    for count in range(1, 7):
        segment = await opened_segment(view, count)
        await engine.press(PRIVATE, ALICE, segment.id, 0)
    await opened_segment(view, 7)
    await engine.wait_idle()

    memory = await store.memory(session.id)
    assert memory.summary.startswith("Mara walked")
    assert memory.summary_upto == 3
    assert len(fake_ollama.chat_requests("memory")) == 2
    # Characters' looks reach the image prompt, so pictures stay consistent.
    latest = await store.current_segment(session.id)
    assert latest is not None
    assert "red-haired woman in a green cloak" in latest.image_prompt
    # Segments already summarised are no longer sent verbatim.
    last = fake_ollama.chat_requests("segment")[-1]
    assert not any(m["content"].startswith("Part 1.") for m in last["messages"])
    assert "Mara walked" in last["messages"][0]["content"]


async def test_status_reports_the_story(engine: StoryEngine, view: RecordingView) -> None:
    with pytest.raises(StoryActionError, match="no_story"):
        await engine.status(PRIVATE)
    await engine.start(PRIVATE, ALICE, premise="Dragons", genre="fantasy")
    await opened_segment(view)

    report = await engine.status(PRIVATE)
    assert report.session.premise == "Dragons"
    assert report.segments == 1
    assert report.current is not None
    assert report.current.state is SegmentState.OPEN


async def test_narration_updates_are_spaced_by_the_interval(clock: FakeClock) -> None:
    from storycraft_bot.core.clock import Throttle

    throttle = Throttle(clock, 1.0)
    passed = []
    for _ in range(10):  # ten chunks, 0.3 s apart
        passed.append(throttle.ready())
        await clock.advance(0.3)
    assert passed == [True, False, False, False, True, False, False, False, True, False]


async def test_without_an_illustrator_no_image_prompt_is_written(
    make_engine: EngineFactory, view: RecordingView, store: Store, fake_ollama: FakeOllama
) -> None:
    from storycraft_bot.core.models import ImageState
    from storycraft_bot.core.ports import NullIllustrator

    engine = make_engine(store, illustrator=NullIllustrator())
    session = await engine.start(PRIVATE, ALICE)
    await opened_segment(view)
    await engine.wait_idle()

    assert fake_ollama.chat_requests("prompt") == []  # no GPU time spent on a prompt for nothing
    segment = await store.current_segment(session.id)
    assert segment is not None
    assert segment.image_state is ImageState.OFF
    with pytest.raises(StoryActionError, match="pictures_disabled"):
        await engine.redraw(PRIVATE, ALICE)
