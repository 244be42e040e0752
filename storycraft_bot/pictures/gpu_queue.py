"""The GPU queue: who may use the GPU next.

Plain asyncio, no threads. Limits: at most `per_guild` pictures at once per guild (a
Telegram chat counts as its own guild) and `total` jobs at once overall. Guilds are
served round-robin, so one busy server cannot starve the others; text jobs go before
pictures. A session has at most one waiting picture: a newer one replaces it. Pictures
recovered after a restart wait in a backlog behind every live picture, in arrival order.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class JobKind(enum.Enum):
    """Text goes before pictures, live pictures before the backlog."""

    TEXT = "text"
    PICTURE = "picture"
    BACKLOG = "backlog"


class TicketState(enum.StrEnum):
    """Life of a ticket: waiting -> running -> done, or waiting -> dequeued."""

    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    DEQUEUED = "dequeued"


class DequeueReason(enum.StrEnum):
    """Why a ticket left the queue before its turn."""

    REPLACED = "replaced by a newer picture"
    CANCELLED = "cancelled"


class Dequeued(Exception):
    """The ticket left the queue before its turn: replaced by a newer picture or cancelled."""

    def __init__(self, why: DequeueReason) -> None:
        super().__init__(why.value)
        self.why = why


@dataclass(eq=False)
class Ticket:
    """A place in the queue; `job_id` is also ComfyUI's prompt_id for pictures."""

    job_id: str
    kind: JobKind
    guild: str
    session_id: int
    state: TicketState = TicketState.WAITING
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


OnPosition = Callable[[int], Awaitable[None]]


class GpuQueue:
    """Grants turns on the GPU fairly."""

    def __init__(self, *, per_guild: int = 1, total: int = 1) -> None:
        if per_guild < 1 or total < 1:
            raise ValueError("limits must be at least 1")
        self._per_guild = per_guild
        self._total = total
        self._text: deque[Ticket] = deque()
        self._pictures: dict[str, deque[Ticket]] = {}  # per guild, in arrival order
        self._backlog: deque[Ticket] = deque()
        self._served: dict[str, int] = {}  # guild -> when it was last served (a counter)
        self._serial = 0
        self._running: list[Ticket] = []
        self._changed = asyncio.Event()

    # Joining and leaving

    def join(self, kind: JobKind, guild: str, session_id: int, job_id: str) -> Ticket:
        """Take a place; a session's waiting picture is replaced by a newer one."""
        ticket = Ticket(job_id, kind, guild, session_id)
        if kind is JobKind.TEXT:
            self._text.append(ticket)
        elif kind is JobKind.BACKLOG:
            self._backlog.append(ticket)
        else:
            line = self._pictures.setdefault(guild, deque())
            for older in [t for t in line if t.session_id == session_id]:
                line.remove(older)
                self._dequeue(older, DequeueReason.REPLACED)
            line.append(ticket)
        self._dispatch()
        return ticket

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        """Until the ticket's turn; reports how many are ahead whenever that changes.

        Raises Dequeued when the ticket is replaced or cancelled first.
        """
        reported: int | None = None
        while not ticket.granted.done():
            changed = self._changed
            ahead = self.ahead(ticket)
            if on_position is not None and ahead != reported:
                reported = ahead
                await on_position(ahead)
                continue  # the report awaited: look again before sleeping
            waiter = asyncio.ensure_future(changed.wait())
            either: set[asyncio.Future[Any]] = {ticket.granted, waiter}
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        ticket.granted.result()  # raises Dequeued

    def done(self, ticket: Ticket) -> None:
        """The ticket's work ended (or its waiter gave up): free its place."""
        if ticket.state is TicketState.RUNNING:
            self._running.remove(ticket)
        elif ticket.state is TicketState.WAITING:
            self._remove_waiting(ticket)
            ticket.granted.cancel()
        if ticket.state is not TicketState.DEQUEUED:
            ticket.state = TicketState.DONE
        self._dispatch()

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

    def cancel_session(self, session_id: int) -> list[Ticket]:
        """Drop the session's waiting tickets; returns its running ones (to interrupt)."""
        for ticket in [t for t in self._waiting() if t.session_id == session_id]:
            self._remove_waiting(ticket)
            self._dequeue(ticket, DequeueReason.CANCELLED)
        self._dispatch()
        return [t for t in self._running if t.session_id == session_id]

    # Looking

    def ahead(self, ticket: Ticket) -> int:
        """How many waiting jobs come before this one, in the order they would be served."""
        if ticket.state is not TicketState.WAITING:
            return 0
        order = self._service_order()
        return order.index(ticket) if ticket in order else 0

    @property
    def running(self) -> tuple[Ticket, ...]:
        return tuple(self._running)

    @property
    def waiting(self) -> tuple[Ticket, ...]:
        return tuple(self._service_order())

    # Internals

    def _waiting(self) -> list[Ticket]:
        pictures = (t for line in self._pictures.values() for t in line)
        return [*self._text, *pictures, *self._backlog]

    def _rounds(self) -> list[str]:
        """Guilds with waiting pictures, least recently served first (round-robin)."""
        guilds = [g for g, line in self._pictures.items() if line]
        return sorted(guilds, key=lambda g: self._served.get(g, -1))

    def _service_order(self) -> list[Ticket]:
        order = list(self._text)
        lines = {g: list(self._pictures[g]) for g in self._rounds()}
        while any(lines.values()):
            for line in lines.values():
                if line:
                    order.append(line.pop(0))
        return order + list(self._backlog)

    def _remove_waiting(self, ticket: Ticket) -> None:
        if ticket in self._text:
            self._text.remove(ticket)
        if ticket in self._backlog:
            self._backlog.remove(ticket)
        line = self._pictures.get(ticket.guild)
        if line is not None and ticket in line:
            line.remove(ticket)

    def _dequeue(self, ticket: Ticket, why: DequeueReason) -> None:
        ticket.state = TicketState.DEQUEUED
        if not ticket.granted.done():
            ticket.granted.set_exception(Dequeued(why))
            ticket.granted.exception()  # retrieved here, so an abandoned one does not warn

    def _dispatch(self) -> None:
        while len(self._running) < self._total:
            ticket = self._next()
            if ticket is None:
                break
            ticket.state = TicketState.RUNNING
            self._running.append(ticket)
            ticket.granted.set_result(None)
        self._changed.set()
        self._changed = asyncio.Event()

    def _next(self) -> Ticket | None:
        if self._text:
            return self._text.popleft()
        busy = Counter(t.guild for t in self._running if t.kind is not JobKind.TEXT)
        for guild in self._rounds():
            if busy[guild] < self._per_guild:
                self._serial += 1
                self._served[guild] = self._serial  # to the back of the round
                return self._pictures[guild].popleft()
        for ticket in self._backlog:
            if busy[ticket.guild] < self._per_guild:
                self._backlog.remove(ticket)
                return ticket
        return None
