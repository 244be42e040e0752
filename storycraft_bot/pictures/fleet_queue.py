"""The GPU queue of one process in a fleet: the fleet's line decides between processes.

Each process still orders its own jobs with its `GpuQueue` (round-robin between guilds,
text before pictures, one waiting picture per session). Every picture also stands in the
fleet's line in the database from the moment it is queued (`FleetLine`): a newer picture
of a story replaces its waiting one whichever process queued it, and the positions told
to players count the fleet's line. A picture its process's queue grants then asks the
fleet for its turn: among the pictures every process is asking for, live ones before the
backlog, the guild served least recently first, then arrival; the turn comes with a slot
under the per-guild and total caps of the whole fleet. Text takes no slot, so it keeps
going first within each process.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.fleet_slots import (
    SLOT_POLL_SECONDS,
    FleetSlots,
    LineTurn,
    SlotKeeper,
)
from storycraft_bot.pictures.gpu_queue import (
    Dequeued,
    DequeueReason,
    GpuQueue,
    JobKind,
    OnPosition,
    Ticket,
    TicketState,
)

log = logging.getLogger(__name__)


class FleetLine(FleetSlots, Protocol):
    """The fleet's line of pictures, shared by every process (a table in PostgreSQL)."""

    async def enter_line(
        self, job_id: str, guild: str, session_id: int, backlog: bool, now: float
    ) -> None:
        """Stand in line; a live picture replaces its story's waiting one."""
        ...

    async def take_turn(self, job_id: str, per_guild: int, total: int, now: float) -> LineTurn:
        """Ask for the job's turn (and slot); GONE if it was replaced meanwhile."""
        ...

    async def line_ahead(self, job_id: str, now: float) -> int | None: ...

    async def renew_line(self, job_ids: list[str], now: float) -> None: ...

    async def leave_line(self, job_id: str) -> None: ...


class FleetGpuQueue(GpuQueue):
    """A GpuQueue whose pictures also wait for their turn in the fleet's line."""

    def __init__(
        self,
        line: FleetLine,
        clock: Clock,
        *,
        per_guild: int = 1,
        total: int = 1,
        report_interval: float = 0.0,
    ) -> None:
        super().__init__(
            per_guild=per_guild, total=total, clock=clock, report_interval=report_interval
        )
        self._line = line
        self._fleet_clock = clock
        self._report_every = report_interval
        self._keeper = SlotKeeper(line, clock)
        self._caps = (per_guild, total)
        self._in_line: set[str] = set()
        self._line_renewer: asyncio.Task[None] | None = None
        self._leaving: set[asyncio.Task[None]] = set()

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        if ticket.kind is JobKind.TEXT:
            await super().wait(ticket, on_position)
            return
        backlog = ticket.kind is JobKind.BACKLOG
        now = self._fleet_clock.now()
        await self._line.enter_line(ticket.job_id, ticket.guild, ticket.session_id, backlog, now)
        self._in_line.add(ticket.job_id)
        if self._line_renewer is None or self._line_renewer.done():
            self._line_renewer = asyncio.create_task(self._renew_line(), name="fleet-line")
        report = self._fleet_positions(ticket, on_position) if on_position else None
        try:
            await super().wait(ticket, report)
            await self._fleet_turn(ticket, report)
        except BaseException:
            self._leave(ticket.job_id)
            raise
        self._in_line.discard(ticket.job_id)  # its turn took it out of the line

    def done(self, ticket: Ticket) -> None:
        self._keeper.give_back(ticket.job_id)
        self._leave(ticket.job_id)
        super().done(ticket)

    async def _fleet_turn(self, ticket: Ticket, report: OnPosition | None) -> None:
        """After this process's queue granted it: wait for the fleet's turn."""
        per_guild, total = self._caps
        told = False
        while True:
            turn = await self._line.take_turn(
                ticket.job_id, per_guild, total, self._fleet_clock.now()
            )
            if turn is LineTurn.GRANTED:
                self._keeper.adopt(ticket.job_id)
                return
            if turn is LineTurn.GONE:
                super().done(ticket)  # frees its place in this process's queue
                ticket.state = TicketState.DEQUEUED
                raise Dequeued(DequeueReason.REPLACED)
            if not told:
                told = True
                log.info("picture %s waits: the fleet is at its caps", ticket.job_id)
            if report is not None:
                await report(0)
            await self._fleet_clock.sleep(SLOT_POLL_SECONDS)

    def _fleet_positions(self, ticket: Ticket, on_position: OnPosition) -> OnPosition:
        """Reports the fleet's count ahead instead of this process's (asked at most once
        per report interval)."""
        asking = Throttle(self._fleet_clock, self._report_every)
        told: list[int] = []

        async def report(local: int) -> None:
            if not asking.ready():
                return
            fleet = await self._line.line_ahead(ticket.job_id, self._fleet_clock.now())
            ahead = local if fleet is None else fleet
            if told != [ahead]:
                told[:] = [ahead]
                await on_position(ahead)

        return report

    def _leave(self, job_id: str) -> None:
        if job_id not in self._in_line:
            return
        self._in_line.discard(job_id)
        task = asyncio.create_task(self._left(job_id))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _left(self, job_id: str) -> None:
        try:
            await self._line.leave_line(job_id)
        except Exception as err:  # its row runs out by itself
            log.warning("picture %s could not leave the fleet's line: %s", job_id, err)

    async def _renew_line(self) -> None:
        while self._in_line:
            await self._fleet_clock.sleep(self._line.lease_seconds / 3)
            try:
                await self._line.renew_line(sorted(self._in_line), self._fleet_clock.now())
            except asyncio.CancelledError:
                raise
            except Exception as err:  # tried again; a row lost only lets others first
                log.warning("the fleet's line could not be renewed: %s", err)
