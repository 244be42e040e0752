"""The console starts a story from a character card's path and attaches a lorebook by
path; bad files are refused with their reason and the player is asked again."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.console import PLACE, ConsoleView, run_console
from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.core.models import Language
from storycraft_bot.storage.sqlite import Store
from tests.card_files import card_json, card_png, world_info
from tests.fake_ollama import FakeOllama
from tests.fakes import RecordingView


class ConsoleRecording(RecordingView):
    """Records the events and shows them on a terminal too (run_console waits on it)."""

    def __init__(self) -> None:
        super().__init__()
        self.out = io.StringIO()
        self.console = ConsoleView(self.out, Language.EN)

    async def show(self, event: ev.StoryEvent) -> None:
        await self.console.show(event)
        await super().show(event)


@pytest.fixture
def view() -> ConsoleRecording:
    return ConsoleRecording()


async def typed(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line + "\n"


async def test_a_story_starts_from_a_card_path_and_takes_a_lorebook(
    engine: StoryEngine,
    view: ConsoleRecording,
    store: Store,
    fake_ollama: FakeOllama,
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(card_json(description="<script>x</script>")))
    (tmp_path / "mira.png").write_bytes(card_png(card_json()))
    lore = world_info({"key": ["crossroads"], "content": "The drowned walk here."})
    (tmp_path / "lore.json").write_bytes(lore)
    lines = typed(
        f"/story card {tmp_path / 'missing.png'}",
        f"/story card {tmp_path / 'bad.json'}",
        f"/story card {tmp_path / 'mira.png'}",
        f"/lorebook {tmp_path / 'mira.png'}",  # a card is no lorebook
        f"/lorebook {tmp_path / 'lore.json'}",
        "1",
        "/stop",
    )
    await run_console(engine, view.console, lines, view.out, books=tmp_path)

    screen = view.out.getvalue()
    assert "/story card PATH starts from a character card" in screen
    assert "The file could not be fetched." in screen
    assert "The field data.description holds a script or active HTML" in screen
    assert "This is not a lorebook" in screen
    assert "Lorebook attached to the story: 1 entry." in screen
    session = await store.latest_session(PLACE.key)  # stopped by the last line
    assert session is not None
    assert session.premise.startswith("Mira finds a message in a bottle")
    card = await store.story_card(session.id)
    assert card is not None
    assert card.name == "Mira"
    second = fake_ollama.chat_requests("segment")[1]["messages"][0]["content"]
    assert "<<<The drowned walk here.>>>" in second
