"""The narrator's line in a fleet: each process's fair queue, then a fleet-wide slot, so
the processes together send no more requests at once than the narrator's capacity (the
Ollama servers are shared; a request queued inside Ollama would spend its timeouts).

Prewrites may use all but one of the fleet's slots: a prewrite running in another
process cannot be taken back for a player's turn here, so one slot stays for live text.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.fleet_slots import FleetSlots, SlotKeeper, SlotPool
from storycraft_bot.core.models import Place
from storycraft_bot.core.ports import NarratorGate, OnQueued, TextKind


class FleetNarratorGate:
    """A NarratorGate: the process's own gate, then a slot of the fleet's narrator."""

    def __init__(
        self, local: NarratorGate, slots: FleetSlots, clock: Clock, capacity: Callable[[], int]
    ) -> None:
        self._local = local
        self._keeper = SlotKeeper(slots, clock)
        self._capacity = capacity

    @asynccontextmanager
    async def turn(
        self, place: Place, kind: TextKind, on_queued: OnQueued | None = None
    ) -> AsyncIterator[object]:
        async with self._local.turn(place, kind, on_queued) as slot:
            job_id = f"text-{uuid.uuid4()}"
            total = max(1, self._capacity())
            if kind is TextKind.PREWRITE:
                total = max(1, total - 1)
            # No per-guild cap for text: the local queue is fair between guilds.
            await self._keeper.take(SlotPool.TEXT, job_id, "", total, total)
            try:
                yield slot
            finally:
                self._keeper.give_back(job_id)
