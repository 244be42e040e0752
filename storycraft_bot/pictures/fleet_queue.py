"""The GPU queue of one process in a fleet: its own order, the fleet's caps.

Each process still orders its jobs with its `GpuQueue` (round-robin between guilds, text
before pictures, one waiting picture per session). A picture granted there also needs a
slot in the shared store before it may go to ComfyUI: the per-guild and total picture
caps are counted over every process (`PictureSlots`, a PostgreSQL table). Text takes no
slot, so it keeps going first. A slot is a lease, renewed while the picture is drawn: a
dead process's slots stop counting when their time runs out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from storycraft_bot.core.clock import Clock
from storycraft_bot.pictures.gpu_queue import GpuQueue, JobKind, OnPosition, Ticket

log = logging.getLogger(__name__)

#: How often a granted picture asks again for a slot the fleet has not free.
SLOT_POLL_SECONDS = 0.25


class PictureSlots(Protocol):
    """The fleet's pictures being drawn, shared by every process."""

    @property
    def lease_seconds(self) -> float: ...

    async def take_slot(
        self, job_id: str, guild: str, per_guild: int, total: int, now: float
    ) -> bool:
        """A slot for the job if its guild and the fleet are under their caps."""
        ...

    async def renew_slots(self, job_ids: list[str], now: float) -> None: ...

    async def give_slot_back(self, job_id: str) -> None: ...


class FleetGpuQueue(GpuQueue):
    """A GpuQueue whose pictures also wait for a fleet-wide slot."""

    def __init__(
        self,
        slots: PictureSlots,
        clock: Clock,
        *,
        per_guild: int = 1,
        total: int = 1,
        report_interval: float = 0.0,
    ) -> None:
        super().__init__(
            per_guild=per_guild, total=total, clock=clock, report_interval=report_interval
        )
        self._slots = slots
        self._fleet_clock = clock
        self._caps = (per_guild, total)
        self._held: set[str] = set()
        self._returns: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        await super().wait(ticket, on_position)
        if ticket.kind is JobKind.TEXT:
            return
        per_guild, total = self._caps
        told = False
        while not await self._slots.take_slot(
            ticket.job_id, ticket.guild, per_guild, total, self._fleet_clock.now()
        ):
            if not told:
                told = True
                log.info("picture %s waits: the fleet is at its caps", ticket.job_id)
            await self._fleet_clock.sleep(SLOT_POLL_SECONDS)
        self._held.add(ticket.job_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="picture-slots")

    def done(self, ticket: Ticket) -> None:
        if ticket.job_id in self._held:
            self._held.discard(ticket.job_id)
            task = asyncio.create_task(self._give_back(ticket.job_id))
            self._returns.add(task)
            task.add_done_callback(self._returns.discard)
        super().done(ticket)

    async def _give_back(self, job_id: str) -> None:
        try:
            await self._slots.give_slot_back(job_id)
        except Exception as err:  # at shutdown, say; its lease runs out by itself
            log.warning("picture slot %s could not be given back: %s", job_id, err)

    async def _renew(self) -> None:
        while self._held:
            await self._fleet_clock.sleep(self._slots.lease_seconds / 3)
            try:
                await self._slots.renew_slots(sorted(self._held), self._fleet_clock.now())
            except asyncio.CancelledError:
                raise
            except Exception as err:  # tried again; a slot lost only lets another in
                log.warning("picture slots could not be renewed: %s", err)
