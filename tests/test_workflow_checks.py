"""Every offered workflow is checked against each ComfyUI server at start: one a server
cannot run is not sent there, and not offered when no server can."""

from __future__ import annotations

import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.errors import WorkflowError
from storycraft_bot.core.models import Actor
from storycraft_bot.pictures.workflow import Workflow, load_workflow
from tests.conftest import PRIVATE, WORKFLOWS, RigFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fakes import RecordingView

ALICE = Actor("u1", "Alice")
SDXL_CHECKPOINT = "sd_xl_base_1.0.safetensors"


def sdxl_workflow() -> Workflow:
    return load_workflow(WORKFLOWS / "sdxl.json").with_values(
        {"width": 64, "height": 64, "steps": 2}
    )


async def test_a_server_without_the_sdxl_checkpoint_offers_only_sd15(
    make_rig: RigFactory,
    fake_comfy: FakeComfyUI,
    view: RecordingView,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert SDXL_CHECKPOINT not in fake_comfy.checkpoints
    rig = await make_rig([fake_comfy.url], others={"sdxl": sdxl_workflow()})
    before = rig.illustrator.workflow_names  # not checked yet: maybe
    await rig.illustrator.check_servers()

    assert (before, rig.illustrator.workflow_names) == (("sd15", "sdxl"), ("sd15",))
    reasons = [r.getMessage() for r in caplog.records if "workflow sdxl" in r.getMessage()]
    assert reasons == [
        f"workflow sdxl is not sent to {fake_comfy.url}: checkpoint '{SDXL_CHECKPOINT}' is "
        f"not installed on {fake_comfy.url}; it has: junk.safetensors, "
        "random-sd15.safetensors (set COMFYUI_CHECKPOINT)",
        "workflow sdxl is not offered: no ComfyUI server can run it",
    ]
    await rig.engine.start(PRIVATE, ALICE)
    await view.wait_for(ev.PictureReady)
    (posted,) = fake_comfy.posted_prompts()
    assert posted["prompt"]["4"]["inputs"]["ckpt_name"] == "random-sd15.safetensors"


async def test_an_sdxl_picture_goes_only_to_the_server_that_has_its_checkpoint(
    make_rig: RigFactory, view: RecordingView
) -> None:
    plain, xl = FakeComfyUI(), FakeComfyUI()
    xl.checkpoints.append(SDXL_CHECKPOINT)
    for server in (plain, xl):
        await server.start()
    try:
        rig = await make_rig([plain.url, xl.url], others={"sdxl": sdxl_workflow()})
        await rig.illustrator.check_servers()
        assert rig.illustrator.workflow_names == ("sd15", "sdxl")
        await rig.engine.start(PRIVATE, ALICE)
        await view.wait_for(ev.PictureReady)
        await rig.engine.configure(PRIVATE, ALICE, workflow="sdxl")
        for count in (2, 3, 4):  # the least busy server would be the first, every time
            await rig.engine.redraw(PRIVATE, ALICE)
            await view.wait_for(ev.PictureReady, count=count)

        sdxl_prompts = [
            p for server in (plain, xl) for p in server.posted_prompts() if "10" in p["prompt"]
        ]
        assert len(sdxl_prompts) == 3
        assert all("10" not in p["prompt"] for p in plain.posted_prompts())
    finally:
        for server in (plain, xl):
            await server.stop()


async def test_a_default_workflow_no_server_can_run_stops_start_up(
    make_rig: RigFactory, fake_comfy: FakeComfyUI
) -> None:
    rig = await make_rig(
        [fake_comfy.url], workflow=sd15_workflow(checkpoint="dreamshaper.safetensors")
    )
    with pytest.raises(WorkflowError, match=r"'dreamshaper\.safetensors' is not installed"):
        await rig.illustrator.check_servers()
