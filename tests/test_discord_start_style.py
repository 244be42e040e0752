"""Discord: a picture style chosen with `/story start style:` (suggested as the player
types) reaches every picture's prompt; an unknown one is refused and starts nothing,
through the real discord.py against the fake Discord and the fake ComfyUI."""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.models import ChannelKey, Platform
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.storage.sqlite import Store
from tests.fake_comfyui import FakeComfyUI
from tests.fake_discord import FakeDiscord
from tests.fake_ollama import FakeOllama
from tests.test_discord import (
    ALICE,
    OWNER,
    STORIES,
    BotFactory,
    dc,
    is_ephemeral,
    make_bot,
    reply_to,
    story,
)

__all__ = ["dc", "make_bot"]  # the fixtures, shared with the Discord tests

KEY = ChannelKey(Platform.DISCORD, str(STORIES))
HORROR = StyleBook().styles["horror"]
FANTASY = StyleBook().styles["fantasy"]  # the default genre's style


def prompts(comfy: FakeComfyUI, title: str) -> list[str]:
    """The text bound to the node titled `title` in every prompt asked of ComfyUI."""
    return [
        str(node["inputs"]["text"])
        for body in comfy.posted_prompts()
        for node in body["prompt"].values()
        if node.get("_meta", {}).get("title") == title
    ]


async def test_a_style_chosen_at_the_start_is_in_every_pictures_prompt(
    make_bot: BotFactory, dc: FakeDiscord, fake_comfy: FakeComfyUI, store: Store
) -> None:
    await make_bot(comfy=fake_comfy)
    dc.slash(ALICE, STORIES, "start", premise="A cold house on the moor", style="Horror")
    first = await dc.wait_until(lambda: (m := story(dc, 1)) and m["attachments"] and m)
    assert first["attachments"]

    positive = prompts(fake_comfy, "Positive Prompt")
    negative = prompts(fake_comfy, "Negative Prompt")
    assert positive
    assert all(HORROR.positive in p for p in positive)
    assert not any(FANTASY.positive in p for p in positive)  # not the genre's style
    assert all(HORROR.negative in n for n in negative)
    session = await store.live_session(KEY)
    assert session is not None
    assert session.settings.style == "horror"
    assert dc.errors == []


async def test_an_unknown_style_is_refused_privately_and_starts_nothing(
    make_bot: BotFactory,
    dc: FakeDiscord,
    fake_comfy: FakeComfyUI,
    fake_ollama: FakeOllama,
    store: Store,
) -> None:
    await make_bot(comfy=fake_comfy)
    threads = dc.slash(OWNER, STORIES, "defaults", threads=True)
    assert (await reply_to(dc, threads)).startswith("For new stories")
    before = len(dc.calls("POST", f"/channels/{STORIES}/threads"))

    refused = dc.slash(ALICE, STORIES, "start", premise="A cold house", style="watercolour")

    assert await reply_to(dc, refused) == (
        "No such style. There are: fantasy, sci-fi, horror, mystery, fairy tale, "
        "cyberpunk, painting."
    )
    assert is_ephemeral(dc, refused)
    assert await store.live_session(KEY) is None
    assert len(dc.calls("POST", f"/channels/{STORIES}/threads")) == before  # no thread made
    assert fake_ollama.chat_requests("segment") == []
    assert fake_comfy.posted_prompts() == []


async def test_the_style_option_suggests_the_styles_as_the_player_types(
    make_bot: BotFactory, dc: FakeDiscord
) -> None:
    await make_bot(workflows=("sd15", "sdxl", "fantasy", "horror"))

    typed = dc.autocomplete(ALICE, STORIES, "start", "style", "F")
    suggested: list[dict[str, Any]] = await dc.wait_until(lambda: dc.suggestions.get(typed))

    # Styles only (a workflow's name is no style), filtered by what is typed.
    assert [c["value"] for c in suggested] == ["fantasy", "sci-fi", "fairy tale"]
    everything = dc.autocomplete(ALICE, STORIES, "start", "style", "")
    offered = await dc.wait_until(lambda: dc.suggestions.get(everything))
    assert [c["value"] for c in offered] == list(StyleBook().names)
    assert dc.errors == []
