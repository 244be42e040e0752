"""Pictures end to end: the engine, the GPU queue and real ComfyUI clients over the fake
ComfyUI (and the fake Ollama for the GPU hand-off)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from storycraft_bot.core import events as ev
from storycraft_bot.core.errors import StoryActionError, WorkflowError
from storycraft_bot.core.models import Actor, ImageState
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.workflow import check_workflow
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE, RigFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.fakes import FakeClock, RecordingView

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")


async def test_a_segment_gets_its_picture(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    rig = await make_rig([fake_comfy.url])
    session = await rig.engine.start(PRIVATE, ALICE, genre="fantasy")

    ready = await view.wait_for(ev.PictureReady)

    segment = await store.get_segment(ready.segment_id)
    assert segment is not None
    assert segment.image_state is ImageState.READY
    assert Path(segment.image_file) == Path(ready.path)
    assert Path(ready.path).parent == rig.pictures / str(session.id)
    with Image.open(Path(ready.path)) as picture:
        assert picture.format == "PNG"
    assert segment.image_server == fake_comfy.url
    posted = fake_comfy.posted_prompts()[0]
    assert posted["prompt"]["6"]["inputs"]["text"] == segment.image_prompt
    assert posted["prompt"]["3"]["inputs"]["seed"] == segment.image_seed
    kinds = [
        type(e)
        for e in view.events
        if isinstance(e, ev.PictureQueued | ev.PictureProgress | ev.PictureReady)
    ]
    # Nothing was ahead, so it went straight to drawing: no "0 ahead" message first.
    assert kinds[0] is ev.PictureProgress
    assert kinds[-1] is ev.PictureReady


async def test_redraw_uses_a_new_seed(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    rig = await make_rig([fake_comfy.url])
    await rig.engine.start(PRIVATE, ALICE)
    first = await view.wait_for(ev.PictureReady)

    with pytest.raises(StoryActionError, match="not_allowed"):
        await rig.engine.redraw(PRIVATE, BOB)
    await rig.engine.redraw(PRIVATE, ALICE)
    second = await view.wait_for(ev.PictureReady, count=2)

    assert second.segment_id == first.segment_id
    assert second.path != first.path
    seeds = [p["prompt"]["3"]["inputs"]["seed"] for p in fake_comfy.posted_prompts()]
    assert len(set(seeds)) == 2
    assert Path(first.path).read_bytes() != Path(second.path).read_bytes()
    prompts = [p["prompt"]["6"]["inputs"]["text"] for p in fake_comfy.posted_prompts()]
    assert prompts[0] == prompts[1]  # same prompt, new seed


async def test_a_failed_picture_is_short_and_anyone_may_redraw(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    rig = await make_rig([fake_comfy.url], workflow=sd15_workflow(checkpoint="junk.safetensors"))
    await rig.engine.start(PRIVATE, ALICE)

    failed = await view.wait_for(ev.PictureFailed)

    assert (
        failed.reason
        == "CheckpointLoaderSimple failed: Error while deserializing header: header too small"
    )
    assert not failed.outage
    assert not view.of(ev.Notice)
    segment = await store.get_segment(failed.segment_id)
    assert segment is not None
    assert segment.image_state is ImageState.FAILED
    await rig.engine.redraw(PRIVATE, BOB)  # a failed picture can be redrawn by anyone
    await view.wait_for(ev.PictureFailed, count=2)


async def test_comfyui_down_the_story_goes_on_and_says_so_once_then_pictures_resume(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, clock: FakeClock
) -> None:
    rig = await make_rig([fake_comfy.url])
    fake_comfy.fail_prompts = 100  # the server answers 500 to everything we submit
    await rig.engine.start(PRIVATE, ALICE)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await view.wait_for(ev.PictureFailed)

    await rig.engine.press(PRIVATE, ALICE, first.id, 0)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await view.wait_for(ev.PictureFailed, count=2)

    notices = [n.code for n in view.of(ev.Notice)]
    assert notices == ["pictures_off"]  # said once, not per segment
    assert all(f.outage for f in view.of(ev.PictureFailed))
    posts_while_down = len(fake_comfy.posted_prompts())

    fake_comfy.fail_prompts = 0  # back up
    await clock.advance(31)  # past the pool's recheck time
    await rig.engine.press(PRIVATE, ALICE, second.id, 1)
    ready = await view.wait_for(ev.PictureReady)
    assert ready.segment_id != second.id
    assert len(fake_comfy.posted_prompts()) > posts_while_down
    assert [n.code for n in view.of(ev.Notice)] == ["pictures_off"]


async def test_two_servers_one_down_the_job_goes_to_the_other(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView
) -> None:
    second = FakeComfyUI()
    await second.start()
    try:
        rig = await make_rig([second.url, fake_comfy.url])
        second.fail_prompts = 100
        await rig.engine.start(PRIVATE, ALICE)

        ready = await view.wait_for(ev.PictureReady)

        assert len(fake_comfy.posted_prompts()) == 1
        assert second.posted_prompts()  # tried first, then skipped
        # ... and told to drop that prompt, in case it got in: it is drawn elsewhere.
        tried = second.posted_prompts()[-1]["prompt_id"]
        assert {"delete": [tried]} in second.calls("POST", "/queue")
        down, up = rig.pool.servers
        assert down.down_until > 0
        assert up.down_until == 0
        assert not view.of(ev.Notice)  # no outage: the other server drew it
        assert Path(ready.path).exists()
    finally:
        await second.stop()


async def test_stop_interrupts_the_running_picture(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView
) -> None:
    fake_comfy.step_delay = 0.05
    rig = await make_rig([fake_comfy.url], workflow=sd15_workflow(steps=200))
    await rig.engine.start(PRIVATE, ALICE)
    await view.wait_for(ev.PictureProgress)
    await asyncio.wait_for(fake_comfy.started.wait(), 5)

    await rig.engine.stop(PRIVATE, ALICE)

    interrupts = fake_comfy.calls("POST", "/interrupt")
    assert interrupts
    assert interrupts[0]["prompt_id"] == fake_comfy.posted_prompts()[0]["prompt_id"]
    assert not view.of(ev.PictureReady)
    assert rig.queue.running == ()


async def test_a_newer_segments_picture_replaces_the_older_waiting_one(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    rig = await make_rig([fake_comfy.url])
    fake_comfy.hold = True  # another guild's picture occupies the GPU
    await rig.engine.start(GROUP, ALICE)  # it gets the GPU and sits in ComfyUI's queue
    await view.wait_for(ev.SegmentFinished)
    other = PRIVATE
    await rig.engine.start(other, BOB)
    first = (await view.wait_for(ev.SegmentFinished, lambda e: e.key == other.key)).segment
    await view.wait_for(ev.PictureQueued, lambda e: e.segment_id == first.id)

    await rig.engine.press(other, BOB, first.id, 0)
    second = (
        await view.wait_for(ev.SegmentFinished, lambda e: e.key == other.key, count=2)
    ).segment
    dropped = await view.wait_for(ev.PictureDropped)
    assert dropped.segment_id == first.id
    old = await store.get_segment(first.id)
    assert old is not None
    assert old.image_state is ImageState.NONE

    fake_comfy.release()
    ready = await view.wait_for(ev.PictureReady, lambda e: e.key == other.key)
    assert ready.segment_id == second.id


async def test_pictures_can_be_switched_off_per_channel(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    rig = await make_rig([fake_comfy.url])
    await rig.engine.start(PRIVATE, ALICE)
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await view.wait_for(ev.PictureReady)
    await rig.engine.configure(PRIVATE, ALICE, pictures=False)

    await rig.engine.press(PRIVATE, ALICE, first.id, 0)
    second = (await view.wait_for(ev.SegmentFinished, count=2)).segment
    await rig.engine.wait_idle()

    assert len(fake_comfy.posted_prompts()) == 1
    stored = await store.get_segment(second.id)
    assert stored is not None
    assert stored.image_state is ImageState.OFF
    with pytest.raises(StoryActionError, match="pictures_disabled"):
        await rig.engine.redraw(PRIVATE, ALICE)


async def test_a_queued_picture_is_drawn_after_a_restart(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView, store: Store
) -> None:
    fake_comfy.hold = True
    before = await make_rig([fake_comfy.url])
    await before.engine.start(PRIVATE, ALICE)
    await asyncio.wait_for(fake_comfy.received.wait(), 5)  # submitted; the server holds it
    await before.engine.shutdown()
    await before.illustrator.close()
    fake_comfy.pending.clear()  # ComfyUI restarted too and forgot it
    fake_comfy.hold = False

    after = await make_rig([fake_comfy.url])
    await after.engine.resume()

    ready = await view.wait_for(ev.PictureReady)
    assert Path(ready.path).exists()


async def test_shared_gpu_hands_memory_over_both_ways(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    view: RecordingView,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    rig = await make_rig([fake_comfy.url], shared_gpu=True, min_free=4 * 1024**3)
    fake_comfy.vram_free = 1 * 1024**3  # ComfyUI is squeezed

    await rig.engine.start(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady)

    # Before the text: ComfyUI was asked to free its memory.
    assert fake_comfy.calls("POST", "/free")
    assert "GPU hand-off to text" in caplog.text
    # Before the picture: Ollama's loaded models were unloaded with keep_alive 0.
    fake_comfy.vram_free = 1 * 1024**3
    await rig.engine.redraw(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady, count=2)
    unloads = [
        r
        for r in fake_ollama.requests
        if r["_path"] == "/api/generate" and r.get("keep_alive") == 0
    ]
    assert unloads
    assert "GPU hand-off to pictures" in caplog.text


async def test_the_workflow_is_checked_against_the_server(
    comfy_client: ComfyClient,
    fake_comfy: FakeComfyUI,
) -> None:
    await check_workflow(sd15_workflow(), comfy_client.node_info, fake_comfy.url)

    with pytest.raises(WorkflowError) as missing:
        await check_workflow(
            sd15_workflow(checkpoint="dreamshaper.safetensors"), comfy_client.node_info, "srv"
        )
    assert str(missing.value) == (
        "checkpoint 'dreamshaper.safetensors' is not installed on srv; it has: "
        "junk.safetensors, random-sd15.safetensors (set COMFYUI_CHECKPOINT)"
    )
    workflow = sd15_workflow()
    broken = workflow.with_values({})
    graph = dict(broken.graph)
    graph["99"] = {"class_type": "FancyUpscaler", "inputs": {}}
    from storycraft_bot.pictures.workflow import Workflow

    with pytest.raises(WorkflowError, match="does not have: FancyUpscaler"):
        await check_workflow(
            Workflow("mine", graph, broken.bindings), comfy_client.node_info, "srv"
        )


async def test_a_story_can_draw_with_another_workflow(
    make_rig: RigFactory, fake_comfy: FakeComfyUI, view: RecordingView
) -> None:
    from storycraft_bot.pictures.workflow import load_workflow
    from tests.conftest import WORKFLOWS

    fake_comfy.checkpoints.append("sd_xl_base_1.0.safetensors")
    sdxl = load_workflow(WORKFLOWS / "sdxl.json").with_values(
        {"width": 64, "height": 64, "steps": 2}
    )
    rig = await make_rig([fake_comfy.url])
    rig.illustrator._workflows["sdxl"] = sdxl  # as bot.py offers the shipped workflows
    await rig.engine.start(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady)
    await rig.engine.configure(PRIVATE, ALICE, workflow="sdxl")

    await rig.engine.redraw(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady, count=2)

    first, second = fake_comfy.posted_prompts()
    assert first["prompt"]["3"]["class_type"] == "KSampler"  # sd15's sampler node
    assert second["prompt"]["10"]["class_type"] == "KSampler"  # sdxl's
    assert second["prompt"]["4"]["inputs"]["ckpt_name"] == "sd_xl_base_1.0.safetensors"
