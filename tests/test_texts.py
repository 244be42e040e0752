"""Every message exists in Russian and English."""

from __future__ import annotations

from storycraft_bot.models import DecidedBy, Language
from storycraft_bot.texts import decision_text, known_codes, text


def test_every_message_has_both_languages() -> None:
    for code in known_codes():
        assert (
            text(Language.RU, code, choice="x", ahead=1, percent=5, reason="r", closes="t") != code
        )
        assert text(Language.RU, code) != text(Language.EN, code), code


def test_the_tie_break_is_said_out_loud() -> None:
    assert (
        decision_text(Language.EN, DecidedBy.TIE, "Run", 3)
        == "The group chose: Run (3 votes, tie broken at random)"
    )
    assert "жребием" in decision_text(Language.RU, DecidedBy.TIE, "Бежать", 3)
