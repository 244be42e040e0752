"""Pictures that keep their faces and style (issue 16): a style in every prompt, a seed
kept per character, the first picture of a character as the reference of later ones
(uploaded to ComfyUI and bound to a LoadImage), LoRA and VAE bound from the style."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.errors import WorkflowError
from storycraft_bot.core.faces import face_seed
from storycraft_bot.core.models import Actor, Language, PictureStyle, StorySettings
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import ComfyIllustrator
from storycraft_bot.pictures.workflow import load_workflow
from storycraft_bot.storage.sqlite import Store
from tests.conftest import PRIVATE, WORKFLOWS, EngineFactory, StoreFactory, sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fakes import FakeClock, RecordingIllustrator, RecordingView

ALICE = Actor("u1", "Alice")
INK = PictureStyle("ink", "ink wash drawing, monochrome", "color photo, 3d render")
LORA_INK = PictureStyle(
    "lora ink", "ink wash", "", "ink.safetensors", 0.7, "vae-ft-mse.safetensors", "sd15_lora"
)
TINY = {"checkpoint": "random-sd15.safetensors", "width": 64, "height": 64, "steps": 2}

Build = Callable[..., Awaitable[tuple[StoryEngine, ComfyIllustrator]]]


@pytest.fixture
async def build(
    gateway: OllamaGateway,
    clock: FakeClock,
    view: RecordingView,
    fake_comfy: FakeComfyUI,
    comfy_http: httpx.AsyncClient,
    tmp_path: Path,
) -> AsyncIterator[Build]:
    """Engines drawing on the fake ComfyUI with the shipped workflows, remembering the
    characters of every part but the last (so a character's second picture comes soon)."""
    built: list[tuple[StoryEngine, ComfyIllustrator]] = []

    async def make(store: Store, story: StorySettings, styles: StyleBook) -> Any:
        client = ComfyClient(fake_comfy.url, comfy_http, SystemClock(), backoff=0.01)
        others = {
            name: load_workflow(WORKFLOWS / f"{name}.json").with_values(TINY)
            for name in ("sd15_reference", "sd15_lora")
        }
        illustrator = ComfyIllustrator(
            ServerPool([client], clock),
            GpuQueue(),
            sd15_workflow(steps=2),
            tmp_path / "pictures",
            clock,
            rng=random.Random(len(built)),
            others=others,
        )
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            illustrator,
            view,
            clock,
            EngineConfig(
                language=Language.EN,
                story=story,
                styles=styles,
                recent_segments=1,
                memory_every=1,
            ),
            random.Random(1),
        )
        built.append((engine, illustrator))
        return engine, illustrator

    yield make
    for engine, illustrator in built:
        await engine.shutdown()
        await illustrator.close()


async def play(engine: StoryEngine, view: RecordingView, parts: int, done: int = 0) -> None:
    """Choose through `parts` more parts, each with its picture drawn."""
    for count in range(done + 1, done + parts + 1):
        await view.wait_for(ev.PictureReady, count=count)
        if count < done + parts:
            segment = (await view.wait_for(ev.SegmentFinished, count=count)).segment
            await engine.press(PRIVATE, ALICE, segment.id, 0)


def sampler_seeds(fake: FakeComfyUI) -> list[int]:
    return [int(p["prompt"]["3"]["inputs"]["seed"]) for p in fake.posted_prompts()]


def load_images(fake: FakeComfyUI) -> list[str | None]:
    """The LoadImage input of each posted prompt (None: the prompt has no LoadImage)."""
    found: list[str | None] = []
    for posted in fake.posted_prompts():
        images = [
            n["inputs"]["image"]
            for n in posted["prompt"].values()
            if n["class_type"] == "LoadImage"
        ]
        found.append(images[0] if images else None)
    return found


