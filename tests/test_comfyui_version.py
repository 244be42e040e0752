"""ComfyUI's version, read from /system_stats: too old is refused, and before 0.3.57 a
cancelled picture is never interrupted (that would stop other users' prompts)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from pathlib import Path

import pytest

from storycraft_bot.core.errors import ServerTooOld
from storycraft_bot.pictures.comfyui import ComfyClient, parse_version
from tests.conftest import sd15_workflow
from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama
from tests.test_bot_cli import run_bot


async def draw(client: ComfyClient, prompt_id: str, steps: int = 2) -> None:
    async def quiet(*_: object) -> None:
        return None

    graph = sd15_workflow(steps=steps).render({"positive": "a cat", "negative": "", "seed": 1})
    await client.draw(graph, prompt_id, quiet, quiet)


@pytest.mark.parametrize(
    ("text", "version"),
    [("0.3.64", (0, 3, 64)), ("v0.3.45-rc1", (0, 3, 45)), ("0.4", (0, 4, 0)), ("dev", None)],
)
def test_versions_are_read_as_numbers(text: str, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize(
    ("reported", "says"),
    [
        ("0.3.44", "is version 0.3.44"),
        ("0.2.9", "is version 0.2.9"),
        (None, "does not report a version"),
    ],
)
async def test_a_server_older_than_0_3_45_is_refused_by_name(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI, reported: str | None, says: str
) -> None:
    fake_comfy.version = reported

    with pytest.raises(ServerTooOld) as refused:
        await comfy_client.check_version()

    assert str(refused.value) == (
        f"ComfyUI at {fake_comfy.url} {says}; StoryCraft needs ComfyUI 0.3.45 or newer "
        "(update it, or remove it from COMFYUI_URLS)"
    )
    with pytest.raises(ServerTooOld):  # a picture is never sent to it either
        await draw(comfy_client, str(uuid.uuid4()))
    assert fake_comfy.posted_prompts() == []


async def test_between_0_3_45_and_0_3_57_a_cancel_never_interrupts(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_comfy.version = "0.3.50"
    fake_comfy.step_delay = 0.02
    caplog.set_level(logging.INFO)
    assert await comfy_client.check_version() == (0, 3, 50)
    assert "only deleted from its queue, never interrupted" in caplog.text
    someone_else = asyncio.create_task(draw(comfy_client, str(uuid.uuid4()), steps=10))
    await asyncio.wait_for(fake_comfy.started.wait(), 5)

    ours = str(uuid.uuid4())
    await comfy_client.delete_pending([ours])
    await comfy_client.interrupt(ours)

    await asyncio.wait_for(someone_else, 10)  # finished: this server would have stopped it
    assert fake_comfy.calls("POST", "/interrupt") == []
    assert f"not interrupting {ours}" in caplog.text


async def test_from_0_3_57_the_interrupt_names_our_prompt(
    comfy_client: ComfyClient, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.version = "0.3.57"

    await comfy_client.interrupt("abc")

    assert fake_comfy.calls("POST", "/interrupt") == [{"prompt_id": "abc"}]


async def test_bot_py_refuses_an_old_comfyui_in_one_line(
    tmp_path: Path, fake_ollama: FakeOllama, fake_comfy: FakeComfyUI
) -> None:
    fake_comfy.version = "0.3.40"

    code, _, err = await run_bot(
        tmp_path,
        "console",
        OLLAMA_URL=fake_ollama.url,
        COMFYUI_URLS=fake_comfy.url,
        COMFYUI_CHECKPOINT="random-sd15.safetensors",
    )

    assert code == 1
    assert re.fullmatch(
        rf"storycraft: ComfyUI at {re.escape(fake_comfy.url)} is version 0\.3\.40; "
        r"StoryCraft needs ComfyUI 0\.3\.45 or newer \(update it, or remove it from COMFYUI_URLS\)",
        err.strip(),
    )
