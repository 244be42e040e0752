"""What `make eval` measures in one story's parts: pure functions over plain text, and the
tally they add up to per model."""

from __future__ import annotations

import difflib
import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from storycraft_bot.core.models import Character, Language, SegmentDraft

#: A part is in its story's language when at least this share of its letters is in the
#: language's script (names and loan words in the other script are fine).
SCRIPT_SHARE = 0.8
#: Looks of one character in two memory replies "match" from this difflib ratio on.
LOOKS_MATCH = 0.5

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
_WORD = re.compile(r"\w+")


def script_share(text: str, language: Language) -> float | None:
    """The share of `text`'s letters written in `language`'s script; None with no letters."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic + latin == 0:
        return None
    own = cyrillic if language is Language.RU else latin
    return own / (cyrillic + latin)


def in_language(text: str, language: Language) -> bool:
    """Mostly written in the language's script (Cyrillic for Russian, Latin for English)."""
    share = script_share(text, language)
    return share is not None and share >= SCRIPT_SHARE


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def choice_similarity(choices: Sequence[str]) -> float | None:
    """Mean pairwise likeness of a part's choices (0 all different, 1 all alike): the
    larger of difflib's character ratio and the word Jaccard index, so both reworded
    copies and reordered copies count as alike. None with fewer than two choices."""
    if len(choices) < 2:
        return None
    scores = [_likeness(a, b) for a, b in itertools.combinations(choices, 2)]
    return statistics.fmean(scores)


def _likeness(a: str, b: str) -> float:
    a, b = a.casefold().strip(), b.casefold().strip()
    ratio = difflib.SequenceMatcher(None, a, b).ratio()
    words_a, words_b = set(_WORD.findall(a)), set(_WORD.findall(b))
    union = words_a | words_b
    jaccard = len(words_a & words_b) / len(union) if union else 1.0
    return max(ratio, jaccard)


@dataclass(frozen=True, slots=True)
class CastKeeping:
    """How one story's memory replies kept its characters from one reply to the next."""

    names_seen: int = 0  # a name in one memory reply, counted once per later reply
    names_kept: int = 0  # ... that the next reply still names
    looks_compared: int = 0
    looks_kept: int = 0  # ... whose looks still read alike (LOOKS_MATCH)


def cast_keeping(memories: Sequence[Sequence[Character]]) -> CastKeeping:
    """Compare each memory reply's cast with the next one's, by name (case-blind)."""
    seen = kept = compared = alike = 0
    for before, after in itertools.pairwise(memories):
        later = {c.name.casefold().strip(): c.looks for c in after}
        for character in before:
            seen += 1
            looks = later.get(character.name.casefold().strip())
            if looks is None:
                continue
            kept += 1
            compared += 1
            ratio = difflib.SequenceMatcher(
                None, character.looks.casefold(), looks.casefold()
            ).ratio()
            alike += ratio >= LOOKS_MATCH
    return CastKeeping(seen, kept, compared, alike)


@dataclass
class ModelTally:
    """Everything counted for one model over all its stories."""

    model: str
    target_words: int
    valid: int = 0  # schema-valid replies taken as they were
    repaired: int = 0
    failed: int = 0  # the narrator gave up on the part (its own second try included)
    memory_kept: int = 0
    memory_refused: int = 0
    words: list[int] = field(default_factory=list)
    in_language: int = 0
    similarity: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cast: list[CastKeeping] = field(default_factory=list)
    stories: int = 0
    short_stories: int = 0  # played as short stories (about 8 parts), to their ending
    endings: int = 0  # short stories that reached their ending
    ending_parts: list[int] = field(default_factory=list)  # parts of each story that ended

    def add_part(self, draft: SegmentDraft, language: Language, seconds: float) -> None:
        if draft.repaired:
            self.repaired += 1
        else:
            self.valid += 1
        self.words.append(word_count(draft.narration))
        self.in_language += in_language(draft.narration, language)
        likeness = choice_similarity(draft.choices)
        if likeness is not None:
            self.similarity.append(likeness)
        self.seconds.append(seconds)

    def add_failure(self, seconds: float) -> None:
        self.failed += 1
        self.seconds.append(seconds)

    @property
    def parts(self) -> int:
        return self.valid + self.repaired + self.failed
