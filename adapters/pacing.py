"""Pacing message edits: the newest state, at most once per interval per message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from storycraft_bot.core.clock import Clock


def _never_held() -> float:
    return 0.0


class EditPacer:
    """Coalesces the edits of one message.

    No two edits of the message are closer than `interval`, urgent or not: an urgent
    request (choices shown, a decision, a picture) edits at once when the interval has
    passed and otherwise joins the pending edit, which then goes out as soon as it may,
    so it waits at most one interval. However many requests arrive meanwhile, one edit
    with the newest state goes out. `held_until` is the channel's rate-limit hold (a time
    on the clock): no edit goes out before it. Edits never overlap; `flush` must not
    raise (the screen's error path wraps it). Time comes from the injected clock, so
    tests move it by hand.
    """

    def __init__(
        self,
        interval: float,
        flush: Callable[[], Awaitable[None]],
        clock: Clock,
        held_until: Callable[[], float] = _never_held,
    ) -> None:
        self._interval = interval
        self._flush = flush
        self._clock = clock
        self._held_until = held_until
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # every edit task alive, pending or under way
        self._last: float | None = None

    @property
    def pending(self) -> bool:
        """An edit is scheduled and has not run yet."""
        return self._pending is not None and not self._pending.done()

    def due(self) -> float:
        """The earliest time the next edit may go out."""
        due = self._held_until()
        if self._last is not None:
            due = max(due, self._last + self._interval)
        return due

    async def request(self, *, urgent: bool) -> None:
        """Edit with the newest state: now if urgent and allowed, else when due."""
        if urgent and self.due() <= self._clock.now() and not self._lock.locked():
            self.cancel()  # a pending edit would only repeat this one
            await self._run()
            return
        if self.pending:
            return  # the pending edit has not read the state yet: it carries this change
        self._pending = self._spawn()

    def retry_later(self) -> None:
        """The last edit was refused for now (a rate limit): send the newest state when
        the hold ends."""
        if not self.pending:
            self._pending = self._spawn()

    def cancel(self) -> None:
        """Drop the pending edit."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def stop(self) -> list[asyncio.Task[None]]:
        """Drop the pending edit and return the edit tasks still alive, for a closing screen
        to await: an edit under way finishes (its message sent, its references committed)
        rather than being cut between the two."""
        self.cancel()
        return list(self._tasks)

    def _spawn(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _later(self) -> None:
        await asyncio.sleep(0)  # let the requests of this moment join in
        # Until the due time, looked up again after each sleep: a rate-limit hold that
        # began meanwhile moves it on.
        while (wait := self.due() - self._clock.now()) > 0:
            await self._clock.sleep(wait)
        self._pending = None
        await self._run()

    async def _run(self) -> None:
        async with self._lock:
            self._last = self._clock.now()  # the edit's time is when it leaves
            await self._flush()
