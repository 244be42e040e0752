"""Fitting text into a platform's limits (like Red-DiscordBot's `pagify`)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraph borders, else at sentence
    borders, else at spaces, and only as a last resort inside a word."""
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for unit in _units(text, limit):
        joiner = "\n\n" if unit.startswith("\n\n") else " " if current else ""
        unit = unit.lstrip("\n")
        if current and len(current) + len(joiner) + len(unit) > limit:
            pieces.append(current)
            current = unit
        else:
            current = f"{current}{joiner}{unit}" if current else unit
    if current:
        pieces.append(current)
    return pieces


def _units(text: str, limit: int) -> list[str]:
    """Paragraphs (marked with a leading blank line after the first), broken down further
    only where a paragraph alone is over the limit."""
    units: list[str] = []
    for number, paragraph in enumerate(p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        marker = "\n\n" if number and units else ""
        parts = [paragraph] if len(paragraph) <= limit else _sentences(paragraph, limit)
        units.append(marker + parts[0])
        units.extend(parts[1:])
    return units


def _sentences(paragraph: str, limit: int) -> list[str]:
    parts: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit + 1)
            cut = cut if cut > limit // 2 else limit
            parts.append(sentence[:cut].rstrip())
            sentence = sentence[cut:].lstrip()
        if sentence:
            parts.append(sentence)
    return parts


def shorten_to(text: str, limit: int) -> str:
    """One piece of at most `limit` characters, with an ellipsis if cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"
