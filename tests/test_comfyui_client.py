"""The ComfyUI client against the fake server: the whole flow and every failure."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import connect

from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.errors import (
    IllustratorUnavailable,
    PromptVanished,
    RenderFailed,
    RenderInterrupted,
    WorkflowError,
)
from storycraft_bot.pictures.comfyui import ComfyClient, Rendered
from tests.conftest import sd15_workflow
from tests.fake_comfyui import TRACES, FakeComfyUI
from tests.fakes import FakeClock


class Progress:
    def __init__(self) -> None:
        self.percents: list[int] = []
        self.started = 0

    async def on_progress(self, percent: int) -> None:
        self.percents.append(percent)

    async def on_started(self) -> None:
        self.started += 1


def graph(seed: int = 1, **values: object) -> dict[str, object]:
    return sd15_workflow(**values).render({"positive": "a cat", "negative": "blurry", "seed": seed})


async def draw(
    client: ComfyClient, seed: int = 1, prompt_id: str | None = None, **values: object
) -> tuple[Rendered, Progress]:
    progress = Progress()
    rendered = await client.draw(
        graph(seed, **values),
        prompt_id or str(uuid.uuid4()),
        progress.on_progress,
        progress.on_started,
    )
    return rendered, progress


async def test_a_picture_end_to_end(comfy_client: ComfyClient, fake_comfy: FakeComfyUI) -> None:
    prompt_id = str(uuid.uuid4())
    rendered, progress = await draw(comfy_client, prompt_id=prompt_id)

    assert rendered.prompt_id == prompt_id
    with Image.open(io.BytesIO(rendered.data)) as picture:
        assert picture.size == (64, 64)
    assert rendered.filename.startswith("ComfyUI_temp_")
    # Kept once, by us: the shipped workflow previews, so ComfyUI's output folder stays empty.
    assert fake_comfy.output_files() == []
    assert [view["type"] for view in fake_comfy.calls("GET", "/view")] == ["temp"]
    assert progress.started == 1
    assert progress.percents == [25, 50, 75, 100]
    posted = fake_comfy.posted_prompts()[0]
    assert posted["prompt_id"] == prompt_id  # our own id, kept by ComfyUI
    assert posted["client_id"]  # and a client id, or no frames would reach us
    assert posted["prompt"]["3"]["inputs"]["seed"] == 1


async def test_the_fake_frame_order_matches_the_trace(fake_comfy: FakeComfyUI) -> None:
    recorded = json.loads((TRACES / "sd15.json").read_text())["runs"][0]["ws_sequence"]
    client_id = uuid.uuid4().hex
    async with connect(f"{fake_comfy.url.replace('http', 'ws')}/ws?clientId={client_id}") as ws:
        import httpx

        async with httpx.AsyncClient() as http:
            body = {"prompt": graph(steps=1), "client_id": client_id}
            assert (await http.post(f"{fake_comfy.url}/prompt", json=body)).status_code == 200
        seen = []
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame["type"])
            if frame["type"] == "executing" and frame["data"]["node"] is None:
                break

    def strip(kinds: list[str]) -> list[str]:
        return [k for k in kinds if k not in ("status", "progress_state")]

    assert strip(seen) == strip(recorded)


async def test_frames_reach_only_the_socket_of_the_client_id(
    fake_comfy: FakeComfyUI, comfy_client: ComfyClient
) -> None:
    async with connect(
        f"{fake_comfy.url.replace('http', 'ws')}/ws?clientId=bystander"
    ) as bystander:
        await draw(comfy_client)
        frames = []
        try:
            while True:
                import asyncio

                async with asyncio.timeout(0.2):
                    frames.append(json.loads(await bystander.recv())["type"])
        except TimeoutError:
            pass
    assert set(frames) <= {"status"}


async def test_binary_preview_frames_are_skipped(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.previews = True
    rendered, progress = await draw(comfy_client)
    assert rendered.data.startswith(b"\x89PNG")
    assert progress.percents[-1] == 100


async def test_every_seed_gives_a_new_picture_and_a_repeat_is_served_from_cache(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    first, _ = await draw(comfy_client, seed=1)
    again, _ = await draw(comfy_client, seed=1)
    other, _ = await draw(comfy_client, seed=2)

    assert again.filename == first.filename  # ComfyUI's cache: the old file
    assert other.filename != first.filename
    assert other.data != first.data


async def test_a_validation_error_is_a_workflow_error(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    with pytest.raises(WorkflowError, match=re.escape("ckpt_name: 'missing.safetensors' not in")):
        await draw(comfy_client, checkpoint="missing.safetensors")
    assert len(fake_comfy.posted_prompts()) == 1  # not retried


async def test_an_execution_error_is_short_for_users(
    comfy_client: ComfyClient, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RenderFailed) as failed:
        await draw(comfy_client, checkpoint="junk.safetensors")
    assert (
        str(failed.value)
        == "CheckpointLoaderSimple failed: Error while deserializing header: header too small"
    )
    assert "execution.py" in caplog.text  # the traceback goes to the log only
    assert "execution.py" not in str(failed.value)


async def test_a_500_is_retried_under_the_same_prompt_id(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.fail_prompts = 1
    prompt_id = str(uuid.uuid4())

    rendered, _ = await draw(comfy_client, prompt_id=prompt_id)

    posted = fake_comfy.posted_prompts()
    assert [p["prompt_id"] for p in posted] == [prompt_id, prompt_id]
    assert fake_comfy.calls("GET", "/queue")  # checked before re-sending
    assert rendered.prompt_id == prompt_id


async def test_persistent_500s_make_the_server_unavailable(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.fail_prompts = 10
    with pytest.raises(IllustratorUnavailable, match="answered 500"):
        await draw(comfy_client)
    assert len(fake_comfy.posted_prompts()) == 3


async def test_a_dropped_socket_is_reconnected_and_the_job_recovered(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.drop_socket_at_step = 2
    fake_comfy.step_delay = 0.02

    rendered, _ = await draw(comfy_client, steps=6)

    assert rendered.data.startswith(b"\x89PNG")
    assert len(fake_comfy.posted_prompts()) == 1  # recovered, not re-submitted


async def test_an_interrupt_stops_the_prompt_at_the_next_step(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:

    fake_comfy.step_delay = 0.05
    prompt_id = str(uuid.uuid4())
    drawing = asyncio.create_task(draw(comfy_client, prompt_id=prompt_id, steps=50))
    await asyncio.wait_for(fake_comfy.started.wait(), 5)

    await comfy_client.interrupt(prompt_id)

    with pytest.raises(RenderInterrupted):
        await drawing
    entry = fake_comfy.history[prompt_id]
    assert entry["status"]["status_str"] == "error"


async def test_a_server_that_is_down_is_unavailable(comfy_http: httpx.AsyncClient) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ComfyClient(
        f"http://127.0.0.1:{port}", comfy_http, SystemClock(), backoff=0.01, reconnects=1
    )
    with pytest.raises(IllustratorUnavailable):
        await draw(client)
    with pytest.raises(IllustratorUnavailable, match="does not answer"):
        await client.system_stats()


async def test_a_server_that_accepts_but_never_runs_is_detected(
    comfy_http: httpx.AsyncClient,
    fake_comfy: FakeComfyUI,
) -> None:

    clock = FakeClock()
    client = ComfyClient(fake_comfy.url, comfy_http, clock, check_every=60, backoff=0.01)
    fake_comfy.hold = True
    drawing = asyncio.create_task(draw(client))
    async with asyncio.timeout(10):
        while not fake_comfy.calls("GET", "/queue"):  # until the socket stays silent a minute
            await clock.wait_for_sleepers()
            await clock.advance(60)
    await clock.wait_for_sleepers()  # asked the server, which still has it: listening again
    assert not drawing.done()

    fake_comfy.pending.clear()  # the server forgets it (restarted)
    await clock.advance(60)
    with pytest.raises(PromptVanished, match="removed from ComfyUI's queue"):
        await drawing


async def test_memory_and_queue_calls(comfy_client: ComfyClient, fake_comfy: FakeComfyUI) -> None:
    fake_comfy.vram_free = 1000
    assert await comfy_client.free_vram() == 1000
    await comfy_client.free()
    assert fake_comfy.calls("POST", "/free") == [{"unload_models": True, "free_memory": True}]
    assert await comfy_client.free_vram() == fake_comfy.vram_total
    await comfy_client.delete_pending(["x"])
    assert fake_comfy.calls("POST", "/queue") == [{"delete": ["x"]}]
    assert await comfy_client.node_info("NoSuchNode") == {}
    assert "input" in await comfy_client.node_info("KSampler")


async def _chatter_until_done(
    fake: FakeComfyUI, clock: FakeClock, drawing: asyncio.Future[Any]
) -> None:
    """Other users' status frames every 30 s while the clock runs, until the draw ends."""
    async with asyncio.timeout(10):
        while not drawing.done():
            await fake.other_users_status()
            asleep = asyncio.ensure_future(clock.wait_for_sleepers())
            await asyncio.wait({asleep, drawing}, return_when=asyncio.FIRST_COMPLETED)
            asleep.cancel()  # the draw may end while it asks ComfyUI, asleep on nothing
            await clock.advance(30)
            await asyncio.sleep(0.01)


