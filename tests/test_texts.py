"""Every message exists in Russian and English, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from storycraft_bot.core.models import DecidedBy, Language
from storycraft_bot.core.texts import _TEXTS, Msg, decision_text, known_codes, text


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
