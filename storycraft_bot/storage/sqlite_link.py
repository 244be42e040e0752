"""The way to SQLite's thread: aiosqlite's connection, plus a whole function run in its
thread (a short transaction in one trip) and work that travels together.

Every trip to aiosqlite's thread costs a queue hand-off, a wake-up of the event loop and
the thread's turns at the GIL while the loop is busy. At 500 busy channels those trips,
not the queries, were what turns waited for (bench/load_run.py), so the reads and
writes asked for in one step of the loop share a trip.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from storycraft_bot.storage.sql_protocols import Row

log = logging.getLogger(__name__)
T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]  # run in the thread on the sqlite3 connection


class Link(aiosqlite.Connection):
    """aiosqlite's connection with what it keeps private: a function run in its thread on
    the sqlite3 connection. Open it with `await link(path)`."""

    async def call(self, fn: Work[T]) -> T:
        run: Callable[..., Awaitable[Any]] = self._execute  # untyped in aiosqlite
        return cast(T, await run(fn, self._conn))


def link(path: Path) -> Link:
    """A connection to `path` in autocommit mode (every transaction is one we BEGIN)."""
    return Link(partial(sqlite3.connect, path, isolation_level=None), iter_chunk_size=64)


class Trips:
    """Work asked of SQLite's thread in one step of the event loop, sent as one trip at
    the next step, run there in the order asked and answered each on its own (an error
    answers only the work it came from; a caller that gave up takes nobody with it).

    A trip is sent holding the write lock, so that its writes never land inside a
    transaction somebody holds open across trips (`Store._tx`); the lock is let go once
    the trip is in aiosqlite's queue, which runs in order."""

    def __init__(self, db: Link, write_lock: asyncio.Lock) -> None:
        self._db = db
        self._lock = write_lock
        self._waiting: list[tuple[Work[Any], asyncio.Future[Any]]] = []
        self._trips: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references

    async def run(self, work: Work[T]) -> T:
        """`work` done in the thread, with whatever else was asked for in this step."""
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, answer))
        if len(self._waiting) == 1:  # the first of this step's work books the trip
            trip = asyncio.ensure_future(self._trip())
            self._trips.add(trip)
            trip.add_done_callback(self._trips.discard)
        return await answer

    async def _trip(self) -> None:
        async with self._lock:
            batch, self._waiting = self._waiting, []
            (sent,) = await queued(self._db.call(partial(_each, [w for w, _ in batch])))
        results: Sequence[object]
        try:
            results = await sent
        except asyncio.CancelledError:  # shutting down
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as err:
            results = [_Failed(err)] * len(batch)
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, _Failed):
                answer.set_exception(result.error)
            else:
                answer.set_result(result)


async def queued(*statements: Awaitable[T]) -> list[asyncio.Future[T]]:
    """Send `statements` to aiosqlite's queue now, in order; their results come later.
    The write lock need not be held until then: aiosqlite runs its queue in order, so a
    COMMIT or a lone write sent under the lock is done before the next transaction's
    BEGIN (the lock was held across every round trip, and at 500 busy channels every
    write waited in line for it: bench/load_run.py)."""
    sent: list[asyncio.Future[T]] = [asyncio.ensure_future(s) for s in statements]
    # Their first steps put them in aiosqlite's queue; the loop runs ready steps in order,
    # so they run before this coroutine goes on, even to raise a cancellation.
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        for statement in sent:
            statement.add_done_callback(_retrieve)  # sent all the same; nobody awaits them
        raise
    return sent


def _retrieve(sent: asyncio.Future[Any]) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        log.warning("a write its caller no longer waited for failed: %s", sent.exception())


class _Failed:
    """An error raised by one piece of work, handed back in its place."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _each(batch: list[Work[Any]], conn: sqlite3.Connection) -> list[object]:
    """In the thread: every piece of work's result, or its error."""
    results: list[object] = []
    for work in batch:
        try:
            results.append(work(conn))
        except Exception as err:
            results.append(_Failed(err))
    return results


def rows(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> list[Row]:
    """A statement's rows (a read, or a write ending in RETURNING)."""
    found: list[Row] = conn.execute(sql, params).fetchall()
    return found


def changed(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> int:
    """A write's count of rows changed."""
    return conn.execute(sql, params).rowcount
