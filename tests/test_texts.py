"""Every message exists in Russian and English, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    DecidedBy,
    Language,
    Place,
    Platform,
    Segment,
    SegmentState,
    Session,
    SessionState,
    StatusReport,
    StorySettings,
)
from storycraft_bot.core.texts import (
    _TEXTS,
    Msg,
    decision_text,
    genre_name,
    known_codes,
    status_text,
    text,
)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_message_has_both_languages_with_the_same_placeholders() -> None:
    for code in known_codes():
        ru, en = _TEXTS[code][Language.RU], _TEXTS[code][Language.EN]
        assert ru != en, code
        assert placeholders(ru) == placeholders(en), code
        values = dict.fromkeys(placeholders(en), "1")
        assert text(Language.RU, code, **values) != text(Language.EN, code, **values)


def test_the_tie_break_is_said_out_loud() -> None:
    assert (
        decision_text(Language.EN, DecidedBy.TIE, "Run", 3)
        == "The group chose: Run (3 votes, tie broken at random)"
    )
    assert "жребием" in decision_text(Language.RU, DecidedBy.TIE, "Бежать", 3)


def test_every_key_has_an_entry_and_an_unknown_key_fails_loudly() -> None:
    assert known_codes() == set(Msg)
    with pytest.raises(ValueError, match="no_such_key"):
        text(Language.EN, "no_such_key")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "votes", "expected"),
    [
        (Language.EN, 1, "(1 vote)"),
        (Language.EN, 2, "(2 votes)"),
        (Language.EN, 0, "(0 votes)"),
        (Language.RU, 1, "(1 голос)"),
        (Language.RU, 3, "(3 голоса)"),
        (Language.RU, 5, "(5 голосов)"),
        (Language.RU, 11, "(11 голосов)"),
        (Language.RU, 21, "(21 голос)"),
        (Language.RU, 22, "(22 голоса)"),
    ],
)
def test_counts_take_their_plural_form(language: Language, votes: int, expected: str) -> None:
    assert expected in decision_text(language, DecidedBy.VOTE, "Run", votes)


def test_counted_placeholders_in_the_catalogue_are_pluralised() -> None:
    assert text(Language.RU, Msg.STATUS_VOTING, votes=2) == "Идёт голосование: 2 голоса."
    assert text(Language.EN, Msg.PICTURE_QUEUED, ahead=1) == "🎨 Picture queued (1 picture ahead)"
    assert "2 части" in text(Language.RU, Msg.STATUS, genre="g", parts=2, premise="", state="")


def test_status_names_the_genre_in_the_story_language() -> None:
    assert genre_name(Language.RU, "fantasy") == "фэнтези"
    assert genre_name(Language.EN, "sci-fi") == "science fiction"
    assert genre_name(Language.RU, "space opera") == "space opera"


def test_no_message_asks_players_to_type_a_command_word_in_english() -> None:
    for code in known_codes():
        assert "Попробуйте retry" not in _TEXTS[code][Language.RU]
        assert "Try retry" not in _TEXTS[code][Language.EN]


def _report(state: SessionState, current: SegmentState, segments: int) -> StatusReport:
    place = Place(ChannelKey(Platform.TELEGRAM, "1"), "1", False)
    session = Session(
        1, place, Actor("u", "U"), state, Language.EN, "fantasy", "", StorySettings(), 0.0, 0.0
    )
    segment = Segment(9, 1, segments - 1, current, "", (), "")
    return StatusReport(session, segments, segment)


def test_status_of_a_paused_story_says_so_and_what_to_do() -> None:
    line = status_text(_report(SessionState.PAUSED, SegmentState.GENERATING, 3))
    assert "The story is paused" in line
    assert "retry" in line
    assert "2 parts so far" in line  # the part never written is not counted
    assert "writing" not in line


def test_status_while_writing_counts_only_the_parts_shown() -> None:
    line = status_text(_report(SessionState.ACTIVE, SegmentState.GENERATING, 2))
    assert "1 part so far" in line
    assert "The narrator is writing." in line
