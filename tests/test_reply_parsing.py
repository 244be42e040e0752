"""Reading the narrator's reply: partial JSON while streaming, repair of bad replies."""

from __future__ import annotations

import json

import pytest

from storycraft_bot.core.models import CHOICE_MAX_CHARS
from storycraft_bot.narration.reply_parsing import (
    ReplyBounds,
    clean_choices,
    parse_reply,
    partial_narration,
    shorten,
)


def test_partial_narration_grows_with_the_stream() -> None:
    full = json.dumps(
        {"narration": "Дверь скрипнула.", "choices": ["Войти", "Уйти"], "scene": "x"},
        ensure_ascii=False,
    )
    seen = [partial_narration(full[:n]) for n in range(len(full) + 1)]
    assert seen[5] == ""
    assert "Дверь" in seen[24]
    assert seen[-1] == "Дверь скрипнула."


def test_partial_narration_of_plain_text_is_empty() -> None:
    assert partial_narration("Once upon a time") == ""


def test_a_valid_reply_is_taken_as_is() -> None:
    reply = json.dumps(
        {"narration": " A door. ", "choices": ["Open it", "Leave"], "scene": "a door"}
    )
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert (draft.narration, draft.choices, draft.scene, draft.repaired) == (
        "A door.",
        ("Open it", "Leave"),
        "a door",
        False,
    )


def test_json_wrapped_in_chatter_is_repaired() -> None:
    reply = (
        'Sure! Here it is:\n```json\n{"narration": "A cave.", "choices": ["In", "Out"],'
        ' "scene": "cave"}\n```'
    )
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert draft.repaired
    assert draft.choices == ("In", "Out")


def test_truncated_json_keeps_what_is_complete() -> None:
    reply = '{"narration": "A cave.", "choices": ["In", "Out", "Wa'
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert draft.choices == ("In", "Out")


def test_choices_as_objects_are_understood() -> None:
    reply = json.dumps({"narration": "N.", "options": [{"text": "Run"}, {"text": "Hide"}]})
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert draft.choices == ("Run", "Hide")


def test_plain_text_with_numbered_lines_gives_the_choices() -> None:
    reply = (
        "Ты стоишь у ворот замка.\nЧто ты сделаешь?\n\n"
        "1. Постучать\n2) Перелезть через стену\n3. Уйти прочь"
    )
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert draft.repaired
    assert draft.narration == "Ты стоишь у ворот замка.\nЧто ты сделаешь?"
    assert draft.choices == ("Постучать", "Перелезть через стену", "Уйти прочь")


def test_json_whose_choices_hide_in_the_narration_is_repaired() -> None:
    reply = json.dumps({"narration": "A fork.\n- Left\n- Right", "choices": []})
    draft = parse_reply(reply, "m")
    assert draft is not None
    assert draft.choices == ("Left", "Right")


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "Just a story with no choices at all.",
        '{"narration": "", "choices": ["a", "b"]}',
        '{"narration": "Only one way.", "choices": ["Go"]}',
        '{"narration": "Same twice.", "choices": ["Go", "go"]}',
        "[1, 2, 3]",
    ],
)
def test_hopeless_replies_are_refused(reply: str) -> None:
    assert parse_reply(reply, "m") is None


def test_choices_are_cleaned() -> None:
    assert clean_choices(["  Run  ", "", "run", "«Hide»", "Fight", "Talk", "Sleep"]) == [
        "Run",
        "Hide",
        "Fight",
        "Talk",
    ]


def test_long_choices_are_cut_at_a_word_border() -> None:
    long = "Climb the ancient tower " * 10
    cut = shorten(long)
    assert len(cut) <= CHOICE_MAX_CHARS
    assert cut.endswith("…")
    assert not cut[:-1].endswith(" ")


def test_an_ending_reply_has_no_choices_even_when_repaired() -> None:
    """Issue 16: the ending's bounds allow no choices; a valid one is taken as is, a long
    one is cut, and choices the model added anyway are dropped."""
    ending = ReplyBounds.for_request(5, 0)
    valid = json.dumps({"narration": "And so it ended.", "choices": [], "scene": "dawn"})
    draft = parse_reply(valid, "m", ending)
    assert draft is not None
    assert (draft.choices, draft.repaired) == ((), False)

    long = json.dumps({"narration": "The end came. " * 40, "choices": [], "scene": "dawn"})
    cut = parse_reply(long, "m", ending)
    assert cut is not None
    assert cut.repaired
    assert cut.choices == ()
    assert len(cut.narration) <= ending.narration_max

    chatty = json.dumps({"narration": "It ended.", "choices": ["Go on", "Stay"], "scene": ""})
    dropped = parse_reply(chatty, "m", ending)
    assert dropped is not None
    assert dropped.choices == ()
    assert parse_reply(long, "m", ReplyBounds.for_request(5, 3)) is None  # a part needs choices
