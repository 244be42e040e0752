"""The engine's configuration and the small rules for changing story settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from storycraft_bot.core.limits import AbuseLimits
from storycraft_bot.core.models import GuildDefaults, Language, StorySettings
from storycraft_bot.core.prewriting import PrewriteMode
from storycraft_bot.core.styles import StyleBook


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Defaults for new stories and how the engine paces itself."""

    language: Language = Language.RU
    genre: str = "fantasy"
    story: StorySettings = field(default_factory=StorySettings)
    recent_segments: int = 3
    memory_every: int = 4
    narration_interval: float = 1.0
    #: After a narrator outage a part is tried again by itself this many times, the first
    #: after `outage_retry_delay` seconds, each later one twice as late.
    outage_retries: int = 3
    outage_retry_delay: float = 30.0
    #: Continuations written in advance while players choose (issue 14); off unless the
    #: bot's settings turn it on (their default: AUTO).
    prewrite: PrewriteMode = PrewriteMode.OFF
    #: At most this many drafts for one open part of a story.
    prewrite_cap: int = 3
    #: Cooldowns and caps on abuse (issue 15); all off unless the bot's settings set them.
    limits: AbuseLimits = field(default_factory=AbuseLimits)
    #: The picture styles stories may use (built-in, and the operator's file).
    styles: StyleBook = field(default_factory=StyleBook)


def bounded_window(seconds: float | None) -> float | None:
    """A vote window within sensible bounds (5 s to an hour); None stays None."""
    return None if seconds is None else max(5.0, min(3600.0, seconds))


T = TypeVar("T", StorySettings, GuildDefaults)


def with_given(settings: T, **values: Any) -> T:
    """`settings` with the values that were given (not None) put in."""
    return replace(settings, **{k: v for k, v in values.items() if v is not None})


def story_settings(base: StorySettings, defaults: GuildDefaults) -> StorySettings:
    """A new story's settings: the bot's own, with what the server set put in."""
    return with_given(
        base,
        vote_window_seconds=defaults.vote_window_seconds,
        pictures=defaults.pictures,
        workflow=defaults.workflow,
        rating=defaults.rating,
        own_actions=defaults.own_actions,
        style=defaults.style,
    )
