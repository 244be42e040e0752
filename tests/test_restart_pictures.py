"""No picture is lost to a restart: engines killed at several points of a part's life,
then a fresh engine on the same database file draws every missing picture."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from storycraft_bot.core import events as ev
from storycraft_bot.core.models import Actor, ImageState, SegmentState
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, PictureRig, RigFactory
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import RecordingView

ALICE = Actor("u1", "Alice")


async def kill(rig: PictureRig, comfy: FakeComfyUI) -> None:
    """The process dies; ComfyUI restarts too and forgets what it held."""
    await rig.engine.shutdown()
    await rig.illustrator.close()
    comfy.pending.clear()


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
    await kill(first, fake_comfy)

    stored = {s.index: s for s in await store.live_segments(session.id)}
    assert stored[0].image_state in (ImageState.QUEUED, ImageState.DRAWING)
    assert stored[1].image_state is ImageState.QUEUED
    assert stored[2].image_state is ImageState.NONE
    assert stored[2].image_prompt == ""

    # A second life, killed before the first token of the next part.
    second = await make_rig([fake_comfy.url])
    await second.engine.resume()
    await second.engine.press(PRIVATE, ALICE, part2.id, 0)
    await kill(second, fake_comfy)

    fake_comfy.hold = False
    seen = len(view.events)
    posted = len(fake_comfy.posted_prompts())
    third = await make_rig([fake_comfy.url])
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
    # The recovered ones were drawn newest first.
    texts = [p["prompt"]["6"]["inputs"]["text"] for p in fake_comfy.posted_prompts()[posted:]]
    recovered = [texts.index(parts[i].image_prompt) for i in (2, 1, 0)]
    assert recovered == sorted(recovered)


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
    await kill(first, fake_comfy)

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
