"""Automatic tries after a narrator outage.

A part that failed because the narrator was unreachable is written again by itself, a
few times with growing delays (kept in the database, so a restart keeps the plan). A
manual retry, an undo or a stop cancels the plan with the rest of the session's work.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from storycraft_bot.core import events as ev
from storycraft_bot.core.announcer import Announcer
from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import PlaceLocks
from storycraft_bot.core.models import Segment, SegmentState, Session, SessionState
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.supervision import Supervisor
from storycraft_bot.core.writing import Writer

log = logging.getLogger(__name__)


class OutageRetries:
    """Writes a failed part again when its automatic try is due."""

    def __init__(
        self,
        store: StoryStore,
        clock: Clock,
        locks: PlaceLocks,
        tasks: Supervisor,
        announce: Announcer,
    ) -> None:
        self._store = store
        self._clock = clock
        self._locks = locks
        self._tasks = tasks
        self._announce = announce
        self._writer: Writer | None = None

    def attach(self, writer: Writer) -> None:
        """The writer that writes the parts again (it also reports outages here)."""
        self._writer = writer

    def schedule(self, session: Session, segment: Segment) -> None:
        """Try the failed `segment` again when its `auto_retry_at` comes."""
        if segment.auto_retry_at is None:
            return
        self._tasks.spawn(session.id, self._try_again(session, segment, segment.auto_retry_at))

    async def _try_again(self, session: Session, segment: Segment, due: float) -> None:
        await self._clock.sleep(due - self._clock.now())
        await self.try_due(session, segment.id)

    async def try_due(self, session: Session, segment_id: int) -> None:
        """Write the failed part again now, if it is still the story's newest (a timer
        here, or a try claimed from another process by the fleet sweep)."""
        async with self._locks(session.place.key):
            live = await self._store.get_session(session.id)
            fresh = await self._store.get_segment(segment_id)
            current = await self._store.current_segment(session.id)
            if (
                live is None
                or live.state is not SessionState.ACTIVE
                or fresh is None
                or fresh.state is not SegmentState.FAILED
                or current is None
                or current.id != fresh.id
                or self._writer is None
            ):
                return  # retried, undone or stopped meanwhile
            now = self._clock.now()
            following = await self._store.replace_segment(fresh, now)
            tries = fresh.auto_retries + 1
            await self._store.set_auto_retry(following.id, tries, None)
            log.info("story %d: segment %d tried again by itself (%d)", live.id, fresh.index, tries)
            await self._announce(
                ev.SegmentSuperseded(
                    live.place.key, live.id, live.language, fresh.id, ev.Superseded.RETRIED
                )
            )
            self._tasks.spawn(
                live.id,
                self._writer.write(live, replace(following, auto_retries=tries), after_outage=True),
            )
