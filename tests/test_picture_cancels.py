"""A redraw, retry or undo cancels only the pictures it supersedes: the recovered backlog
of older parts goes on; a prompt nobody waits for any more is taken off ComfyUI."""

from __future__ import annotations

import asyncio

from storycraft_bot.core.models import (
    ImagePrompt,
    ImageSource,
    Language,
    Picture,
    PictureFailure,
    PictureJob,
    SubmittedPrompt,
)
from tests.conftest import PRIVATE, RigFactory
from tests.fake_comfyui import FakeComfyUI


class Reports:
    """A PictureReporter that keeps what happened to each segment's picture."""

    def __init__(self) -> None:
        self.ready: list[int] = []
        self.dropped: list[int] = []
        self.changed = asyncio.Event()

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        return None

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        return None

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        return None

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        self.ready.append(job.segment_id)
        self.changed.set()

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        raise AssertionError(f"segment {job.segment_id} failed: {reason}")

    async def picture_dropped(self, job: PictureJob) -> None:
        self.dropped.append(job.segment_id)

    async def until_ready(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.ready) < count:
                self.changed.clear()
                await self.changed.wait()


def job(segment_id: int, *, backlog: bool = False) -> PictureJob:
    prompt = ImagePrompt(f"part {segment_id}", "blurry", ImageSource.RULE)
    return PictureJob(7, segment_id, PRIVATE, prompt, "sd15", backlog, language=Language.EN)


async def test_a_redraw_of_the_newest_part_keeps_the_backlog(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.hold = True  # the first picture stays in ComfyUI's queue
    rig = await make_rig([fake_comfy.url])
    reports = Reports()
    await rig.illustrator.enqueue(job(3), reports)  # the newest part, live
    await asyncio.wait_for(fake_comfy.received.wait(), 5)
    for older in (2, 1):  # recovered after a restart, newest first
        await rig.illustrator.enqueue(job(older, backlog=True), reports)
    (live,) = fake_comfy.pending

    await rig.illustrator.cancel_session(7, [3])  # what a redraw of part 3 supersedes

    assert fake_comfy.calls("POST", "/queue") == [{"delete": [live.prompt_id]}]
    assert fake_comfy.calls("POST", "/interrupt") == [{"prompt_id": live.prompt_id}]
    assert fake_comfy.pending == []  # ComfyUI will not draw it
    fake_comfy.release()
    await reports.until_ready(2)
    assert reports.ready == [2, 1]  # the backlog goes on, newest first
    assert len(rig.queue.running) + len(rig.queue.waiting) == 0


async def test_stop_cancels_every_picture_of_the_story(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.hold = True
    rig = await make_rig([fake_comfy.url])
    reports = Reports()
    await rig.illustrator.enqueue(job(3), reports)
    await asyncio.wait_for(fake_comfy.received.wait(), 5)
    await rig.illustrator.enqueue(job(2, backlog=True), reports)

    await rig.illustrator.cancel_session(7)

    assert fake_comfy.pending == []
    assert len(rig.queue.running) + len(rig.queue.waiting) == 0
    assert len(fake_comfy.posted_prompts()) == 1  # the waiting one never reached ComfyUI
