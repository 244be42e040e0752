"""With several processes on one store: each process looks now and then for work another
left behind, closing due votes nobody's timer closed and rewriting segments whose
writer's lease ran out (a process killed mid-segment)."""

from __future__ import annotations

import asyncio
import logging

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination
from storycraft_bot.core.recovery import Recovery
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.vote_timers import VoteTimers

log = logging.getLogger(__name__)


class FleetSweep:
    """Claims due votes and stalled segments (each by one process) and finishes them."""

    def __init__(
        self,
        coordination: Coordination,
        store: StoryStore,
        clock: Clock,
        votes: VoteTimers,
        recovery: Recovery,
    ) -> None:
        self._coordination = coordination
        self._store = store
        self._clock = clock
        self._votes = votes
        self._recovery = recovery

    async def run(self, every: float) -> None:
        """Sweep every `every` seconds until cancelled; a failed sweep is logged."""
        while True:
            await self._clock.sleep(every)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fleet sweep failed; trying again in %.1f s", every)

    async def sweep(self) -> tuple[int, int]:
        """One pass: (due votes claimed, segments taken over)."""
        closed = taken = 0
        for segment_id in await self._coordination.claim_due_votes(self._clock.now()):
            segment = await self._store.get_segment(segment_id)
            session = await self._store.get_session(segment.session_id) if segment else None
            if session is not None:
                await self._votes.close_due(session, segment_id)
                closed += 1
        for segment_id in await self._coordination.claim_stalled_segments(self._clock.now()):
            try:
                if await self._recovery.take_over(segment_id):
                    taken += 1
            finally:
                await self._coordination.release_segment(segment_id)
        if closed or taken:
            log.info("fleet sweep: %d due votes claimed, %d segments taken over", closed, taken)
        return closed, taken
