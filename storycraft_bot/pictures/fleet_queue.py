"""The GPU queue of one process in a fleet: the fleet's line decides every turn.

Every picture, and every text turn on a GPU shared with pictures, stands in the fleet's
line in the database from the moment it waits (`FleetLine`). One task per process asks
the line for the turns of its jobs (every quarter second while any waits, and at once
when one joins or ends): the line grants them while no job of another process comes
first in the fleet's order (text first, then live pictures with the round-robin between
guilds, then the backlog) within the per-guild cap and the total of the whole fleet. So
this queue keeps no order of its own: it waits for what the fleet decides. A newer
picture of a story replaces its waiting one, whichever process queued it; positions told
to players count the fleet's line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from storycraft_bot.core.clock import Clock, Throttle
from storycraft_bot.core.fleet_slots import (
    FleetSlots,
    LineKind,
    LineTurns,
    SlotKeeper,
)
from storycraft_bot.core.line_upkeep import LineUpkeep
from storycraft_bot.pictures.gpu_queue import (
    Dequeued,
    DequeueReason,
    JobKind,
    OnPosition,
    Ticket,
    TicketState,
    worth_telling,
)

log = logging.getLogger(__name__)

_KINDS = {
    JobKind.TEXT: LineKind.TEXT,
    JobKind.PICTURE: LineKind.PICTURE,
    JobKind.BACKLOG: LineKind.BACKLOG,
}


class FleetLine(FleetSlots, Protocol):
    """The fleet's line on the GPU, shared by every process (a table in PostgreSQL)."""

    async def enter_line(
        self, job_id: str, guild: str, session_id: int, kind: LineKind, now: float
    ) -> None:
        """Stand in line; a live picture replaces its story's waiting one."""
        ...

    async def take_turns(self, per_guild: int, total: int, now: float) -> LineTurns:
        """This process's jobs whose turn came (their slots taken), and those still in line."""
        ...

    async def line_positions(self, now: float) -> dict[str, int]:
        """How many of the fleet's jobs come before each of this process's."""
        ...

    async def renew_line(self, job_ids: list[str], now: float) -> None: ...

    async def leave_line(self, job_id: str) -> None: ...


