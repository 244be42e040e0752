"""The way to SQLite's thread: aiosqlite's connection, plus a whole function run in its
thread (a short transaction in one trip) and reads that travel together.

Every trip to aiosqlite's thread costs a queue hand-off, a wake-up of the event loop and
the thread's turns at the GIL while the loop is busy. At 500 busy channels those trips,
not the queries, were what turns waited for (bench/load_run.py), so reads sent in one
step of the loop share a trip.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from storycraft_bot.storage.sql_protocols import Row

T = TypeVar("T")
_Query = tuple[str, tuple[Any, ...]]


class Link(aiosqlite.Connection):
    """aiosqlite's connection with what it keeps private: a function run in its thread on
    the sqlite3 connection. Open it with `await link(path)`."""

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        run: Callable[..., Awaitable[Any]] = self._execute  # untyped in aiosqlite
        return cast(T, await run(fn, self._conn))


def link(path: Path) -> Link:
    """A connection to `path` in autocommit mode (every transaction is one we BEGIN)."""
    return Link(partial(sqlite3.connect, path, isolation_level=None), iter_chunk_size=64)


class Reads:
    """Reads asked for in one step of the event loop, sent to the thread as one trip at
    the next step, each answered on its own (an error answers only the read it is for).

    Only reads travel this way: a read runs after whatever the thread had been sent
    before it, as it would alone, and no caller waits on another's order."""

    def __init__(self, db: Link) -> None:
        self._db = db
        self._waiting: list[tuple[_Query, asyncio.Future[list[Row]]]] = []
        self._trips: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references

    async def all(self, sql: str, params: Sequence[Any]) -> list[Row]:
        answer: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        self._waiting.append(((sql, tuple(params)), answer))
        if len(self._waiting) == 1:  # the first of this step's reads books the trip
            trip = asyncio.ensure_future(self._trip())
            self._trips.add(trip)
            trip.add_done_callback(self._trips.discard)
        return await answer

    async def _trip(self) -> None:
        batch, self._waiting = self._waiting, []
        results: Sequence[list[Row] | BaseException]
        try:
            results = await self._db.call(partial(_each, [query for query, _ in batch]))
        except asyncio.CancelledError:  # shutting down
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as err:
            results = [err] * len(batch)
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)


def _each(queries: list[_Query], conn: sqlite3.Connection) -> list[list[Row] | BaseException]:
    """In the thread: every query's rows, or the error it raised."""
    results: list[list[Row] | BaseException] = []
    for sql, params in queries:
        try:
            results.append(conn.execute(sql, params).fetchall())
        except Exception as err:
            results.append(err)
    return results
