"""Splitting narration for platform limits."""

from __future__ import annotations

import pytest

from storycraft_bot.core.text_fitting import shorten_to, split_text


def test_short_text_is_one_piece() -> None:
    assert split_text("  Hello.  ", 10) == ["Hello."]
    assert split_text("", 10) == []


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    text = "First paragraph here.\n\nSecond one, longer.\n\nThird."
    assert split_text(text, 45) == ["First paragraph here.\n\nSecond one, longer.", "Third."]


def test_a_long_paragraph_is_cut_at_sentences() -> None:
    text = "One two three. Four five six. Seven eight nine."
    assert split_text(text, 30) == ["One two three. Four five six.", "Seven eight nine."]


def test_a_giant_word_is_cut_as_a_last_resort() -> None:
    pieces = split_text("x" * 25, 10)
    assert pieces == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("limit", [50, 100, 1024, 4096])
def test_pieces_respect_the_limit_and_lose_no_words(limit: int) -> None:
    paragraph = "Ветер гнал листья по пустой площади. Где-то звенел колокол! Ты шёл дальше? "
    text = "\n\n".join(paragraph * (n + 1) for n in range(12))
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_shorten_to_adds_an_ellipsis() -> None:
    assert shorten_to("short", 10) == "short"
    cut = shorten_to("a caption that is far too long for the limit", 20)
    assert len(cut) <= 20
    assert cut.endswith("…")
