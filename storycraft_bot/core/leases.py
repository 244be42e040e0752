"""The lease on a segment being written: taken before the narrator starts, renewed while
it streams and its picture is prepared, given up when done, so no other process writes it
meanwhile. A lease that cannot be renewed stops its writer: another process took the part
over, or retried, undid, stopped or paused the story."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.coordination import Coordination

log = logging.getLogger(__name__)

#: Renewed this many times per lease period, so one late renewal does not lose it.
_RENEWALS_PER_LEASE = 3


class SegmentLeases:
    """`async with leases.writing(segment_id) as held:` write only when `held`."""

    def __init__(self, coordination: Coordination, clock: Clock) -> None:
        self._coordination = coordination
        self._clock = clock

    @contextlib.asynccontextmanager
    async def writing(self, segment_id: int) -> AsyncIterator[bool]:
        held = await self._hold(segment_id)
        if not held:
            log.info("%s %d is being written by another process", self._what, segment_id)
            yield False
            return
        writer = asyncio.current_task()
        renewer = (
            asyncio.create_task(self._renew(segment_id, writer), name=f"lease-{segment_id}")
            if self._coordination.shared and writer is not None
            else None
        )
        try:
            yield True
        finally:
            if renewer is not None:
                renewer.cancel()
                await asyncio.gather(renewer, return_exceptions=True)
            # A cancelled writer still gives its lease up, so a retry may take it at once.
            await asyncio.shield(self._release(segment_id))

    #: What the lease is on, for the log.
    _what = "segment"

    async def _hold(self, segment_id: int) -> bool:
        return await self._coordination.hold_segment(segment_id, self._clock.now())

    async def _renew_one(self, segment_id: int) -> bool:
        return await self._coordination.renew_segment(segment_id, self._clock.now())

    async def _release(self, segment_id: int) -> None:
        await self._coordination.release_segment(segment_id)

    async def _renew(self, segment_id: int, writer: asyncio.Task[Any]) -> None:
        """Renew until cancelled; a lease lost stops the writer, as a retry, undo or stop
        in this process would (another process took it over, or decided otherwise)."""
        every = self._coordination.lease_seconds / _RENEWALS_PER_LEASE
        while True:
            await self._clock.sleep(every)
            try:
                kept = await self._renew_one(segment_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s %d: the lease could not be renewed", self._what, segment_id)
                continue
            if not kept:
                log.info("%s %d: no longer ours to write, writing stopped", self._what, segment_id)
                writer.cancel()
                return


class DraftLeases(SegmentLeases):
    """`async with leases.writing(segment_id) as held:` prewrite the open part's drafts
    only when `held`: one process at a time writes a part's drafts (see prewriting)."""

    _what = "drafts of segment"

    async def _hold(self, segment_id: int) -> bool:
        return await self._coordination.hold_draft(segment_id, self._clock.now())

    async def _renew_one(self, segment_id: int) -> bool:
        return await self._coordination.renew_draft(segment_id, self._clock.now())

    async def _release(self, segment_id: int) -> None:
        await self._coordination.release_draft(segment_id)
