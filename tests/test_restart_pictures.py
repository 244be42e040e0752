"""No picture is lost to a restart: engines killed at several points of a part's life,
then a fresh engine on the same database file draws every missing picture."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.models import Actor, ImageState, SegmentState, SessionState
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, PictureRig, RigFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")


async def kill(rig: PictureRig) -> None:
    """The process dies; ComfyUI keeps what it was sent."""
    await rig.engine.shutdown()
    await rig.illustrator.close()


async def test_every_part_gets_its_picture_after_kills_at_each_point(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    view: RecordingView,
    store: Store,
) -> None:
    fake_comfy.hold = True  # no picture finishes before the kills
    first = await make_rig([fake_comfy.url])
    session = await first.engine.start(PRIVATE, ALICE)
    part0 = (await view.wait_for(ev.SegmentFinished)).segment
    await asyncio.wait_for(fake_comfy.received.wait(), 5)  # part 0 is drawing
    await first.engine.press(PRIVATE, ALICE, part0.id, 0)
    part1 = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await view.wait_for(ev.PictureQueued, lambda e: e.segment_id == part1.id)  # queued
    # Part 2's text arrives, its image prompt never does: killed between text and picture.
    fake_ollama.then(Reply(), Reply(first_token_delay=30))
    await first.engine.press(PRIVATE, ALICE, part1.id, 0)
    part2 = (await view.wait_for(ev.SegmentFinished, count=3)).segment
    async with asyncio.timeout(5):  # the fake records requests but signals none
        while len(fake_ollama.chat_requests("prompt")) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await kill(first)

    stored = {s.index: s for s in await store.live_segments(session.id)}
    assert stored[0].image_state in (ImageState.QUEUED, ImageState.DRAWING)
    assert stored[1].image_state is ImageState.QUEUED
    assert stored[2].image_state is ImageState.NONE
    assert stored[2].image_prompt == ""

    # A second life, killed before the first token of the next part.
    second = await make_rig([fake_comfy.url], seed=2)  # seeds tell lives apart
    await second.engine.resume()
    await second.engine.press(PRIVATE, ALICE, part2.id, 0)
    await kill(second)

    fake_comfy.release()
    seen = len(view.events)
    posted = len(fake_comfy.posted_prompts())
    third = await make_rig([fake_comfy.url], seed=3)
    await third.engine.resume()
    await view.wait_for(ev.PictureReady, lambda e: view.events.index(e) >= seen, count=4)
    await third.engine.wait_idle()

    parts = await store.live_segments(session.id)
    assert [s.index for s in parts] == [0, 1, 2, 3]
    assert all(s.state is not SegmentState.FAILED for s in parts)
    for part in parts:
        assert part.image_state is ImageState.READY, part.index
        assert Path(part.image_file).exists()
        assert part.image_prompt  # part 2's prompt was written again
    ready = Counter(e.segment_id for e in view.events[seen:] if isinstance(e, ev.PictureReady))
    assert ready == {part.id: 1 for part in parts}  # one picture per part, none twice
    # Prompts ComfyUI still held were waited for again, never sent twice: one per part,
    # told apart by their seeds (the stored file is named for the submitted seed).
    seeds = [p["prompt"]["3"]["inputs"]["seed"] for p in fake_comfy.posted_prompts()]
    assert sorted(seeds) == sorted(part.image_seed or 0 for part in parts)
    assert not fake_comfy.pending
    assert fake_comfy.running is None
    assert all(part.submitted is None for part in parts)  # settled with the picture
    # Those sent in this life were sent newest first (the live part 3 aside).
    by_seed = {part.image_seed: part.index for part in parts}
    newer = [by_seed[seed] for seed in seeds[posted:] if by_seed[seed] < 3]
    assert newer == sorted(newer, reverse=True)
    assert by_seed[seeds[0]] == 0  # part 0's prompt of the first life was waited for


async def test_a_retry_during_the_backlog_keeps_the_older_parts_pictures(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    view: RecordingView,
    store: Store,
) -> None:
    fake_comfy.hold = True
    first = await make_rig([fake_comfy.url])
    session = await first.engine.start(PRIVATE, ALICE)
    part0 = (await view.wait_for(ev.SegmentFinished)).segment
    await first.engine.press(PRIVATE, ALICE, part0.id, 0)
    part1 = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await view.wait_for(ev.PictureQueued, lambda e: e.segment_id == part1.id)
    fake_ollama.then(Reply(), Reply(first_token_delay=30))  # part 2's prompt never comes
    await first.engine.press(PRIVATE, ALICE, part1.id, 0)
    await view.wait_for(ev.SegmentFinished, count=3)
    async with asyncio.timeout(5):
        while len(fake_ollama.chat_requests("prompt")) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await kill(first)
    fake_comfy.pending.clear()  # ComfyUI restarted too: the stored prompts are unknown there

    # The backlog starts with part 2, whose prompt is written again (slowly): the part is
    # retried meanwhile. Parts 0 and 1 still count and must get their pictures.
    fake_comfy.hold = False
    fake_ollama.then(Reply(first_token_delay=0.5))
    seen = len(view.events)
    second = await make_rig([fake_comfy.url])
    await second.engine.resume()
    async with asyncio.timeout(5):
        while len(fake_ollama.chat_requests("prompt")) < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await second.engine.retry(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady, lambda e: view.events.index(e) >= seen, count=3)
    await second.engine.wait_idle()

    parts = await store.live_segments(session.id)
    assert [s.index for s in parts] == [0, 1, 2]
    assert all(s.image_state is ImageState.READY for s in parts)
    ready = Counter(e.segment_id for e in view.events[seen:] if isinstance(e, ev.PictureReady))
    assert ready == {part.id: 1 for part in parts}


async def posted(comfy: FakeComfyUI, count: int) -> None:
    async with asyncio.timeout(5):  # the fake signals only the first prompt
        while len(comfy.posted_prompts()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_prompt_of_a_part_superseded_by_the_kill_is_deleted_the_others_waited_for(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    view: RecordingView,
    store: Store,
    clock: FakeClock,
) -> None:
    fake_comfy.hold = True
    first = await make_rig([fake_comfy.url], per_guild=2, total=2)
    session = await first.engine.start(PRIVATE, ALICE)
    part0 = (await view.wait_for(ev.SegmentFinished)).segment
    await first.engine.press(PRIVATE, ALICE, part0.id, 0)
    part1 = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await posted(fake_comfy, 2)  # both prompts sit in ComfyUI's queue
    await kill(first)
    # A retry of part 1 cut off by the kill: the part is superseded, its prompt still queued.
    stored = await store.get_segment(part1.id)
    assert stored is not None
    assert stored.submitted is not None
    orphan = stored.submitted
    assert orphan.prompt_id in [job.prompt_id for job in fake_comfy.pending]
    await store.replace_segment(stored, clock.now())

    seen = len(view.events)
    second = await make_rig([fake_comfy.url], seed=2)
    await second.engine.resume()
    assert {"delete": [orphan.prompt_id]} in fake_comfy.calls("POST", "/queue")
    assert orphan.prompt_id not in [job.prompt_id for job in fake_comfy.pending]
    fake_comfy.release()
    await view.wait_for(ev.PictureReady, lambda e: view.events.index(e) >= seen, count=2)
    await second.engine.wait_idle()

    parts = await store.live_segments(session.id)
    assert [s.image_state for s in parts] == [ImageState.READY, ImageState.READY]
    assert orphan.prompt_id not in fake_comfy.history  # never drawn
    superseded = await store.get_segment(part1.id)
    assert superseded is not None
    assert superseded.submitted is None
    # Part 0 was drawn from its first prompt; only the rewritten part 1 was sent anew.
    assert len(fake_comfy.posted_prompts()) == 3
    assert parts[0].image_seed == fake_comfy.posted_prompts()[0]["prompt"]["3"]["inputs"]["seed"]


@pytest.mark.parametrize(("version", "interrupted"), [("0.3.64", True), ("0.3.56", False)])
async def test_the_running_prompt_of_a_story_stopped_by_the_kill_is_interrupted(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    view: RecordingView,
    store: Store,
    clock: FakeClock,
    version: str,
    interrupted: bool,
) -> None:
    fake_comfy.version = version
    fake_comfy.step_delay = 0.05
    first = await make_rig([fake_comfy.url], workflow=sd15_workflow(steps=200))
    session = await first.engine.start(PRIVATE, ALICE)
    await asyncio.wait_for(fake_comfy.started.wait(), 5)
    await kill(first)
    # A stop cut off by the kill: the story is stopped, its picture still drawing.
    await store.set_session_state(session.id, SessionState.STOPPED, clock.now())
    running = fake_comfy.running
    assert running is not None

    second = await make_rig([fake_comfy.url])
    await second.engine.resume()

    interrupts = fake_comfy.calls("POST", "/interrupt")
    # A targeted /interrupt needs 0.3.57: before, it would stop anybody's prompt.
    assert interrupts == ([{"prompt_id": running.prompt_id}] if interrupted else [])
    assert {"delete": [running.prompt_id]} in fake_comfy.calls("POST", "/queue")
    if interrupted:
        await asyncio.wait_for(fake_comfy.finished.wait(), 5)
        assert fake_comfy.running is None
    segments = await store.live_segments(session.id)
    assert all(s.submitted is None for s in segments)
    assert not view.of(ev.PictureReady)


async def test_a_prompt_that_finished_while_the_bot_was_dead_is_fetched_not_drawn_again(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    fake_comfy.hold = True
    first = await make_rig([fake_comfy.url])
    session = await first.engine.start(PRIVATE, ALICE)
    await posted(fake_comfy, 1)
    await kill(first)
    fake_comfy.release()  # ComfyUI draws it with nobody listening
    await asyncio.wait_for(fake_comfy.finished.wait(), 5)
    drawn = fake_comfy.posted_prompts()[0]

    second = await make_rig([fake_comfy.url], seed=2)
    await second.engine.resume()
    ready = await view.wait_for(ev.PictureReady)
    await second.engine.wait_idle()

    assert fake_comfy.posted_prompts() == [drawn]  # nothing sent again
    [part] = await store.live_segments(session.id)
    assert part.image_state is ImageState.READY
    assert part.image_seed == drawn["prompt"]["3"]["inputs"]["seed"]
    assert Path(ready.path).exists()
