"""Who runs what in the background: per-channel locks, per-session work, vote timers.

Writing a segment and preparing its picture run as tasks of their session; a vote window
runs as a timer task of its segment. Stopping, retrying or undoing a story cancels them
all through `halt`, and shutting down cancels everything (the database keeps the state).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine, Iterable
from typing import Any

from storycraft_bot.core.models import ChannelKey


class ChannelLocks:
    """One lock per channel, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[ChannelKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __call__(self, key: ChannelKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


class Supervisor:
    """The background tasks of every session and the vote timers of their segments."""

    def __init__(self) -> None:
        self._work: dict[int, set[asyncio.Task[None]]] = {}  # per session: writing, pictures
        self._timers: dict[int, asyncio.Task[None]] = {}  # per segment
        self._lasting: set[asyncio.Task[None]] = set()  # work that a retry or undo keeps
        self._loops: set[asyncio.Task[None]] = set()  # the process's own, until shutdown

    def spawn(
        self, session_id: int, work: Coroutine[Any, Any, None], *, lasting: bool = False
    ) -> None:
        """Run `work` as one of the session's background tasks. A `lasting` one (the
        picture backlog after a restart) outlives a retry or undo; see `halt`."""
        task = asyncio.create_task(work, name=f"story-{session_id}")
        tasks = self._work.setdefault(session_id, set())
        tasks.add(task)
        if lasting:
            self._lasting.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            tasks.discard(done)
            self._lasting.discard(done)
            if not tasks:
                self._work.pop(session_id, None)

        task.add_done_callback(forget)

    def keep(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` (a loop of the process, not of a story) until shutdown; `wait_idle`
        does not wait for it."""
        task = asyncio.create_task(work, name=name)
        self._loops.add(task)
        task.add_done_callback(self._loops.discard)

    def has_timer(self, segment_id: int) -> bool:
        return segment_id in self._timers

    def start_timer(self, segment_id: int, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as the segment's vote timer."""
        self._timers[segment_id] = asyncio.create_task(work, name=f"vote-{segment_id}")

    def forget_timer(self, segment_id: int) -> None:
        """The timer is ending on its own: stop tracking it."""
        self._timers.pop(segment_id, None)

    def cancel_timer(self, segment_id: int) -> None:
        """Cancel the segment's timer, unless it is the task asking."""
        timer = self._timers.pop(segment_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def halt(
        self, session_id: int, segment_ids: Iterable[int], *, keep_lasting: bool = False
    ) -> None:
        """Cancel the session's work and its segments' timers (not the task asking), and
        wait until they are gone. `keep_lasting`: its lasting work goes on."""
        current = asyncio.current_task()
        tasks = [
            t
            for t in self._work.get(session_id, set())
            if t is not current and not (keep_lasting and t in self._lasting)
        ]
        for segment_id in segment_ids:
            timer = self._timers.pop(segment_id, None)
            if timer is not None and timer is not current:
                tasks.append(timer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until no session has background work left (timers may stay)."""
        while True:
            pending = [t for tasks in self._work.values() for t in tasks if not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel every task and timer."""
        tasks = [t for tasks in self._work.values() for t in tasks]
        tasks += list(self._timers.values()) + list(self._loops)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._work.clear()
        self._timers.clear()
