"""Slots shared by every process on one store: how many pictures (per guild and in all)
and how many narrator requests run at once across the fleet.

Every job gets its slot from a fleet's line, which decides the order too: the GPU's jobs
(pictures, and text on a GPU shared with them) from `pictures.fleet_queue`, narrator
requests from `core.fleet_narration`. A slot is a lease renewed while held,
so the slots of a process that died stop counting when their time runs out.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from storycraft_bot.core.clock import Clock

log = logging.getLogger(__name__)

#: How often a granted job asks again for a slot the fleet has not free.
SLOT_POLL_SECONDS = 0.25


class SlotPool(enum.StrEnum):
    """What the slots are for: each pool has its own caps."""

    PICTURE = "picture"
    TEXT = "text"
    GPU_TEXT = "gpu_text"  # a text turn on a GPU shared with pictures: counts in their total


class FleetSlots(Protocol):
    """The fleet's running jobs, shared by every process (a table in PostgreSQL)."""

    @property
    def lease_seconds(self) -> float: ...

    async def renew_slots(self, job_ids: list[str], now: float) -> None: ...

    async def give_slot_back(self, job_id: str) -> None: ...


class SlotKeeper:
    """The slots this process holds: taken, renewed while held, given back."""

    def __init__(self, slots: FleetSlots, clock: Clock) -> None:
        self._slots = slots
        self._clock = clock
        self._held: set[str] = set()
        self._returns: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None

    def adopt(self, job_id: str) -> None:
        """Hold (and renew) a slot the fleet's line gave the job."""
        self._held.add(job_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="fleet-slots")

    def holds(self, job_id: str) -> bool:
        return job_id in self._held

    def give_back(self, job_id: str) -> None:
        """Free the job's slot (in the background: callers may not await)."""
        if job_id not in self._held:
            return
        self._held.discard(job_id)
        task = asyncio.create_task(self._give_back(job_id))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def returned(self) -> None:
        """Until the slots given back so far are freed in the store."""
        await asyncio.gather(*self._returns)

    async def _give_back(self, job_id: str) -> None:
        try:
            await self._slots.give_slot_back(job_id)
        except Exception as err:  # at shutdown, say; its lease runs out by itself
            log.warning("fleet slot %s could not be given back: %s", job_id, err)

    async def _renew(self) -> None:
        while self._held:
            await self._clock.sleep(self._slots.lease_seconds / 3)
            try:
                await self._slots.renew_slots(sorted(self._held), self._clock.now())
            except asyncio.CancelledError:
                raise
            except Exception as err:  # tried again; a slot lost only lets another in
                log.warning("fleet slots could not be renewed: %s", err)


class LineKind(enum.IntEnum):
    """What stands in the fleet's line, in the order served: text on a shared GPU first,
    then live pictures, then pictures recovered after a restart (the backlog)."""

    TEXT = 0
    PICTURE = 1
    BACKLOG = 2


@dataclass(frozen=True)
class LineTurns:
    """What the fleet's line tells one process when it asks."""

    granted: tuple[str, ...]  # its jobs whose turn came (their slots are taken)
    waiting: frozenset[str]  # its jobs still in line; any other was replaced meanwhile
