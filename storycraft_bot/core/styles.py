"""Picture styles: the words, negative words, LoRA, VAE and workflow a story's pictures
share, so every picture of a story looks like the same book.

Built-in styles follow the genre; operators add or replace styles in a file (see
`storycraft_bot.pictures.style_file`). A story keeps the name of its chosen style in its
settings; "" means the genre's style.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    IllustrateMode,
    ImagePrompt,
    PictureStyle,
    StoryLength,
    StorySettings,
)
from storycraft_bot.core.rating import merge_negative
from storycraft_bot.core.texts import Msg

_PAINTERLY = "epic fantasy art, painterly, dramatic"
_SCIFI = "science fiction concept art, cinematic"
_HORROR = "dark horror illustration, eerie, desaturated"
_NOIR = "noir mystery illustration, moody"
_STORYBOOK = "storybook illustration, whimsical, soft colors"
_NEON = "cyberpunk, neon, rain, cinematic"

#: Built-in styles, each under a short English name.
BUILT_IN: tuple[PictureStyle, ...] = (
    PictureStyle("fantasy", _PAINTERLY, "photo, modern clothes"),
    PictureStyle("sci-fi", _SCIFI, "medieval, cartoon"),
    PictureStyle("horror", _HORROR, "cheerful, bright colors, cartoon"),
    PictureStyle("mystery", _NOIR, "cartoon, bright colors"),
    PictureStyle("fairy tale", _STORYBOOK, "photo, gore, dark"),
    PictureStyle("cyberpunk", _NEON, "medieval, pastoral"),
    PictureStyle("painting", "digital painting, detailed illustration"),
)
DEFAULT_STYLE = BUILT_IN[-1]

#: Genres as players type them (also in Russian) → a built-in style's name.
GENRE_STYLES: Mapping[str, str] = {
    "fantasy": "fantasy",
    "фэнтези": "fantasy",
    "sci-fi": "sci-fi",
    "scifi": "sci-fi",
    "фантастика": "sci-fi",
    "horror": "horror",
    "ужасы": "horror",
    "mystery": "mystery",
    "детектив": "mystery",
    "fairy tale": "fairy tale",
    "сказка": "fairy tale",
    "cyberpunk": "cyberpunk",
    "киберпанк": "cyberpunk",
}


@dataclass(frozen=True, slots=True)
class StyleBook:
    """The styles a story may use: the built-in ones, and the operator's over them."""

    styles: Mapping[str, PictureStyle] = field(
        default_factory=lambda: {s.name: s for s in BUILT_IN}
    )

    @classmethod
    def with_operator_styles(cls, styles: Iterable[PictureStyle]) -> StyleBook:
        """Built-in styles, an operator's style of the same name replacing one."""
        return cls({**{s.name: s for s in BUILT_IN}, **{s.name: s for s in styles}})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.styles)

    def named(self, name: str) -> PictureStyle | None:
        """The style of that name; typed starts may write `fairy_tale` for `fairy tale`."""
        key = name.strip().casefold()
        return (
            self.styles.get(key) or self.styles.get(name) or self.styles.get(key.replace("_", " "))
        )

    def chosen(self, name: str | None) -> str | None:
        """The name of the style a player chose at the start (None: none chosen); an unknown
        one is refused with the names there are."""
        if name is None or not name.strip():
            return None
        style = self.named(name)
        if style is None:
            raise StoryActionError(Msg.UNKNOWN_WORKFLOW, choices=", ".join(self.names) or "-")
        return style.name

    def for_genre(self, genre: str) -> PictureStyle:
        built_in = GENRE_STYLES.get(genre.strip().casefold(), DEFAULT_STYLE.name)
        return self.styles.get(built_in) or DEFAULT_STYLE

    def for_story(self, genre: str, settings: StorySettings) -> PictureStyle:
        """The story's chosen style, or its genre's when none (or an unknown one) is set."""
        return (settings.style and self.named(settings.style)) or self.for_genre(genre)

    def without(self, names: Iterable[str]) -> StyleBook:
        """The book without styles that cannot be drawn (their LoRA or VAE is missing)."""
        dropped = set(names)
        return StyleBook({n: s for n, s in self.styles.items() if n not in dropped})


def apply_style(prompt: ImagePrompt, style: PictureStyle) -> ImagePrompt:
    """The prompt with the style's words (first, where they weigh most, unless the writer
    already put them in) and its negative words."""
    positive = prompt.positive
    if style.positive.casefold() not in positive.casefold():
        positive = f"{style.positive}, {positive}" if positive else style.positive
    return replace(
        prompt, positive=positive, negative=merge_negative(prompt.negative, style.negative)
    )


def default_illustrate_mode(settings: StorySettings) -> IllustrateMode:
    """Every part, but only on a change of scene in long stories (issue 16), where drawing
    each part would spend the most GPU time on the least new to see."""
    if settings.length is StoryLength.LONG:
        return IllustrateMode.SCENE_CHANGE
    return IllustrateMode.EVERY_PART


def illustrate_mode(settings: StorySettings) -> IllustrateMode:
    return settings.illustrate or default_illustrate_mode(settings)


def wants_picture(settings: StorySettings, index: int, new_scene: bool) -> bool:
    """Whether part `index` gets a picture: the opening always does."""
    if not settings.pictures:
        return False
    return index == 0 or new_scene or illustrate_mode(settings) is IllustrateMode.EVERY_PART
