"""The narrator's waiting line: at most `capacity()` text requests run at once; the rest
wait here, in the bot, fair across guilds (round-robin) and story text first.

Waiting here is not failing: the narrator's timeouts start only once a request has its
slot, so a busy narrator delays a part but never fails it. Each change costs O(1) (a
cancelled waiter: O(its guild's waiters)); only the position told to a player when it
starts waiting walks the guilds.

Prewriting (TextKind.PREWRITE) never delays anything else: it is granted only a slot no
other request waits for, and when any other request has to wait, a running prewrite is
cancelled to free its slot (unless a player joined it: `Slot.promote()`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.models import Place
from storycraft_bot.core.ports import OnQueued, TextKind


class _Ring:
    """One kind's waiters: a queue per guild, guilds served in turn."""

    def __init__(self) -> None:
        self.guilds: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()
        self.size = 0

    def push(self, guild: str, waiter: asyncio.Future[None]) -> None:
        self.guilds.setdefault(guild, deque()).append(waiter)
        self.size += 1

    def pop(self) -> asyncio.Future[None]:
        guild, waiters = next(iter(self.guilds.items()))
        waiter = waiters.popleft()
        self.size -= 1
        if waiters:
            self.guilds.move_to_end(guild)  # its next request waits for the others' turns
        else:
            del self.guilds[guild]
        return waiter

    def remove(self, guild: str, waiter: asyncio.Future[None]) -> None:
        waiters = self.guilds.get(guild)
        if waiters is None or waiter not in waiters:
            return
        waiters.remove(waiter)
        self.size -= 1
        if not waiters:
            del self.guilds[guild]

    def ahead_of_new(self, guild: str) -> int:
        """Roughly how many of this kind go before a request of `guild` queued now."""
        own = len(self.guilds.get(guild, ()))
        return own + sum(min(len(w), own + 1) for g, w in self.guilds.items() if g != guild)


class Slot:
    """One granted turn; a prewrite's turn can be taken back until it is promoted."""

    def __init__(self, task: asyncio.Task[object] | None, preemptible: bool) -> None:
        self.task = task
        self.preemptible = preemptible and task is not None
        self.taken_back = False

    def promote(self) -> None:
        self.preemptible = False


@dataclass(slots=True)
class WaitFigures:
    """How much waiting the narrator's capacity caused (for logs and the benchmark)."""

    waited: int = 0
    total_seconds: float = 0.0
    longest_seconds: float = 0.0
    preempted: int = 0  # prewrites cancelled to free a slot


class NarratorLoad(Protocol):
    """What a narrator gate tells the operator's view (requests running, waiting, waits)."""

    @property
    def running(self) -> int: ...

    @property
    def waiting(self) -> int: ...

    @property
    def figures(self) -> WaitFigures: ...


class FairNarratorQueue:
    """The NarratorGate: `capacity` is asked again on every change (servers come and go)."""

    def __init__(self, capacity: Callable[[], int], clock: Clock) -> None:
        self._capacity = capacity
        self._clock = clock
        self._running = 0
        self._rings = {kind: _Ring() for kind in TextKind}
        self._slots: set[Slot] = set()
        self.figures = WaitFigures()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return sum(ring.size for ring in self._rings.values())

    @asynccontextmanager
    async def turn(
        self, place: Place, kind: TextKind, on_queued: OnQueued | None = None
    ) -> AsyncIterator[object]:
        if self._running < self._capacity() and not self.waiting:
            self._running += 1
        else:
            await self._wait(place.guild_id, kind, on_queued)
        slot = Slot(asyncio.current_task(), kind is TextKind.PREWRITE)
        self._slots.add(slot)
        try:
            yield slot
        finally:
            self._slots.discard(slot)
            self._running -= 1
            self._grant()

    async def _wait(self, guild: str, kind: TextKind, on_queued: OnQueued | None) -> None:
        ring = self._rings[kind]
        ahead = sum(r.size for k, r in self._rings.items() if k < kind) + ring.ahead_of_new(guild)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ring.push(guild, waiter)
        started = self._clock.now()
        self._grant()  # the capacity may have grown since the last change
        if kind is not TextKind.PREWRITE and not waiter.done():
            self._preempt()
        try:
            if on_queued is not None and not waiter.done():
                await on_queued(ahead)
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._running -= 1  # granted, but its task was cancelled before it ran
                self._grant()
            else:
                waiter.cancel()
                ring.remove(guild, waiter)
            raise
        waited = self._clock.now() - started
        self.figures.waited += 1
        self.figures.total_seconds += waited
        self.figures.longest_seconds = max(self.figures.longest_seconds, waited)

    def _preempt(self) -> None:
        """Take a running prewrite's slot back for a request that has to wait: its task is
        cancelled, and its slot goes to the waiters when its turn unwinds."""
        victim = next((slot for slot in self._slots if slot.preemptible), None)
        if victim is None or victim.task is None:
            return
        victim.preemptible = False
        victim.taken_back = True
        self.figures.preempted += 1
        victim.task.cancel("preempted by a real turn")

    def _grant(self) -> None:
        while self._running < self._capacity():
            ring = next((r for r in self._rings.values() if r.size), None)
            if ring is None:
                return
            waiter = ring.pop()
            if waiter.done():
                continue  # cancelled meanwhile; its task removes nothing more
            self._running += 1
            waiter.set_result(None)
