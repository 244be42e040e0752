"""The GPU queue: who may use the GPU next.

Plain asyncio, no threads. Limits: at most `per_guild` pictures at once per guild (a
Telegram chat counts as its own guild) and `total` jobs at once overall. Guilds are
served round-robin, so one busy server cannot starve the others; text jobs go before
pictures. A session has at most one waiting picture: a newer one replaces it. Pictures
recovered after a restart wait in a backlog behind every live picture, in arrival order.

Cost: joining, leaving and granting are O(log guilds) (a heap of guilds in service order,
ordered dicts for the lines), whatever the number of waiting jobs. Positions are the one
O(n) walk, done at most once per `report_interval` for all waiters together, and a
waiter far back is told only when its position moved by a tenth (`worth_telling`).
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from storycraft_bot.core.clock import Clock

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
    order: int = 0  # arrival, across the whole queue
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


OnPosition = Callable[[int], Awaitable[None]]

Line = OrderedDict[Ticket, None]  # an ordered set: O(1) to drop any ticket or take the first


class GpuQueue:
    """Grants turns on the GPU fairly."""

    def __init__(
        self,
        *,
        per_guild: int = 1,
        total: int = 1,
        clock: Clock | None = None,
        report_interval: float = 0.0,
    ) -> None:
        if per_guild < 1 or total < 1:
            raise ValueError("limits must be at least 1")
        self._per_guild = per_guild
        self._total = total
        self._clock = clock
        self._interval = report_interval if clock is not None else 0.0
        self._arrivals = 0
        self._text: Line = OrderedDict()
        self._pictures: dict[str, Line] = {}  # per guild, in arrival order
        # Guilds with waiting pictures as (last served, first seen, guild): least recently
        # served first, never served first of all. One entry per guild in `_listed`.
        self._rounds: list[tuple[int, int, str]] = []
        self._listed: set[str] = set()
        self._first_seen: dict[str, int] = {}
        self._served: dict[str, int] = {}  # guild -> when it was last served (a counter)
        self._serial = 0
        self._backlog: Line = OrderedDict()  # all of it, in arrival order
        self._backlogs: dict[str, Line] = {}  # the same per guild
        self._backlog_heads: list[tuple[int, str]] = []  # (arrival of a guild's first, guild)
        self._session_picture: dict[int, Ticket] = {}  # a session's one waiting live picture
        self._by_session: dict[int, Line] = {}  # every waiting ticket of a session
        self._running: Line = OrderedDict()
        self._busy: Counter[str] = Counter()  # pictures granted per guild
        # Positions: one snapshot of the service order, rebuilt when published.
        self._version = 0
        self._positions: dict[Ticket, int] = {}
        self._positions_version = -1
        # Waiters asleep: what wakes each, and the position it last reported.
        self._nudges: dict[Ticket, tuple[asyncio.Future[None], int | None]] = {}
        self._published_at = float("-inf")
        self._publisher: asyncio.Task[None] | None = None
        self._listeners = 0

    # Joining and leaving

    def join(self, kind: JobKind, guild: str, session_id: int, job_id: str) -> Ticket:
        """Take a place; a session's waiting picture is replaced by a newer one."""
        self._arrivals += 1
        ticket = Ticket(job_id, kind, guild, session_id, order=self._arrivals)
        if kind is JobKind.TEXT:
            self._text[ticket] = None
        elif kind is JobKind.BACKLOG:
            self._backlog[ticket] = None
            line = self._backlogs.setdefault(guild, OrderedDict())
            if not line:
                heapq.heappush(self._backlog_heads, (ticket.order, guild))
            line[ticket] = None
        else:
            older = self._session_picture.get(session_id)
            if older is not None:
                self._remove_waiting(older)
                self._dequeue(older, DequeueReason.REPLACED)
            self._session_picture[session_id] = ticket
            self._pictures.setdefault(guild, OrderedDict())[ticket] = None
            self._first_seen.setdefault(guild, self._arrivals)
            self._list(guild)
        self._by_session.setdefault(session_id, OrderedDict())[ticket] = None
        self._dispatch()
        return ticket

    async def wait(self, ticket: Ticket, on_position: OnPosition | None = None) -> None:
        """Until the ticket's turn; reports how many are ahead when that changes (at most
        once per report interval).

        Raises Dequeued when the ticket is replaced or cancelled first.
        """
        reported: int | None = None
        if on_position is not None:
            self._listeners += 1
        loop = asyncio.get_running_loop()
        try:
            while not ticket.granted.done():
                if on_position is not None:
                    ahead = self._positions.get(ticket)
                    if ahead is None:
                        self._publish_soon()  # it joined after the last snapshot
                    elif worth_telling(reported, ahead):
                        reported = ahead
                        await on_position(ahead)
                        continue  # the report awaited: look again before sleeping
                # Woken by its grant (or dequeue), or by a snapshot that moved it; not by
                # every snapshot, which would wake all waiters for each change.
                nudge: asyncio.Future[None] = loop.create_future()
                if on_position is not None:  # the others wake only when granted
                    self._nudges[ticket] = (nudge, reported)
                settle = _settle(nudge)
                ticket.granted.add_done_callback(settle)
                try:
                    await nudge
                finally:
                    self._nudges.pop(ticket, None)
                    ticket.granted.remove_done_callback(settle)
        finally:
            if on_position is not None:
                self._listeners -= 1
        ticket.granted.result()  # raises Dequeued

    def done(self, ticket: Ticket) -> None:
        """The ticket's work ended (or its waiter gave up): free its place."""
        if ticket.state is TicketState.RUNNING:
            del self._running[ticket]
            if ticket.kind is not JobKind.TEXT:
                self._busy[ticket.guild] -= 1
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
        for ticket in list(self._by_session.get(session_id, ())):
            self._remove_waiting(ticket)
            self._dequeue(ticket, DequeueReason.CANCELLED)
        self._dispatch()
        return [t for t in self._running if t.session_id == session_id]

    # Looking

    def ahead(self, ticket: Ticket) -> int:
        """How many waiting jobs come before this one, in the order they would be served."""
        if ticket.state is not TicketState.WAITING:
            return 0
        if self._positions_version != self._version:
            self._snapshot()
        return self._positions.get(ticket, 0)

    @property
    def running(self) -> tuple[Ticket, ...]:
        return tuple(self._running)

    @property
    def waiting(self) -> tuple[Ticket, ...]:
        return tuple(self._service_order())

    # Internals

    def _list(self, guild: str) -> None:
        """Put a guild with waiting pictures in the round, at its place by last service."""
        if guild not in self._listed:
            self._listed.add(guild)
            key = (self._served.get(guild, -1), self._first_seen[guild], guild)
            heapq.heappush(self._rounds, key)

    def _service_order(self) -> list[Ticket]:
        order = list(self._text)
        rounds = sorted(self._rounds)
        lines = [iter(self._pictures[guild]) for _, _, guild in rounds]
        while lines:
            still: list[Any] = []
            for line in lines:
                ticket = next(line, None)
                if ticket is not None:
                    order.append(ticket)
                    still.append(line)
            lines = still
        return order + list(self._backlog)

    def _remove_waiting(self, ticket: Ticket) -> None:
        if ticket.kind is JobKind.TEXT:
            self._text.pop(ticket, None)
        elif ticket.kind is JobKind.BACKLOG:
            self._backlog.pop(ticket, None)
            line = self._backlogs.get(ticket.guild)
            if line is not None and ticket in line:
                first = next(iter(line)) is ticket
                del line[ticket]
                if first and line:
                    heapq.heappush(self._backlog_heads, (next(iter(line)).order, ticket.guild))
        else:
            self._pictures.get(ticket.guild, OrderedDict()).pop(ticket, None)
            if self._session_picture.get(ticket.session_id) is ticket:
                del self._session_picture[ticket.session_id]
        mine = self._by_session.get(ticket.session_id)
        if mine is not None:
            mine.pop(ticket, None)
            if not mine:
                del self._by_session[ticket.session_id]

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
            self._remove_waiting(ticket)
            ticket.state = TicketState.RUNNING
            self._running[ticket] = None
            if ticket.kind is not JobKind.TEXT:
                self._busy[ticket.guild] += 1
            ticket.granted.set_result(None)
        self._version += 1
        if self._listeners:
            self._publish_soon()

    def _next(self) -> Ticket | None:
        if self._text:
            return next(iter(self._text))
        skipped: list[tuple[int, int, str]] = []
        try:
            while self._rounds:
                entry = heapq.heappop(self._rounds)
                guild = entry[2]
                line = self._pictures[guild]
                if not line:
                    self._listed.discard(guild)
                elif self._busy[guild] >= self._per_guild:
                    skipped.append(entry)  # at most `total` guilds are busy
                else:
                    self._listed.discard(guild)
                    self._serial += 1
                    self._served[guild] = self._serial  # to the back of the round
                    ticket = next(iter(line))
                    if len(line) > 1:
                        self._list(guild)
                    return ticket
        finally:
            for entry in skipped:
                heapq.heappush(self._rounds, entry)
        return self._next_backlog()

    def _next_backlog(self) -> Ticket | None:
        skipped: list[tuple[int, str]] = []
        try:
            while self._backlog_heads:
                head = heapq.heappop(self._backlog_heads)
                order, guild = head
                line = self._backlogs[guild]
                first = next(iter(line), None)
                if first is None or first.order != order:
                    continue  # stale: that ticket left
                if self._busy[guild] >= self._per_guild:
                    skipped.append(head)
                    continue
                return first  # leaving the line lists the next one (_remove_waiting)
        finally:
            for head in skipped:
                heapq.heappush(self._backlog_heads, head)
        return None

    # Positions, published for every waiter at once

    def _publish_soon(self) -> None:
        if self._publisher is None:
            self._publisher = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        try:
            if self._clock is not None and self._interval > 0:
                await self._clock.sleep(self._published_at + self._interval - self._clock.now())
                self._published_at = self._clock.now()
            else:
                await asyncio.sleep(0)  # one walk for a burst of changes
        finally:
            self._publisher = None
        self._snapshot()
        for ticket, (nudge, reported) in list(self._nudges.items()):
            ahead = self._positions.get(ticket)
            if ahead is not None and worth_telling(reported, ahead) and not nudge.done():
                nudge.set_result(None)

    def _snapshot(self) -> None:
        self._positions = {t: n for n, t in enumerate(self._service_order())}
        self._positions_version = self._version


NEAR = 10  # positions this close to the GPU are told at every change


def worth_telling(told: int | None, ahead: int) -> bool:
    """Whether a waiter's new position is news: every change near the front, a tenth of
    the way further back (hundreds of waiting pictures would otherwise each be reported,
    stored and shown again whenever the queue moves by one)."""
    if told is None:
        return True
    if ahead <= NEAR or told <= NEAR:
        return ahead != told
    return abs(ahead - told) * 10 >= told


def _settle(nudge: asyncio.Future[None]) -> Callable[[asyncio.Future[None]], None]:
    """A done-callback that wakes `nudge` (once) when a ticket's grant settles."""

    def settle(_: asyncio.Future[None]) -> None:
        if not nudge.done():
            nudge.set_result(None)

    return settle
