"""Changing a story's settings and a server's defaults for new stories."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TypedDict

from storycraft_bot.core.access import require_manager
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.engine_config import bounded_window, story_settings, with_given
from storycraft_bot.core.errors import StoryActionError
from storycraft_bot.core.models import (
    Actor,
    GuildDefaults,
    IllustrateMode,
    NoVoteRule,
    Participation,
    Place,
    Rating,
    Session,
    StorySettings,
)
from storycraft_bot.core.rating import check_rating
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.styles import StyleBook
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)


class StoryChanges(TypedDict, total=False):
    """What a story's settings command may change; a value left out or None stays."""

    vote_window_seconds: float | None
    pictures: bool | None
    workflow: str | None  # a workflow's name, or a picture style's (core/styles.py)
    rating: Rating | None
    own_actions: bool | None  # players may type their own action
    participation: Participation | None  # issue 16 (the length is fixed at the start)
    no_votes: NoVoteRule | None
    style: str | None
    illustrate: IllustrateMode | None


class GuildChanges(StoryChanges, total=False):
    """What a server's defaults command may change, beside a story's settings."""

    threads: bool | None


class Configuration:
    """Settings of one story (its starter or a moderator) and of a server (Manage Server)."""

    def __init__(
        self,
        store: StoryStore,
        clock: Clock,
        story: StorySettings,
        styles: StyleBook | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._story = story  # the settings' defaults for new stories
        self._styles = styles or StyleBook()

    async def new_story(self, place: Place, starter: Actor, rating: Rating | None) -> StorySettings:
        """A new story's settings: ours, the server's defaults over them, then `rating`
        (None: the default's, which the place must allow too)."""
        settings = story_settings(self._story, await self.guild_defaults(place))
        if rating is None:
            check_rating(place, None, settings.rating)
            return settings
        check_rating(place, starter, rating)
        return replace(settings, rating=rating)

    async def story(
        self, session: Session, place: Place, actor: Actor, changes: StoryChanges
    ) -> StorySettings:
        require_manager(session, actor)
        rating = changes.get("rating")
        if rating is not None:
            check_rating(place, actor, rating)
        settings = with_given(
            session.settings,
            **{**_styled(changes, self._styles), "vote_window_seconds": _window(changes)},
        )
        await self._store.update_settings(session.id, settings, self._clock.now())
        return settings

    async def guild_defaults(self, place: Place) -> GuildDefaults:
        return await self._store.guild_defaults(place.key.platform, place.guild_id)

    async def guild(self, place: Place, actor: Actor, changes: GuildChanges) -> GuildDefaults:
        """A `mature` default needs no age-restricted channel here: each story's start
        checks its own channel."""
        if not actor.can_manage_guild:
            raise StoryActionError(Msg.NOT_ALLOWED_GUILD)
        defaults = with_given(
            await self.guild_defaults(place),
            **{**_styled(changes, self._styles), "vote_window_seconds": _window(changes)},
        )
        await self._store.save_guild_defaults(
            place.key.platform, place.guild_id, defaults, self._clock.now()
        )
        log.info("guild %s defaults changed by %s: %s", place.guild_id, actor.user_id, defaults)
        return defaults


def _window(changes: StoryChanges) -> float | None:
    return bounded_window(changes.get("vote_window_seconds"))


def _styled(changes: StoryChanges, styles: StyleBook) -> dict[str, object]:
    """The "picture style" option lists workflows and styles: a style's name sets the
    story's style (its words, LoRA, VAE and workflow), a workflow's only the workflow."""
    chosen = styles.named(changes.get("workflow") or "")
    if chosen is None:
        return dict(changes)
    return {**changes, "workflow": None, "style": chosen.name}