class FleetGpuQueue:
    """GpuTurns whose every turn the fleet's line grants."""

    def __init__(
        self,
        line: FleetLine,
        clock: Clock,
        *,
        per_guild: int = 1,
        total: int = 1,
        report_interval: float = 0.0,
    ) -> None:
        if per_guild < 1 or total < 1:
            raise ValueError("limits must be at least 1")
        self._line = line
        self._clock = clock
        self._caps = (per_guild, total)
        self._keeper = SlotKeeper(line, clock)
        self._reports = Throttle(clock, report_interval)
        self._arrivals = 0
        self._live: dict[int, Ticket] = {}  # a session's one waiting live picture
        self._in_line: dict[str, Ticket] = {}  # waiting, with a row in the fleet's line
        self._told: set[str] = set()  # logged as waiting
        self._listeners = 0
        self._positions: dict[str, int] = {}
        self._moved: asyncio.Future[None] | None = None  # settles when positions change
        self._upkeep = LineUpkeep(
            clock,
            line.lease_seconds,
            waiting=self._in_line.keys,
            ask=self._ask,
            renew=line.renew_line,
            leave=line.leave_line,
            name="fleet's line",
        )

    def join(self, kind: JobKind, guild: str, session_id: int, job_id: str) -> Ticket:
        """Take a place; a session's waiting picture here is replaced by a newer one (the
        line replaces one waiting at another process)."""
        self._arrivals += 1
        ticket = Ticket(job_id, kind, guild, session_id, order=self._arrivals)
        if kind is JobKind.PICTURE:
            older = self._live.get(session_id)
            if older is not None and older.state is TicketState.WAITING:
                self._leave(older)
                _dequeue(older, DequeueReason.REPLACED)
            self._live[session_id] = ticket
        return ticket

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        """Until the fleet grants the ticket's turn; reports the fleet's count ahead when
        it is news (`worth_telling`, as the process's own queue does). Raises Dequeued
        when the ticket is replaced or cancelled first."""
        if not ticket.granted.done():
            kind = _KINDS[ticket.kind]
            try:
                await self._line.enter_line(
                    ticket.job_id, ticket.guild, ticket.session_id, kind, self._clock.now()
                )
            except BaseException:
                self._leave(ticket)  # its row may have gone in
                raise
            if ticket.state is TicketState.WAITING:
                self._in_line[ticket.job_id] = ticket
                self._upkeep.ask_soon()
            else:  # replaced (or ended) while it entered
                self._leave(ticket)
        if on_position is not None:
            self._listeners += 1
        try:
            reported: int | None = None
            while not ticket.granted.done():
                ahead = self._positions.get(ticket.job_id)
                if on_position is not None and ahead is not None and worth_telling(reported, ahead):
                    reported = ahead
                    await on_position(ahead)
                    continue  # the report awaited: look again before sleeping
                if self._moved is None or self._moved.done():
                    self._moved = asyncio.get_running_loop().create_future()
                wake = {ticket.granted, self._moved} if on_position else {ticket.granted}
                await asyncio.wait(wake, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if on_position is not None:
                self._listeners -= 1
        ticket.granted.result()  # raises Dequeued

    def done(self, ticket: Ticket) -> None:
        """The ticket's work ended (or its waiter gave up): free its place or its slot."""
        if ticket.state is TicketState.RUNNING:
            self._keeper.give_back(ticket.job_id)
            self._upkeep.ask_soon()  # its slot may be another job's of ours
        elif ticket.state is TicketState.WAITING:
            self._leave(ticket)
            ticket.granted.cancel()
        if self._live.get(ticket.session_id) is ticket:
            del self._live[ticket.session_id]
        if ticket.state is not TicketState.DEQUEUED:
            ticket.state = TicketState.DONE

    @asynccontextmanager
    async def turn(
        self,
        kind: JobKind,
        guild: str,
        session_id: int,
        job_id: str,
        on_position: OnPosition | None = None,
    ) -> AsyncIterator[Ticket]:
        """`async with queue.turn(...)`: wait for a turn, hold it for the block."""
        ticket = self.join(kind, guild, session_id, job_id)
        try:
            await self.wait(ticket, on_position)
            yield ticket
        finally:
            self.done(ticket)

    # Asking the fleet

    async def _ask(self) -> None:
        """One look at the line: turns for the jobs of ours that wait, and positions."""
        per_guild, total = self._caps
        asked = dict(self._in_line)
        await self._keeper.returned()  # slots given back count as free
        try:
            turns = await self._line.take_turns(per_guild, total, self._clock.now())
            self._settle(asked, turns)
            if self._listeners and self._reports.ready():
                self._publish(await self._line.line_positions(self._clock.now()))
        except Exception as err:  # asked again; nothing was granted
            log.warning("the fleet's line could not be asked: %s", err)

    def _settle(self, asked: dict[str, Ticket], turns: LineTurns) -> None:
        for job_id in turns.granted:
            self._keeper.adopt(job_id)
            ticket = self._in_line.pop(job_id, None)
            if ticket is None or ticket.granted.done():  # it left meanwhile
                self._keeper.give_back(job_id)
                continue
            self._told.discard(job_id)
            ticket.state = TicketState.RUNNING
            if self._live.get(ticket.session_id) is ticket:
                del self._live[ticket.session_id]
            ticket.granted.set_result(None)
        for job_id, ticket in asked.items():
            if self._in_line.get(job_id) is not ticket:
                continue
            if job_id not in turns.waiting:  # a newer picture at another process
                self._forget(ticket)
                _dequeue(ticket, DequeueReason.REPLACED)
            elif job_id not in self._told:
                self._told.add(job_id)
                log.info(
                    "%s %s waits: the fleet is at its caps or its line is ahead",
                    ticket.kind.value,
                    job_id,
                )

    def _publish(self, positions: dict[str, int]) -> None:
        if positions != self._positions:
            self._positions = positions
            if self._moved is not None and not self._moved.done():
                self._moved.set_result(None)

    # Leaving and staying in line

    def _forget(self, ticket: Ticket) -> None:
        """Out of this queue's books (its row is gone or goes by itself)."""
        self._in_line.pop(ticket.job_id, None)
        self._told.discard(ticket.job_id)
        self._positions.pop(ticket.job_id, None)
        if self._live.get(ticket.session_id) is ticket:
            del self._live[ticket.session_id]

    def _leave(self, ticket: Ticket) -> None:
        """Out of the books and out of the fleet's line (in the background)."""
        self._forget(ticket)
        self._upkeep.leave(ticket.job_id)


def _dequeue(ticket: Ticket, why: DequeueReason) -> None:
    ticket.state = TicketState.DEQUEUED
    if not ticket.granted.done():
        ticket.granted.set_exception(Dequeued(why))
        ticket.granted.exception()  # retrieved here, so an abandoned one does not warn
