"""The console: a leading `style=<name>` word chooses the story's picture style; an
unknown one is refused with the styles there are, and the player is asked again."""

from __future__ import annotations

from pathlib import Path

from adapters.console import PLACE, run_console
from storycraft_bot.core.engine import StoryEngine
from storycraft_bot.storage.sqlite import Store
from tests.fake_ollama import FakeOllama
from tests.test_console_cards import ConsoleRecording, typed, view

__all__ = ["view"]  # the fixture, shared with the console card tests


async def test_a_style_word_chooses_the_style_and_an_unknown_one_is_asked_again(
    engine: StoryEngine,
    view: ConsoleRecording,
    store: Store,
    fake_ollama: FakeOllama,
    tmp_path: Path,
) -> None:
    lines = typed("style=crayon A lost key", "style=cyberpunk length=short A lost key", "/stop")
    await run_console(engine, view.console, lines, view.out, books=tmp_path)

    screen = view.out.getvalue()
    assert "No such style. There are: fantasy, sci-fi, horror, mystery, fairy tale" in screen
    session = await store.latest_session(PLACE.key)
    assert session is not None
    assert (session.settings.style, session.premise) == ("cyberpunk", "A lost key")
    assert len(fake_ollama.chat_requests("segment")) == 1  # only the second start wrote