async def test_a_prompt_deleted_behind_our_back_is_noticed_amid_other_users_frames(
    comfy_http: httpx.AsyncClient, fake_comfy: FakeComfyUI
) -> None:
    clock = FakeClock()
    client = ComfyClient(fake_comfy.url, comfy_http, clock, check_every=60, backoff=0.01)
    fake_comfy.hold = True  # busy with someone else's work: ours waits in the queue
    prompt_id = str(uuid.uuid4())
    drawing = asyncio.ensure_future(draw(client, prompt_id=prompt_id))
    await fake_comfy.received.wait()
    for _ in range(6):  # three minutes of other users' frames, every 30 s
        await fake_comfy.other_users_status()
        await clock.wait_for_sleepers()
        await clock.advance(30)
        await asyncio.sleep(0.01)
    assert not drawing.done()  # still queued, and known to be: it was asked about
    assert len(fake_comfy.calls("GET", "/queue")) >= 2

    fake_comfy.delete_behind_the_back(prompt_id)
    await _chatter_until_done(fake_comfy, clock, drawing)

    with pytest.raises(PromptVanished, match="removed from ComfyUI's queue"):
        await drawing
    assert fake_comfy.posted_prompts()[0]["prompt_id"] == prompt_id  # never sent again


async def test_a_prompt_that_finished_while_we_did_not_listen_is_fetched_from_history(
    comfy_http: httpx.AsyncClient, fake_comfy: FakeComfyUI
) -> None:
    clock = FakeClock()
    client = ComfyClient(fake_comfy.url, comfy_http, clock, check_every=60, backoff=0.01)
    fake_comfy.unheard = True  # none of our prompt's frames reach us
    prompt_id = str(uuid.uuid4())
    drawing = asyncio.ensure_future(draw(client, prompt_id=prompt_id))
    async with asyncio.timeout(10):
        await fake_comfy.finished.wait()
    assert prompt_id in fake_comfy.history

    await _chatter_until_done(fake_comfy, clock, drawing)

    rendered, progress = await drawing
    assert rendered.prompt_id == prompt_id
    with Image.open(io.BytesIO(rendered.data)) as picture:
        assert picture.size == (64, 64)
    assert progress.started == 0  # not one of its frames came: the history told
    assert len(fake_comfy.posted_prompts()) == 1