async def test_every_prompt_carries_the_story_style(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    illustrator = RecordingIllustrator()
    engine = make_engine(
        store,
        illustrator=illustrator,
        story=StorySettings(vote_window_seconds=60, style="ink"),
        styles=StyleBook.with_operator_styles([INK]),
    )
    await engine.start(PRIVATE, ALICE, premise="A lost key", genre="horror")
    first = (await view.wait_for(ev.SegmentFinished)).segment
    await engine.press(PRIVATE, ALICE, first.id, 0)
    await view.wait_for(ev.SegmentFinished, count=2)
    await engine.wait_idle()

    assert len(illustrator.jobs) == 2
    for job in illustrator.jobs:
        assert "ink wash drawing, monochrome" in job.prompt.positive
        assert "color photo" in job.prompt.negative
        assert "dark horror" not in job.prompt.positive  # the chosen style, not the genre's
        assert job.looks.style == INK
    stored = await store.live_segments(first.session_id)
    assert all("ink wash drawing" in s.image_prompt for s in stored)


async def test_without_a_chosen_style_the_genre_style_is_used(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    illustrator = RecordingIllustrator()
    engine = make_engine(store, illustrator=illustrator)
    await engine.start(PRIVATE, ALICE, premise="A lost key", genre="horror")
    await view.wait_for(ev.SegmentFinished)
    await engine.wait_idle()

    job = illustrator.jobs[0]
    assert job.looks.style is not None
    assert job.looks.style.name == "horror"
    assert "dark horror illustration" in job.prompt.positive


async def test_a_character_keeps_a_seed_and_a_portrait_drawn_first_is_the_reference(
    build: Build, store: Store, view: RecordingView, fake_comfy: FakeComfyUI
) -> None:
    engine, _ = await build(
        store, StorySettings(vote_window_seconds=60, workflow="sd15_reference"), StyleBook()
    )
    session = await engine.start(PRIVATE, ALICE, premise="A lost key", genre="fantasy")
    await play(engine, view, 4)

    mara = (await store.character_faces(session.id))["Mara"]
    assert mara.seed == face_seed(session.id, "Mara")
    posted = [p["prompt"] for p in fake_comfy.posted_prompts()]
    texts = [graph["6"]["inputs"]["text"] for graph in posted]
    # Parts 1 and 2 (nobody remembered yet), Mara's portrait, then parts 3 and 4.
    assert len(posted) == 5
    assert texts[2].startswith("portrait of red-haired woman in a green cloak, head and")
    assert "epic fantasy art" in texts[2]  # the portrait is in the story's style too
    seeds = sampler_seeds(fake_comfy)
    assert seeds[2] == seeds[3] == seeds[4] == mara.seed
    assert mara.seed not in seeds[:2]
    # The portrait is stored apart from the parts' pictures and uploaded as the reference.
    parts = await store.live_segments(session.id)
    assert mara.portrait not in {s.image_file for s in parts}
    assert Path(mara.portrait).is_file()
    images = load_images(fake_comfy)
    assert images[:3] == [None, None, None]  # plain sd15: no portrait to start from
    upload = fake_comfy.uploads[-1]
    assert upload["subfolder"] == "storycraft"
    assert upload["type"] == "input"
    assert upload["overwrite"] is True
    assert upload["size"] == Path(mara.portrait).stat().st_size
    assert images[3] == images[4] == f"storycraft/{upload['name']}"
    assert {u["name"] for u in fake_comfy.uploads} == {upload["name"]}  # one portrait
    assert posted[3]["3"]["inputs"]["denoise"] < 1  # partial denoise over the portrait


async def test_without_a_reference_workflow_the_first_picture_is_the_portrait(
    build: Build, store: Store, view: RecordingView, fake_comfy: FakeComfyUI
) -> None:
    engine, _ = await build(store, StorySettings(vote_window_seconds=60), StyleBook())
    session = await engine.start(PRIVATE, ALICE, premise="A lost key", genre="fantasy")
    await play(engine, view, 4)

    mara = (await store.character_faces(session.id))["Mara"]
    third = (await store.live_segments(session.id))[2]
    assert mara.portrait == third.image_file
    assert len(fake_comfy.posted_prompts()) == 4  # no portrait of its own
    assert sampler_seeds(fake_comfy)[2:] == [mara.seed, mara.seed]
    assert not fake_comfy.uploads
    assert load_images(fake_comfy) == [None] * 4


async def test_seeds_and_portraits_survive_a_restart(
    build: Build,
    store: Store,
    make_store: StoreFactory,
    view: RecordingView,
    fake_comfy: FakeComfyUI,
) -> None:
    settings = StorySettings(vote_window_seconds=60, workflow="sd15_reference")
    engine, illustrator = await build(store, settings, StyleBook())
    session = await engine.start(PRIVATE, ALICE, premise="A lost key", genre="fantasy")
    await play(engine, view, 3)
    before = (await store.character_faces(session.id))["Mara"]
    await engine.shutdown()
    await illustrator.close()
    await store.close()

    async with make_store() as reopened:
        again, _ = await build(reopened, settings, StyleBook())
        await again.resume()
        segment = (await view.wait_for(ev.SegmentFinished, count=3)).segment
        await again.press(PRIVATE, ALICE, segment.id, 0)
        await view.wait_for(ev.PictureReady, count=4)
        after = (await reopened.character_faces(session.id))["Mara"]
        assert after == before
        assert sampler_seeds(fake_comfy)[-1] == before.seed
        assert load_images(fake_comfy)[-1] == f"storycraft/{fake_comfy.uploads[-1]['name']}"
        await again.shutdown()


async def test_a_style_binds_its_lora_and_vae(
    build: Build, store: Store, view: RecordingView, fake_comfy: FakeComfyUI
) -> None:
    engine, _ = await build(
        store,
        StorySettings(vote_window_seconds=60, style="lora ink"),
        StyleBook.with_operator_styles([LORA_INK]),
    )
    await engine.start(PRIVATE, ALICE, premise="A lost key", genre="fantasy")
    await view.wait_for(ev.PictureReady)

    graph = fake_comfy.posted_prompts()[0]["prompt"]
    nodes = {n["class_type"]: n["inputs"] for n in graph.values()}
    assert nodes["LoraLoader"]["lora_name"] == "ink.safetensors"
    assert nodes["LoraLoader"]["strength_model"] == nodes["LoraLoader"]["strength_clip"] == 0.7
    assert nodes["VAELoader"]["vae_name"] == "vae-ft-mse.safetensors"
    assert graph["6"]["inputs"]["text"].endswith(", ink wash")  # the style kept, last


async def test_comfyui_refuses_a_reference_never_uploaded(
    fake_comfy: FakeComfyUI, comfy_client: ComfyClient
) -> None:
    workflow = load_workflow(WORKFLOWS / "sd15_reference.json").with_values(TINY)

    async def nothing(*_: object) -> None:
        return None

    never = workflow.render({"reference_image": "storycraft/never.png", "seed": 1})
    with pytest.raises(WorkflowError, match=r"Invalid image file: storycraft/never\.png"):
        await comfy_client.draw(never, "p-never", nothing, nothing)

    name = await comfy_client.upload_image(b"\x89PNG portrait", "face.png", "storycraft")
    assert name == "storycraft/face.png"
    again = await comfy_client.upload_image(b"\x89PNG portrait", "face.png", "storycraft")
    assert again == name  # overwritten, not renamed
    drawn = await comfy_client.draw(
        workflow.render({"reference_image": name, "seed": 2}), "p-known", nothing, nothing
    )
    assert drawn.data
    info = await comfy_client.node_info("LoadImage")
    assert name in info["input"]["required"]["image"][0]
    assert [u["name"] for u in fake_comfy.uploads] == ["face.png", "face.png"]
