"""With several processes on one store: each process looks now and then for work another
left behind: due votes nobody's timer closed, due automatic tries of failed parts, and
segments whose writer's lease ran out (a process killed mid-segment), and pictures whose
drawer's claim ran out."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination
from storycraft_bot.core.models import Session
from storycraft_bot.core.outage_retries import OutageRetries
from storycraft_bot.core.store import StoryStore
from storycraft_bot.core.vote_timers import VoteTimers

log = logging.getLogger(__name__)


class TakesOver(Protocol):
    """What the sweep needs of the recovery (core/recovery.py, which owns the sweep)."""

    async def take_over(self, segment_id: int) -> bool:
        """Write again a segment whose writer's lease ran out; whether it was taken."""
        ...

    async def take_over_picture(self, segment_id: int) -> bool:
        """Draw (or wait for) a picture whose process's claim ran out; whether taken."""
        ...


class FleetSweep:
    """Claims due work and stalled segments (each by one process) and finishes them."""

    def __init__(
        self,
        coordination: Coordination,
        store: StoryStore,
        clock: Clock,
        votes: VoteTimers,
        recovery: TakesOver,
        outages: OutageRetries,
    ) -> None:
        self._coordination = coordination
        self._store = store
        self._clock = clock
        self._votes = votes
        self._recovery = recovery  # which owns this sweep
        self._outages = outages

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

    async def sweep(self) -> tuple[int, int, int, int]:
        """One pass: (due votes, due retries, stalled segments, pictures left by a dead
        process) this process claimed."""
        now = self._clock.now()
        votes = await self._coordination.claim_due_votes(now)
        for segment_id in votes:
            if (session := await self._session_of(segment_id)) is not None:
                await self._votes.close_due(session, segment_id)
        retries = await self._coordination.claim_due_retries(now)
        for segment_id in retries:
            if (session := await self._session_of(segment_id)) is not None:
                await self._outages.try_due(session, segment_id)
        stalled = await self._coordination.claim_stalled_segments(now)
        for segment_id in stalled:
            try:
                await self._recovery.take_over(segment_id)
            finally:
                await self._coordination.release_segment(segment_id)
        pictures = await self._coordination.claim_orphaned_pictures(now)
        for segment_id in pictures:
            # Once taken over, the claim is the drawing's (given up when it is over).
            if not await self._recovery.take_over_picture(segment_id):
                await self._coordination.release_picture(segment_id)
        if votes or retries or stalled or pictures:
            log.info(
                "fleet sweep: %d due votes claimed, %d due retries, %d stalled segments,"
                " %d pictures left by their process",
                len(votes),
                len(retries),
                len(stalled),
                len(pictures),
            )
        return len(votes), len(retries), len(stalled), len(pictures)

    async def _session_of(self, segment_id: int) -> Session | None:
        segment = await self._store.get_segment(segment_id)
        return await self._store.get_session(segment.session_id) if segment else None
