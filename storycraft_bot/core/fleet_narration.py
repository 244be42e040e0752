"""The narrator's line in a fleet: every waiting narrator request stands in the fleet's
line in the database, which alone decides whose request gets the next of the fleet's
narrator slots (the Ollama servers are shared; a request queued inside Ollama would
spend its timeouts).

The order is FairNarratorQueue's, for the whole fleet: story text, then memories, then
image prompts, then prewrites; within a kind the guilds in turn. One task per process
asks the line for its requests' turns (every quarter second while any waits, and at once
when one joins or ends): it is granted them while they come first and the fleet is under
its capacity (`capacity()`, asked each time; prewrites may use all but one slot, since a
prewrite running in another process cannot be taken back for a player's turn here). A
request that has to wait takes back a prewrite running in this process, as the local
queue does, and a prewrite running here is taken back when live text waits at any process
while the fleet's slots are all busy. "N ahead" counts the fleet's line.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.fleet_slots import SLOT_POLL_SECONDS, FleetSlots, LineTurns, SlotKeeper
from storycraft_bot.core.line_upkeep import LineUpkeep
from storycraft_bot.core.models import Place
from storycraft_bot.core.narrator_queue import Slot, WaitFigures
from storycraft_bot.core.ports import OnQueued, TextKind

log = logging.getLogger(__name__)


class FleetNarratorLine(FleetSlots, Protocol):
    """The fleet's narrator line, shared by every process (a table in PostgreSQL)."""

    async def enter_narrator_line(
        self, job_id: str, guild: str, kind: TextKind, now: float
    ) -> None: ...

    async def take_narrator_turns(self, total: int, prewrites: int, now: float) -> LineTurns:
        """This process's requests whose turn came (their slots taken), and those waiting."""
        ...

    async def narrator_positions(self, now: float) -> dict[str, int]:
        """How many of the fleet's requests come before each of this process's."""
        ...

    async def live_text_held_back(self, total: int, now: float) -> bool:
        """Whether a request other than a prewrite waits in any process while the fleet's
        `total` slots are all busy."""
        ...

    async def renew_narrator_line(self, job_ids: list[str], now: float) -> None: ...

    async def leave_narrator_line(self, job_id: str) -> None: ...


