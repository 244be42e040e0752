"""Pacing message edits: the newest state, at most once per interval per message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from storycraft_bot.core.clock import Clock


class EditPacer:
    """Coalesces the edits of one message.

    An urgent request (choices shown, a decision, a picture) edits at once; others wait
    until `interval` has passed since the last edit, and however many arrive meanwhile,
    one edit with the newest state goes out. Edits never overlap. Time comes from the
    injected clock, so tests move it by hand.
    """

    def __init__(self, interval: float, flush: Callable[[], Awaitable[None]], clock: Clock) -> None:
        self._interval = interval
        self._flush = flush
        self._clock = clock
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        self._last: float | None = None

    @property
    def pending(self) -> bool:
        """An edit is scheduled and has not run yet."""
        return self._pending is not None and not self._pending.done()

    async def request(self, *, urgent: bool) -> None:
        if urgent:
            self.cancel()
            await self._run()
            return
        if self.pending:
            return
        delay = 0.0
        if self._last is not None:
            delay = max(0.0, self._last + self._interval - self._clock.now())
        self._pending = asyncio.create_task(self._later(delay))

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    async def _later(self, delay: float) -> None:
        await self._clock.sleep(delay)
        self._pending = None
        await self._run()

    async def _run(self) -> None:
        async with self._lock:
            await self._flush()
            self._last = self._clock.now()
