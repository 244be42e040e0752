"""Operators' picture styles: the file, its checks against ComfyUI's /object_info, and
choosing a style for a story through the "picture style" setting."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.errors import SettingsError, StoryActionError
from storycraft_bot.core.models import (
    Actor,
    Character,
    PictureStyle,
    Segment,
    SegmentState,
    StoryMemory,
    StorySettings,
)
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.core.texts import Msg
from storycraft_bot.narration.image_prompts import (
    PROMPT_MAX_CHARS,
    PROMPT_MAX_WORDS,
    QUALITY,
    rule_prompt,
)
from storycraft_bot.pictures.comfy_pool import ComfyServer
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.server_checks import style_refusals
from storycraft_bot.pictures.style_file import load_style_book
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GROUP, PRIVATE, EngineFactory
from tests.fake_comfyui import FakeComfyUI
from tests.fakes import RecordingIllustrator, RecordingView

ALICE = Actor("u1", "Alice")

STYLE_FILE = """
[[style]]
name = "Ink"
prompt = "ink wash drawing, monochrome"
negative = "color photo"
lora = "ink.safetensors"
lora_strength = 0.6
vae = "vae-ft-mse.safetensors"
workflow = "sd15_lora"

[[style]]
name = "horror"
prompt = "woodcut print, stark"
"""


def test_a_style_file_adds_and_replaces_styles(tmp_path: Path) -> None:
    path = tmp_path / "styles.toml"
    path.write_text(STYLE_FILE, encoding="utf-8")

    book = load_style_book(path)

    assert book.named("ink") == PictureStyle(
        "ink",
        "ink wash drawing, monochrome",
        "color photo",
        "ink.safetensors",
        0.6,
        "vae-ft-mse.safetensors",
        "sd15_lora",
    )
    assert book.for_genre("ужасы").positive == "woodcut print, stark"  # replaced built-in
    assert book.for_genre("fantasy").name == "fantasy"
    assert load_style_book(None).names == StyleBook().names


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[[style]]\nname = "x"\nprompt = "a"\nlora_strength = 99\n', "style.0.lora_strength"),
        ('[[style]]\nname = "x"\nprompt = ""\n', "style.0.prompt"),
        ('[[style]]\nname = "x"\nprompt = "a"\nlora = "../../etc/passwd"\n', "style.0.lora"),
        ('[[style]]\nname = "x"\nprompt = "a"\nscript = "<b>"\n', "style.0.script"),
        ("[[style]\n", "is not TOML"),
    ],
)
def test_a_bad_style_file_stops_start_up_with_one_line(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "styles.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=reason.replace(".", r"\.")):
        load_style_book(path)


async def test_a_missing_lora_or_vae_is_reported_from_object_info(
    fake_comfy: FakeComfyUI, comfy_client: ComfyClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_comfy.loras = ["ink.safetensors"]
    fake_comfy.vaes = []
    book = StyleBook.with_operator_styles(
        [
            PictureStyle("ink", "ink", lora="ink.safetensors"),
            PictureStyle("oil", "oil", lora="oil.safetensors"),
            PictureStyle("soft", "soft", vae="soft-vae.safetensors"),
            PictureStyle("odd", "odd", workflow="nonexistent"),
        ]
    )
    with caplog.at_level(logging.WARNING):
        refused = await style_refusals([ComfyServer(comfy_client)], book, ("sd15", "sd15_lora"))

    assert set(refused) == {"oil", "soft", "odd"}
    assert "LORA 'oil.safetensors' is on no ComfyUI server" in refused["oil"]
    assert "ink.safetensors" in refused["oil"]  # what the server has
    assert "VAE 'soft-vae.safetensors'" in refused["soft"]
    assert "picture style oil is not offered" in caplog.text
    assert ("GET", "/object_info/LoraLoader", {}) in [
        (m, p, b or {}) for m, p, b in fake_comfy.requests
    ]
    assert book.without(refused).names == (*StyleBook().names, "ink")


async def test_a_server_that_does_not_answer_refuses_no_style(
    comfy_http: httpx.AsyncClient,
) -> None:
    gone = ComfyClient("http://127.0.0.1:9", comfy_http, SystemClock(), backoff=0.01)
    book = StyleBook.with_operator_styles([PictureStyle("oil", "oil", lora="oil.safetensors")])
    assert await style_refusals([ComfyServer(gone)], book, ()) == {}


async def test_the_picture_style_setting_takes_a_style_name(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    illustrator = RecordingIllustrator()
    ink = PictureStyle("ink", "ink wash drawing", "color photo")
    engine: StoryEngine = make_engine(
        store, illustrator=illustrator, styles=StyleBook.with_operator_styles([ink])
    )
    session = await engine.start(PRIVATE, ALICE, premise="A lost key", genre="fantasy")
    first = (await view.wait_for(ev.SegmentFinished)).segment

    settings = await engine.configure(PRIVATE, ALICE, workflow="Ink")
    assert settings.style == "ink"
    assert settings.workflow == ""  # a style is not a workflow
    settings = await engine.configure(PRIVATE, ALICE, workflow="sdxl")
    assert (settings.style, settings.workflow) == ("ink", "sdxl")
    stored = await store.get_session(session.id)
    assert stored is not None
    assert stored.settings == StorySettings(vote_window_seconds=60.0, workflow="sdxl", style="ink")

    await engine.press(PRIVATE, ALICE, first.id, 0)
    await view.wait_for(ev.SegmentFinished, count=2)
    await engine.wait_idle()
    assert "ink wash drawing" not in illustrator.jobs[0].prompt.positive
    assert "ink wash drawing" in illustrator.jobs[1].prompt.positive
    assert illustrator.jobs[1].workflow == "sdxl"


async def test_a_server_default_style_starts_every_new_story_in_it(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    illustrator = RecordingIllustrator()
    ink = PictureStyle("ink", "ink wash drawing", "color photo")
    engine = make_engine(
        store, illustrator=illustrator, styles=StyleBook.with_operator_styles([ink])
    )
    admin = Actor("u7", "Admin", can_moderate=True, can_manage_guild=True)

    defaults = await engine.configure_guild(GROUP, admin, workflow="ink")
    session = await engine.start(GROUP, ALICE, premise="A lost key", genre="horror")
    await view.wait_for(ev.SegmentFinished)
    await engine.wait_idle()

    assert defaults.style == "ink"
    assert defaults.workflow is None
    assert session.settings.style == "ink"
    assert illustrator.jobs[0].looks.style == ink


def test_a_long_rule_prompt_keeps_the_style_words() -> None:
    scene = ", ".join(f"detail number {n} of a crowded market" for n in range(30))
    segment = Segment(1, 1, 0, SegmentState.OPEN, "Mara walks.", ("a", "b"), scene)
    memory = StoryMemory(characters=(Character("Mara", "red-haired woman, green cloak"),))
    style = PictureStyle("ink", "ink wash drawing, monochrome", "color photo")

    prompt = rule_prompt("fantasy", segment, memory, style)

    assert prompt.positive.endswith("ink wash drawing, monochrome, " + QUALITY)
    assert len(prompt.positive.split()) <= PROMPT_MAX_WORDS + 2
    assert len(prompt.positive) <= PROMPT_MAX_CHARS
    assert "color photo" in prompt.negative
    assert "detail number 0" in prompt.positive  # the scene comes first, cut from its end


async def test_a_style_chosen_at_the_start_wins_over_the_server_default_and_genre(
    make_engine: EngineFactory, store: Store, view: RecordingView
) -> None:
    illustrator = RecordingIllustrator()
    ink = PictureStyle("ink", "ink wash drawing", "color photo")
    oil = PictureStyle("oil", "oil painting", lora="oil.safetensors")
    book = StyleBook.with_operator_styles([ink, oil]).without(["oil"])  # no server has its LoRA
    engine = make_engine(store, illustrator=illustrator, styles=book)
    admin = Actor("u7", "Admin", can_moderate=True, can_manage_guild=True)
    await engine.configure_guild(GROUP, admin, workflow="horror")

    for unknown in ("oil", "watercolour"):
        with pytest.raises(StoryActionError) as refused:
            await engine.start(GROUP, ALICE, premise="A lost key", style=unknown)
        assert refused.value.code is Msg.UNKNOWN_WORKFLOW
        assert refused.value.params["choices"] == ", ".join(book.names)
        assert "oil" not in book.names
    assert await store.live_session(GROUP.key) is None

    session = await engine.start(GROUP, ALICE, premise="A lost key", genre="horror", style="INK")
    await view.wait_for(ev.SegmentFinished)
    await engine.wait_idle()
    assert session.settings.style == "ink"
    assert illustrator.jobs[0].looks.style == ink
    assert "ink wash drawing" in illustrator.jobs[0].prompt.positive
    assert "color photo" in illustrator.jobs[0].prompt.negative
