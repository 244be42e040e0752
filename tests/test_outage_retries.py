"""A part that failed because the narrator was unreachable is tried again by itself."""

from __future__ import annotations

from storycraft_bot.core import events as ev
from storycraft_bot.core.models import Actor, SegmentState
from storycraft_bot.core.texts import Msg
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, EngineFactory
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
DOWN = [Reply(status=503, error="ollama is restarting")] * 3  # every gateway attempt


def told_back(view: RecordingView) -> int:
    return sum(1 for n in view.of(ev.Notice) if n.code is Msg.NARRATOR_BACK)


async def test_the_part_comes_by_itself_when_the_narrator_is_back_even_across_a_restart(
    make_engine: EngineFactory,
    store: Store,
    fake_ollama: FakeOllama,
    clock: FakeClock,
    view: RecordingView,
) -> None:
    fake_ollama.then(*DOWN)
    first = make_engine(store)
    session = await first.start(PRIVATE, ALICE)
    failed = await view.wait_for(ev.SegmentFailed)
    assert failed.reason is Msg.NARRATOR_UNAVAILABLE
    await clock.wait_for_sleepers()
    await first.shutdown()  # the bot restarts during the outage

    after = make_engine(store)
    await after.resume()
    await clock.wait_for_sleepers()
    fake_ollama.then(*DOWN)  # the first automatic try still finds it down
    await clock.advance(30)
    await view.wait_for(ev.SegmentFailed, count=2)
    assert told_back(view) == 0
    await clock.wait_for_sleepers()
    await clock.advance(59)  # the next try waits twice as long
    assert len(view.of(ev.SegmentFailed)) == 2
    assert len(fake_ollama.chat_requests("segment")) == 6

    await clock.advance(1)  # the narrator is back
    finished = await view.wait_for(ev.SegmentFinished)

    assert told_back(view) == 1
    assert finished.segment.narration
    parts = await store.live_segments(session.id)
    assert [(p.index, p.state) for p in parts] == [(0, SegmentState.OPEN)]
    assert len(view.of(ev.SegmentSuperseded)) == 2  # each automatic try replaced the part


async def test_a_manual_retry_cancels_the_automatic_one(
    make_engine: EngineFactory,
    store: Store,
    fake_ollama: FakeOllama,
    clock: FakeClock,
    view: RecordingView,
) -> None:
    fake_ollama.then(*DOWN)
    story = make_engine(store)
    await story.start(PRIVATE, ALICE)
    await view.wait_for(ev.SegmentFailed)
    await clock.wait_for_sleepers()

    await story.retry(PRIVATE, ALICE)  # an impatient player presses the button
    await view.wait_for(ev.SegmentFinished)
    await story.wait_idle()
    requests = len(fake_ollama.chat_requests("segment"))
    await clock.advance(3600)
    await story.wait_idle()

    assert len(fake_ollama.chat_requests("segment")) == requests
    assert len(view.of(ev.SegmentStarted)) == 2
    assert told_back(view) == 0


async def test_it_gives_up_after_a_few_tries(
    make_engine: EngineFactory,
    store: Store,
    fake_ollama: FakeOllama,
    clock: FakeClock,
    view: RecordingView,
) -> None:
    fake_ollama.then(*DOWN * 10)
    story = make_engine(store, outage_retries=2)
    session = await story.start(PRIVATE, ALICE)
    for tries, delay in enumerate((30, 60), start=1):
        await view.wait_for(ev.SegmentFailed, count=tries)
        await clock.wait_for_sleepers()
        await clock.advance(delay)
    await view.wait_for(ev.SegmentFailed, count=3)
    await story.wait_idle()
    await clock.advance(10_000)
    await story.wait_idle()

    assert len(view.of(ev.SegmentFailed)) == 3
    current = await store.current_segment(session.id)
    assert current is not None
    assert current.state is SegmentState.FAILED
    assert current.auto_retry_at is None  # nothing more planned; the retry button remains
