"""The terminal view, fed scripted engine events: what a player reads on the screen."""

from __future__ import annotations

import io

from adapters.console import PLACE, ConsoleView
from storycraft_bot.core import events as ev
from storycraft_bot.core.models import Language, Segment, SegmentState

KEY = PLACE.key
EN = Language.EN


def started(segment_id: int, index: int) -> ev.SegmentStarted:
    return ev.SegmentStarted(KEY, 1, EN, segment_id, index, False)


def grew(segment_id: int, narration: str) -> ev.NarrationGrew:
    return ev.NarrationGrew(KEY, 1, EN, segment_id, narration)


def finished(segment_id: int, index: int, narration: str) -> ev.SegmentFinished:
    segment = Segment(segment_id, 1, index, SegmentState.OPEN, narration, ("Go", "Stay"), "")
    return ev.SegmentFinished(KEY, 1, EN, segment, False)


async def play(*events: ev.StoryEvent) -> str:
    """What a fresh terminal shows after these events."""
    out = io.StringIO()
    view = ConsoleView(out, EN)
    for event in events:
        await view.show(event)
    return out.getvalue()


async def test_picture_news_waits_for_the_streaming_part_to_end() -> None:
    screen = await play(
        started(2, 1),
        grew(2, "Snow falls on"),
        ev.PictureProgress(KEY, 1, EN, 1, 40),  # the previous part's picture
        grew(2, "Snow falls on the mill"),
        ev.PictureProgress(KEY, 1, EN, 1, 80),
        ev.PictureReady(KEY, 1, EN, 1, "/pictures/1.png"),
        finished(2, 1, "Snow falls on the mill wheel."),
    )
    assert screen == (
        "\n— 2 —\nSnow falls on the mill wheel.\n\n  1. Go\n  2. Stay\n🖼  /pictures/1.png\n"
    )


async def test_news_while_the_player_is_asked_goes_on_its_own_line() -> None:
    out = io.StringIO()
    view = ConsoleView(out, EN)
    for event in (started(1, 0), finished(1, 0, "A road.")):
        await view.show(event)
    view.ask("> ")
    await view.show(ev.PictureQueued(KEY, 1, EN, 1, 2))
    assert out.getvalue().endswith("> \n🎨 Picture queued (2 pictures ahead)\n> ")


async def test_a_restarted_reply_is_printed_again_not_glued_on() -> None:
    screen = await play(
        started(1, 0),
        grew(1, "Wind was drawing shapes"),
        grew(1, "Heavy clouds"),  # the stream was cut and the reply asked again
        grew(1, "Heavy clouds rolled in, swollen with snow."),
        finished(1, 0, "Heavy clouds rolled in, swollen with snow."),
    )
    assert "shapesH" not in screen
    assert screen == (
        "\n— 1 —\nWind was drawing shapes\n↻ The narrator started this part over:\n"
        "— 1 —\nHeavy clouds rolled in, swollen with snow.\n\n  1. Go\n  2. Stay\n"
    )


async def test_a_new_reply_that_repeats_the_shown_text_continues_it() -> None:
    screen = await play(
        started(1, 0),
        grew(1, "The old mill burns"),
        grew(1, "The old"),  # asked again; so far the same words
        grew(1, "The old mill burns at night."),
        finished(1, 0, "The old mill burns at night."),
    )
    assert "started this part over" not in screen
    assert "The old mill burns at night.\n" in screen


async def test_a_repaired_reply_replaces_the_streamed_text() -> None:
    screen = await play(
        started(1, 0),
        grew(1, "The fox ran into the forest and then the"),
        finished(1, 0, "The fox ran into the forest."),  # cut down by the repair
    )
    head, notice, tail = screen.partition("↻ The narrator started this part over:\n")
    assert notice
    assert head == "\n— 1 —\nThe fox ran into the forest and then the\n"
    assert tail.startswith("— 1 —\nThe fox ran into the forest.\n\n  1. Go")


async def test_a_stop_mid_stream_ends_the_line_first() -> None:
    screen = await play(
        started(1, 0),
        grew(1, "Half a sen"),
        ev.StoryStopped(KEY, 1, EN, 1),
    )
    assert screen == "\n— 1 —\nHalf a sen\nThe story has ended. Thanks for playing!\n"


async def test_a_reply_taken_back_by_the_narrator_is_printed_afresh() -> None:
    screen = await play(
        started(1, 0),
        grew(1, "The old mill burns and"),
        ev.NarrationGrew(KEY, 1, EN, 1, "", restarted=True),  # asked again
        grew(1, "The old mill"),  # the new reply happens to start alike: not glued on
        finished(1, 0, "The old mill stands."),
    )
    assert screen == (
        "\n— 1 —\nThe old mill burns and\n↻ The narrator started this part over:\n"
        "— 1 —\nThe old mill stands.\n\n  1. Go\n  2. Stay\n"
    )
