"""The coordination port: what processes sharing one store agree on.

One process (SQLite, the default) needs only its asyncio locks: `LocalCoordination`.
Several processes on one PostgreSQL (`storage.fleet.PostgresCoordination`) also need a
lock per place that holds across them, due votes claimed by exactly one of them, and a
lease on each segment being written, so that another process rewrites a segment whose
writer died (see `leases` and `fleet_sweep`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from storycraft_bot.core.models import ChannelKey
from storycraft_bot.core.supervision import ChannelLocks

#: The lock of one place: `async with locks(key): ...`.
PlaceLocks = Callable[[ChannelKey], AbstractAsyncContextManager[Any]]


class Coordination(Protocol):
    """Place locks, segment leases and claims of due work, for one process."""

    @property
    def shared(self) -> bool:
        """Whether other processes share the store (then a sweep looks for their work)."""
        ...

    @property
    def lease_seconds(self) -> float:
        """How long a lease lasts unless renewed."""
        ...

    @property
    def sweep_seconds(self) -> float:
        """How often this process looks for work other processes left (when shared)."""
        ...

    def place_lock(self, key: ChannelKey) -> AbstractAsyncContextManager[Any]:
        """Held while one command or timer changes the place's story."""
        ...

    async def hold_segment(self, segment_id: int, now: float) -> bool:
        """Take the lease on writing the segment; False if a live lease is another's."""
        ...

    async def renew_segment(self, segment_id: int, now: float) -> bool:
        """Extend our lease; False if it was lost (expired and taken) or the segment is
        no longer wanted (superseded, its story stopped or paused by another process)."""
        ...

    async def release_segment(self, segment_id: int) -> None:
        """Give our lease up (the segment is written, failed or dropped)."""
        ...

    async def claim_due_votes(self, now: float) -> list[int]:
        """Segments whose vote window has ended, each claimed by one process only."""
        ...

    async def claim_stalled_segments(self, now: float) -> list[int]:
        """Segments still being written whose writer's lease ran out, now leased to us."""
        ...

    async def claim_due_retries(self, now: float) -> list[int]:
        """Failed segments whose automatic try is due, each claimed by one process only."""
        ...

    async def hold_picture(self, segment_id: int, now: float, *, take: bool) -> bool:
        """Claim drawing the segment's picture; False if another process holds a live
        claim, unless `take` (a new picture decided here replaces the other's)."""
        ...

    async def renew_pictures(self, segment_ids: list[int], now: float) -> list[int]:
        """Extend our picture claims; the ones kept (a picture lost was taken by another
        process, or its part was superseded or its story stopped or paused)."""
        ...

    async def release_picture(self, segment_id: int) -> None:
        """Give our picture claim up (drawn, failed, dropped or no longer wanted)."""
        ...

    async def hold_draft(self, segment_id: int, now: float) -> bool:
        """Take the lease on writing the open part's drafts; False if another's is live."""
        ...

    async def renew_draft(self, segment_id: int, now: float) -> bool:
        """Extend it; False once lost, or the part is no longer open (decided, retried,
        undone) or its story no longer active."""
        ...

    async def release_draft(self, segment_id: int) -> None: ...

    async def claim_orphaned_pictures(self, now: float) -> list[int]:
        """Segments whose picture is still wanted but whose drawer's claim ran out (its
        process died or stopped), now claimed by us."""
        ...


class LocalCoordination:
    """One process owns the store: asyncio locks, leases always ours, nothing to claim
    (a restart's `Recovery.resume` picks up what a stopped process left)."""

    def __init__(self, lease_seconds: float = 30.0) -> None:
        self._locks = ChannelLocks()
        self._lease_seconds = lease_seconds

    @property
    def shared(self) -> bool:
        return False

    @property
    def lease_seconds(self) -> float:
        return self._lease_seconds

    @property
    def sweep_seconds(self) -> float:
        return self._lease_seconds

    def place_lock(self, key: ChannelKey) -> AbstractAsyncContextManager[Any]:
        return self._locks(key)

    async def hold_segment(self, segment_id: int, now: float) -> bool:
        return True

    async def renew_segment(self, segment_id: int, now: float) -> bool:
        return True

    async def release_segment(self, segment_id: int) -> None:
        return None

    async def claim_due_votes(self, now: float) -> list[int]:
        return []

    async def claim_stalled_segments(self, now: float) -> list[int]:
        return []

    async def claim_due_retries(self, now: float) -> list[int]:
        return []

    async def hold_picture(self, segment_id: int, now: float, *, take: bool) -> bool:
        return True

    async def renew_pictures(self, segment_ids: list[int], now: float) -> list[int]:
        return segment_ids

    async def release_picture(self, segment_id: int) -> None:
        return None

    async def claim_orphaned_pictures(self, now: float) -> list[int]:
        return []

    async def hold_draft(self, segment_id: int, now: float) -> bool:
        return True

    async def renew_draft(self, segment_id: int, now: float) -> bool:
        return True

    async def release_draft(self, segment_id: int) -> None:
        return None
