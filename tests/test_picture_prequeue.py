"""Each ComfyUI server holds the next prompt while one draws: the finish path overlaps the
next drawing, a pre-queued prompt that is cancelled leaves ComfyUI's queue, and positions
count what ComfyUI holds for other clients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    ImagePrompt,
    ImageSource,
    Language,
    Picture,
    PictureFailure,
    PictureJob,
    Place,
    Platform,
    SubmittedPrompt,
)
from storycraft_bot.pictures.illustrator import JOBS_PER_SERVER
from tests.conftest import GROUP, PRIVATE, RigFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")


class Reports:
    """A PictureReporter whose first picture_ready waits until `store` is set."""

    def __init__(self) -> None:
        self.queued: dict[int, list[int]] = {}
        self.ready: list[int] = []
        self.store = asyncio.Event()
        self.storing = asyncio.Event()

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        return None

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        self.queued.setdefault(job.segment_id, []).append(ahead)

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        return None

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        self.storing.set()
        await self.store.wait()  # the finish path of the first picture stalls here
        self.ready.append(job.segment_id)

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        raise AssertionError(f"segment {job.segment_id} failed: {reason}")

    async def picture_dropped(self, job: PictureJob) -> None:
        return None


def job(session_id: int, segment_id: int) -> PictureJob:
    place = Place(ChannelKey(Platform.DISCORD, str(session_id)), f"g{session_id}", True)
    prompt = ImagePrompt(f"part {segment_id}", "blurry", ImageSource.RULE)
    return PictureJob(session_id, segment_id, place, prompt, "sd15", False, language=Language.EN)


async def until(check: Callable[[], bool]) -> None:
    """Polls the fake server's state (it has no event for every change)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_the_next_prompt_is_submitted_before_the_finish_path_ends(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_rig([fake_comfy.url], total=JOBS_PER_SERVER)
    reports = Reports()
    for n in (1, 2, 3):
        await rig.illustrator.enqueue(job(n, n), reports)

    await asyncio.wait_for(reports.storing.wait(), 10)  # the first is drawn, being stored
    await until(lambda: len(fake_comfy.posted_prompts()) == 3)

    assert reports.ready == []  # the first picture's finish path has not ended
    reports.store.set()
    await until(lambda: len(reports.ready) == 3)
    assert sorted(reports.ready) == [1, 2, 3]


async def test_positions_count_what_comfyui_holds_for_other_clients(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.hold = True
    rig = await make_rig([fake_comfy.url], total=JOBS_PER_SERVER)
    someone_else = rig.pool.servers[0].client
    graph = sd15_workflow().render({"positive": "a cat", "negative": "", "seed": 5})
    await someone_else.submit(graph, "foreign-prompt", "another-client")
    reports = Reports()

    for n in (1, 2):
        await rig.illustrator.enqueue(job(n, n), reports)
        # Held by ComfyUI, and heard so by the client (its status frames may lag).
        await until(
            lambda n=n: (
                len(fake_comfy.pending) == n + 1  # type: ignore[misc]
                and someone_else.queue_remaining == n + 1
            )
        )
    await rig.illustrator.enqueue(job(3, 3), reports)
    await until(lambda: 3 in reports.queued)

    assert reports.queued[1] == [1]  # submitted behind the other client's prompt
    assert reports.queued[2] == [2]  # and behind our first
    assert reports.queued[3] == [3]  # waits in the bot, behind all three ComfyUI holds
    assert fake_comfy.pending[0].prompt_id == "foreign-prompt"


@pytest.mark.parametrize("action", ["stop", "undo", "retry"])
async def test_a_cancelled_prequeued_picture_leaves_comfyuis_queue(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, action: str
) -> None:
    fake_comfy.hold = True  # nothing draws: every prompt of ours waits in ComfyUI's queue
    rig = await make_rig([fake_comfy.url], total=JOBS_PER_SERVER, per_guild=2)
    await rig.engine.start(GROUP, ALICE)  # another story's picture goes first
    await until(lambda: len(fake_comfy.pending) == 1)
    await rig.engine.start(PRIVATE, ALICE)
    first = (await view.wait_for(ev.SegmentFinished, lambda e: e.key == PRIVATE.key)).segment
    await until(lambda: len(fake_comfy.pending) == 2)
    others, ours = (j.prompt_id for j in fake_comfy.pending)

    if action == "stop":
        await rig.engine.stop(PRIVATE, ALICE)
    elif action == "retry":
        await rig.engine.retry(PRIVATE, ALICE)
    else:
        await rig.engine.press(PRIVATE, ALICE, first.id, 0)
        await view.wait_for(ev.SegmentFinished, lambda e: e.key == PRIVATE.key, count=2)
        await rig.engine.undo(PRIVATE, ALICE)  # its picture was never granted: nothing held
        await rig.engine.retry(PRIVATE, ALICE)  # the reopened part's pre-queued picture

    await until(lambda: ours not in [j.prompt_id for j in fake_comfy.pending])
    assert {"delete": [ours]} in fake_comfy.calls("POST", "/queue")
    assert others in [j.prompt_id for j in fake_comfy.pending]  # the other story's stays


async def test_waiting_pictures_share_one_look_at_comfyuis_queue(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, clock: FakeClock
) -> None:
    fake_comfy.hold = True
    rig = await make_rig([fake_comfy.url], total=JOBS_PER_SERVER)
    reports = Reports()
    for n in range(1, 3):  # the server's two slots: pre-queued in ComfyUI
        await rig.illustrator.enqueue(job(n, n), reports)
    client = rig.pool.servers[0].client
    # Both held by ComfyUI, and the client has heard so (its status frames may lag).
    await until(lambda: len(fake_comfy.pending) == 2 and client.queue_remaining == 2)
    await clock.advance(5)  # what the client heard is old now: the next report asks again
    asked_before = len(fake_comfy.calls("GET", "/queue"))

    for n in range(3, 43):  # forty guilds' pictures wait in the bot's queue at once
        await rig.illustrator.enqueue(job(n, n), reports)
    await until(lambda: all(n in reports.queued for n in range(3, 43)))

    # Each was told what ComfyUI holds; all of them together asked it once, not forty times.
    assert all(reports.queued[n][-1] >= 2 for n in range(3, 43)), reports.queued
    assert len(fake_comfy.calls("GET", "/queue")) - asked_before <= 2
