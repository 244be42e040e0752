"""Sends each engine event to the adapter of the event's platform."""

from __future__ import annotations

import logging

from storycraft_bot.core.events import StoryEvent
from storycraft_bot.core.models import Platform
from storycraft_bot.core.ports import StoryView

log = logging.getLogger(__name__)


class PlatformRouter:
    """A StoryView that forwards to one registered view per platform."""

    def __init__(self) -> None:
        self._views: dict[Platform, StoryView] = {}

    def register(self, platform: Platform, view: StoryView) -> None:
        self._views[platform] = view

    def unregister(self, platform: Platform) -> None:
        self._views.pop(platform, None)

    async def show(self, event: StoryEvent) -> None:
        view = self._views.get(event.key.platform)
        if view is None:
            log.debug("no adapter for %s; dropped %s", event.key.platform, type(event).__name__)
            return
        await view.show(event)
