"""The GPU queue of one process in a fleet: its own order, the fleet's caps.

Each process still orders its jobs with its `GpuQueue` (round-robin between guilds, text
before pictures, one waiting picture per session). A picture granted there also needs a
fleet slot (`core.fleet_slots`) before it may go to ComfyUI: the per-guild and total
picture caps count every process's pictures. Text takes no slot, so it keeps going first.
"""

from __future__ import annotations

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.fleet_slots import FleetSlots, SlotKeeper, SlotPool
from storycraft_bot.pictures.gpu_queue import GpuQueue, JobKind, OnPosition, Ticket


class FleetGpuQueue(GpuQueue):
    """A GpuQueue whose pictures also wait for a fleet-wide slot."""

    def __init__(
        self,
        slots: FleetSlots,
        clock: Clock,
        *,
        per_guild: int = 1,
        total: int = 1,
        report_interval: float = 0.0,
    ) -> None:
        super().__init__(
            per_guild=per_guild, total=total, clock=clock, report_interval=report_interval
        )
        self._keeper = SlotKeeper(slots, clock)
        self._caps = (per_guild, total)

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        await super().wait(ticket, on_position)
        if ticket.kind is not JobKind.TEXT:
            per_guild, total = self._caps
            await self._keeper.take(SlotPool.PICTURE, ticket.job_id, ticket.guild, per_guild, total)

    def done(self, ticket: Ticket) -> None:
        self._keeper.give_back(ticket.job_id)
        super().done(ticket)
