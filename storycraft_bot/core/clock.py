"""Time as a port, so vote windows and throttles can be tested without sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds and a way to wait."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (tests advance a fake clock instead)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class Throttle:
    """Lets an action through at most once per `interval` seconds."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._last: float | None = None

    def ready(self) -> bool:
        """True (and the window restarts) when enough time has passed since the last pass."""
        now = self._clock.now()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True
