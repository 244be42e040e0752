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
        held = await self._coordination.hold_segment(segment_id, self._clock.now())
        if not held:
            log.info("segment %d is being written by another process", segment_id)
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
            await asyncio.shield(self._coordination.release_segment(segment_id))

    async def _renew(self, segment_id: int, writer: asyncio.Task[Any]) -> None:
        """Renew until cancelled; a lease lost stops the writer, as a retry, undo or stop
        in this process would (another process took it over, or decided otherwise)."""
        every = self._coordination.lease_seconds / _RENEWALS_PER_LEASE
        while True:
            await self._clock.sleep(every)
            try:
                kept = await self._coordination.renew_segment(segment_id, self._clock.now())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("segment %d: the lease could not be renewed", segment_id)
                continue
            if not kept:
                log.info("segment %d: no longer ours to write, writing stopped", segment_id)
                writer.cancel()
                return
