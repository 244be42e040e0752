"""A process's upkeep of its rows in one of the fleet's lines (the pictures' line,
pictures/fleet_queue.py; the narrator's, core/fleet_narration.py): while any row of
ours waits, one task asks the line for turns (every SLOT_POLL_SECONDS, at once when
nudged) and one renews the rows (every third of a lease); rows leave in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine

from storycraft_bot.core.clock import Clock
from storycraft_bot.core.fleet_slots import SLOT_POLL_SECONDS

log = logging.getLogger(__name__)


class LineUpkeep:
    """Asks, renews and leaves for one process's rows in one line."""

    def __init__(
        self,
        clock: Clock,
        lease_seconds: float,
        *,
        waiting: Callable[[], Collection[str]],
        ask: Callable[[], Awaitable[None]],
        renew: Callable[[list[str], float], Awaitable[None]],
        leave: Callable[[str], Awaitable[None]],
        name: str,
    ) -> None:
        self._clock = clock
        self._lease = lease_seconds
        self._waiting = waiting  # this process's job ids with a row in the line
        self._ask = ask  # one look at the line; handles its own failures
        self._renew = renew
        self._leave = leave
        self._name = name
        self._kick: asyncio.Future[None] | None = None  # cuts the asker's nap short
        self._asker: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def ask_soon(self) -> None:
        """A job of ours joined or ended: ask at once (the other processes ask for theirs)."""
        if not self._waiting():
            return
        if self._asker is None or self._asker.done():
            self._asker = asyncio.create_task(self._asking(), name=self._name)
        elif self._kick is not None and not self._kick.done():
            self._kick.set_result(None)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renewing(), name=f"{self._name}-renew")

    def leave(self, job_id: str) -> None:
        """Take the job's row out of the line, in the background (else it runs out)."""
        self.run(self._left(job_id))

    def run(self, work: Coroutine[object, object, None]) -> None:
        """Work in the background, kept referenced until it ends."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _asking(self) -> None:
        while self._waiting():
            self._kick = asyncio.get_running_loop().create_future()
            await self._ask()
            if self._waiting():
                nap = asyncio.ensure_future(self._clock.sleep(SLOT_POLL_SECONDS))
                try:
                    await asyncio.wait({nap, self._kick}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    nap.cancel()

    async def _left(self, job_id: str) -> None:
        try:
            await self._leave(job_id)
        except Exception as err:  # its row runs out by itself
            log.warning("%s could not leave the %s: %s", job_id, self._name, err)

    async def _renewing(self) -> None:
        while self._waiting():
            await self._clock.sleep(self._lease / 3)
            try:
                await self._renew(sorted(self._waiting()), self._clock.now())
            except asyncio.CancelledError:
                raise
            except Exception as err:  # tried again; a row lost only lets others first
                log.warning("the %s could not be renewed: %s", self._name, err)
