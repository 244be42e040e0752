"""Opt-in tests against real servers; skipped unless their URL is given.

    pytest tests/test_real_servers.py --comfyui-url http://127.0.0.1:8188 \
        --comfyui-checkpoint v1-5-pruned-emaonly.safetensors
    pytest tests/test_real_servers.py --ollama-url http://127.0.0.1:11434 --ollama-model llama3.1:8b
"""

from __future__ import annotations

import io
import random
import uuid

import httpx
import pytest
from PIL import Image

from config import shipped_workflows
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.models import Language, StoryMemory
from storycraft_bot.core.ports import SegmentRequest
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.workflow import check_workflow, load_workflow

WORKFLOWS = shipped_workflows()


async def test_the_default_workflow_on_a_real_comfyui(request: pytest.FixtureRequest) -> None:
    url = request.config.getoption("--comfyui-url")
    if not url:
        pytest.skip("give --comfyui-url to run against a real ComfyUI")
    values: dict[str, object] = {"width": 512, "height": 512, "steps": 12}
    if checkpoint := request.config.getoption("--comfyui-checkpoint"):
        values["checkpoint"] = checkpoint
    workflow = load_workflow(WORKFLOWS / "sd15.json").with_values(values)
    async with httpx.AsyncClient(timeout=60) as http:
        client = ComfyClient(url, http, SystemClock(), check_every=300)
        await check_workflow(workflow, client.node_info, url)
        graph = workflow.render(
            {
                "positive": "a lighthouse on a cliff at dusk, storybook illustration",
                "negative": "blurry, text",
                "seed": random.randrange(2**32),
            }
        )
        percents: list[int] = []

        async def on_progress(percent: int) -> None:
            percents.append(percent)

        async def on_started() -> None:
            return None

        rendered = await client.draw(graph, str(uuid.uuid4()), on_progress, on_started)
    with Image.open(io.BytesIO(rendered.data)) as picture:
        assert picture.size == (512, 512)
    assert percents
    assert percents[-1] == 100


async def test_a_segment_from_a_real_ollama(request: pytest.FixtureRequest) -> None:
    url = request.config.getoption("--ollama-url")
    if not url:
        pytest.skip("give --ollama-url to run against a real Ollama")
    model = request.config.getoption("--ollama-model")
    timeouts = httpx.Timeout(30, read=300)
    async with open_pool([url], SystemClock(), parallel=1, timeouts=timeouts) as pool:
        gateway = OllamaGateway(pool, OllamaConfig(model=model, token_timeout=600))
        narrator = OllamaNarrator(gateway)
        request_ = SegmentRequest(
            Language.RU, "фэнтези", "Потерянный ключ", 80, 3, StoryMemory(), (), ""
        )
        growth: list[str] = []

        async def on_text(text: str) -> None:
            growth.append(text)

        draft = await narrator.write_segment(request_, on_text)
    assert draft.narration
    assert 2 <= len(draft.choices) <= 4
    assert growth