@dataclass(eq=False)
class _Waiter:
    guild: str
    kind: TextKind
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    told: asyncio.Future[None] = field(  # settles once `ahead` is known
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    ahead: int = 0  # the fleet's requests ahead of it when it began to wait
    logged: bool = False  # its waiting is in the log


class FleetNarratorGate:
    """A NarratorGate whose every turn the fleet's narrator line grants."""

    def __init__(self, line: FleetNarratorLine, clock: Clock, capacity: Callable[[], int]) -> None:
        self._line = line
        self._clock = clock
        self._capacity = capacity
        self._keeper = SlotKeeper(line, clock)
        self._in_line: dict[str, _Waiter] = {}
        self._slots: set[Slot] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._upkeep = LineUpkeep(
            clock,
            line.lease_seconds,
            waiting=self._in_line.keys,
            ask=self._ask,
            renew=line.renew_narrator_line,
            leave=line.leave_narrator_line,
            name="fleet's narrator line",
        )
        self.figures = WaitFigures()

    @property
    def running(self) -> int:
        return len(self._slots)

    @property
    def waiting(self) -> int:
        return len(self._in_line)

    @asynccontextmanager
    async def turn(
        self, place: Place, kind: TextKind, on_queued: OnQueued | None = None
    ) -> AsyncIterator[object]:
        job_id = f"text-{uuid.uuid4()}"
        await self._wait(job_id, place.guild_id, kind, on_queued)
        slot = Slot(asyncio.current_task(), kind is TextKind.PREWRITE)
        self._slots.add(slot)
        if slot.preemptible and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.create_task(self._watch(), name="fleet-narrator-prewrites")
        try:
            yield slot
        finally:
            self._slots.discard(slot)
            self._keeper.give_back(job_id)
            self._upkeep.ask_soon()

    async def _wait(
        self, job_id: str, guild: str, kind: TextKind, on_queued: OnQueued | None
    ) -> None:
        waiter = _Waiter(guild, kind)
        started = self._clock.now()
        try:
            await self._line.enter_narrator_line(job_id, guild, kind, started)
            self._in_line[job_id] = waiter
            self._upkeep.ask_soon()
            await asyncio.wait({waiter.granted, waiter.told}, return_when=asyncio.FIRST_COMPLETED)
            waited = not waiter.granted.done()
            if waited:
                if kind is not TextKind.PREWRITE:
                    self._preempt()
                if on_queued is not None:
                    await on_queued(waiter.ahead)
            await waiter.granted
        except BaseException:
            self._in_line.pop(job_id, None)
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._keeper.give_back(job_id)  # granted, but its task was cancelled
                self._upkeep.ask_soon()
            else:
                waiter.granted.cancel()
                self._upkeep.leave(job_id)  # its row may have gone in
            raise
        if waited:
            seconds = self._clock.now() - started
            self.figures.waited += 1
            self.figures.total_seconds += seconds
            self.figures.longest_seconds = max(self.figures.longest_seconds, seconds)

    def _preempt(self) -> None:
        """Take a running prewrite of this process back for a request that has to wait."""
        victim = next((slot for slot in self._slots if slot.preemptible), None)
        if victim is None or victim.task is None:
            return
        victim.preemptible = False
        victim.taken_back = True
        self.figures.preempted += 1
        victim.task.cancel("preempted by a real turn")

    async def _watch(self) -> None:
        """While a prewrite of ours runs: take it back when live text waits anywhere in
        the fleet for a slot (with OLLAMA_PARALLEL=1 its one slot is the prewrite's)."""
        while any(slot.preemptible for slot in self._slots):
            await self._clock.sleep(SLOT_POLL_SECONDS)
            try:
                total = max(1, self._capacity())
                if await self._line.live_text_held_back(total, self._clock.now()):
                    self._preempt()
            except Exception as err:  # asked again; the prewrite only runs on meanwhile
                log.warning("the fleet's narrator line could not be asked: %s", err)

    # Asking the fleet

    async def _ask(self) -> None:
        """One look at the line: this process's turns, and positions for the untold."""
        await self._keeper.returned()  # slots given back count as free
        total = max(1, self._capacity())
        try:
            now = self._clock.now()
            turns = await self._line.take_narrator_turns(total, max(1, total - 1), now)
            self._settle(turns)
            if any(not w.told.done() for w in self._in_line.values()):
                self._tell(await self._line.narrator_positions(self._clock.now()))
        except Exception as err:  # asked again; nothing was granted
            log.warning("the fleet's narrator line could not be asked: %s", err)

    def _settle(self, turns: LineTurns) -> None:
        for job_id in turns.granted:
            self._keeper.adopt(job_id)
            waiter = self._in_line.pop(job_id, None)
            if waiter is None or waiter.granted.done():  # it left meanwhile
                self._keeper.give_back(job_id)
                continue
            waiter.granted.set_result(None)
        for job_id, waiter in list(self._in_line.items()):
            if job_id in turns.waiting and not waiter.logged:
                waiter.logged = True
                log.info(
                    "narrator %s %s waits: the fleet is at its caps or its line is ahead",
                    waiter.kind.name.lower(),
                    job_id,
                )
            elif job_id not in turns.waiting and not waiter.granted.done():
                # Its row ran out (this process was cut off from the database): it
                # stands in line again, at the back.
                log.warning("narrator request %s lost its place in line", job_id)
                self._upkeep.run(self._reenter(job_id, waiter))

    def _tell(self, positions: dict[str, int]) -> None:
        for job_id, waiter in self._in_line.items():
            ahead = positions.get(job_id)
            if ahead is not None and not waiter.told.done():
                waiter.ahead = ahead
                waiter.told.set_result(None)

    async def _reenter(self, job_id: str, waiter: _Waiter) -> None:
        try:
            now = self._clock.now()
            await self._line.enter_narrator_line(job_id, waiter.guild, waiter.kind, now)
        except Exception as err:  # tried again at the next answer
            log.warning("%s could not stand in the fleet's narrator line: %s", job_id, err)
