"""The `make eval` table: one column per model, one row per measure, in Markdown."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from bench.eval_metrics import ModelTally


def _share(count: int, whole: int) -> str:
    return f"{count} ({count / whole:.0%})" if whole else "0"


def _mean(values: Sequence[float], digits: int = 2) -> str:
    return f"{statistics.fmean(values):.{digits}f}" if values else "n/a"


def _words(t: ModelTally) -> str:
    if not t.words:
        return "n/a"
    near = sum(t.target_words / 2 <= w <= t.target_words * 1.5 for w in t.words)
    return (
        f"{statistics.fmean(t.words):.0f} of {t.target_words} "
        f"(median {statistics.median(t.words):.0f}; {near / len(t.words):.0%} within ½-1½×)"
    )


def _names(t: ModelTally) -> str:
    seen = sum(c.names_seen for c in t.cast)
    kept = sum(c.names_kept for c in t.cast)
    return f"{kept}/{seen} ({kept / seen:.0%})" if seen else "n/a (fewer than 2 memory replies)"


def _looks(t: ModelTally) -> str:
    compared = sum(c.looks_compared for c in t.cast)
    alike = sum(c.looks_kept for c in t.cast)
    return f"{alike}/{compared} ({alike / compared:.0%})" if compared else "n/a"


def _endings(t: ModelTally) -> str:
    if not t.short_stories:
        return "n/a (no short story played)"
    return f"{t.endings}/{t.short_stories} ({t.endings / t.short_stories:.0%})"


def ending_lines(tallies: Sequence[ModelTally]) -> list[str]:
    """A line per model that played short stories: how many ended, after how many parts."""
    return [
        f"endings: {t.model}: {t.endings} of {t.short_stories} short stories reached their "
        f"ending"
        + (f" (after {', '.join(map(str, t.ending_parts))} parts)" if t.ending_parts else "")
        for t in tallies
        if t.short_stories
    ]


ROWS: tuple[tuple[str, Callable[[ModelTally], str]], ...] = (
    ("stories / parts asked", lambda t: f"{t.stories} / {t.parts}"),
    ("schema-valid, no repair", lambda t: _share(t.valid, t.parts)),
    ("repaired", lambda t: _share(t.repaired, t.parts)),
    ("failed parts", lambda t: _share(t.failed, t.parts)),
    ("memory replies kept / refused", lambda t: f"{t.memory_kept} / {t.memory_refused}"),
    ("words per part (target)", _words),
    ("parts in the story's language", lambda t: _share(t.in_language, len(t.words))),
    ("choice likeness (0 distinct, 1 same)", lambda t: _mean(t.similarity)),
    ("names kept in the next memory", _names),
    ("looks kept (difflib ≥ 0.5)", _looks),
    ("endings reached in short stories", _endings),
    ("mean seconds per part", lambda t: _mean(t.seconds)),
)


def render(tallies: Sequence[ModelTally]) -> str:
    """The Markdown table of all models' figures."""
    header = "| measure | " + " | ".join(t.model for t in tallies) + " |"
    rule = "| --- |" + " --- |" * len(tallies)
    lines = [header, rule]
    for name, cell in ROWS:
        lines.append(f"| {name} | " + " | ".join(cell(t) for t in tallies) + " |")
    return "\n".join(lines)
