"""How the engine's parts tell the adapters: an event that fails to show is logged, never
raised, because the story's state is already committed."""

from __future__ import annotations

import logging

from storycraft_bot.core import events as ev
from storycraft_bot.core.ports import StoryView

log = logging.getLogger(__name__)


class Announcer:
    """Shows events through the StoryView, containing the adapter's failures."""

    def __init__(self, view: StoryView) -> None:
        self._view = view

    async def __call__(self, event: ev.StoryEvent) -> None:
        try:
            await self._view.show(event)
        except Exception:
            # An adapter's failure must never lose the story's state (already committed).
            log.exception("adapter failed to show %s", type(event).__name__)
