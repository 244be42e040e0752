"""SQLite storage (aiosqlite): sessions, segments, votes, story memory.

One long-lived connection in autocommit mode. A lone write commits on its own, a longer
write runs in a short transaction under one lock, so a change is committed before the
engine shows it; reads, lone writes and decisions asked for in one step of the loop
travel to aiosqlite's thread together (storage.sqlite_link). The queries themselves are
shared with PostgreSQL (storage.sql_store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import aiosqlite

from storycraft_bot.core.errors import StorageError
from storycraft_bot.core.models import DecidedBy, Segment
from storycraft_bot.storage.schema import (
    discover_migrations,
    pending_migrations,
    shipped_migrations,
)
from storycraft_bot.storage.source_queries import SourceQueries
from storycraft_bot.storage.sql_protocols import Row
from storycraft_bot.storage.sql_store import CLOSE_PART, INSERT_SEGMENT, _segment
from storycraft_bot.storage.sqlite_link import Link, Trips, Work, changed, link, queued, rows

__all__ = ["Store", "discover_migrations", "shipped_migrations"]

log = logging.getLogger(__name__)
_NEEDED = (3, 35, 0)  # RETURNING
T = TypeVar("T")


class _SqliteTx:
    """Statements inside the one write transaction of the connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._db.execute(sql, tuple(params))
        return cur.rowcount

    async def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)

    async def insert(self, sql: str, params: Sequence[Any]) -> int:
        cur = await self._db.execute(sql, tuple(params))
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await _first(self._db, sql, params)


class Store(SourceQueries):
    """All reads and writes of StoryCraft's database, in one SQLite file."""

    _MERGE_UPLOAD = (
        "UPDATE segments SET image_uploads = json_set(image_uploads, '$.' || ?, ?) WHERE id = ?"
    )
    _UNIQUE_VIOLATION = sqlite3.IntegrityError

    def __init__(self, path: Path, migrations: Path | None = None) -> None:
        self._path = path
        self._migrations = migrations or shipped_migrations()
        self._db: Link | None = None
        self._trips: Trips | None = None
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the file, turn on WAL and foreign keys, apply pending migrations."""
        if sqlite3.sqlite_version_info < _NEEDED:
            raise StorageError(
                f"SQLite {'.'.join(map(str, _NEEDED))} or newer is needed (RETURNING);"
                f" this Python has {sqlite3.sqlite_version}: use a newer Python build,"
                " or PostgreSQL (DATABASE_URL)"
            )
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(
                f"cannot create the folder of database {self._path}: {err.strerror or err}"
            ) from err
        try:
            db = link(self._path)
            await db  # starts its thread, connects
        except sqlite3.Error as err:
            raise StorageError(f"cannot open database {self._path}: {err}") from err
        db.row_factory = aiosqlite.Row
        self._db, self._trips = db, Trips(db, self._write_lock)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # WAL's recommended level: a commit is no longer synced to disk (a checkpoint
            # is), so a killed process loses nothing and only a power cut can lose the last
            # commits; every commit waiting on fsync made the database the queue every
            # story waited in (bench/load_run.py at 500 busy channels: p50 0.83 -> 0.34 s).
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
        except sqlite3.Error as err:
            # A corrupt or foreign file, or one we may not write: one line, not a traceback.
            await self.close()
            raise StorageError(f"cannot use database {self._path}: {err}") from err
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._db is not None:
            db, self._db, self._trips = self._db, None, None
            await db.close()

    @property
    def db(self) -> Link:
        if self._db is None:
            raise StorageError("the database is not open")
        return self._db

    async def schema_version(self) -> int:
        """The applied migration number (`PRAGMA user_version`)."""
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        current = await self.schema_version()
        pending = pending_migrations(self._migrations, current, str(self._path), "DATABASE_PATH")
        if not pending:
            return
        # One transaction for all pending files: a failure leaves the old schema intact.
        parts = ["BEGIN IMMEDIATE;"]
        for number, path in pending:
            parts.append(path.read_text(encoding="utf-8"))
            parts.append(f";\nPRAGMA user_version = {number};")
        parts.append("COMMIT;")
        try:
            await self.db.executescript("\n".join(parts))
        except sqlite3.Error as err:
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise StorageError(
                f"migration failed, database left at version {current}: {err}"
            ) from err
        log.info("database %s migrated from version %d to %d", self._path, current, pending[-1][0])

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[_SqliteTx]:
        """One write transaction. A cancelled caller never leaves it half open: the
        statements run in aiosqlite's thread regardless, so BEGIN and ROLLBACK are awaited
        to the end, COMMIT is queued before the lock is let go (see `sqlite_link.queued`)
        and awaited after, and the cancellation is raised afterwards."""
        async with self._write_lock:
            db = self.db
            if await _finish(db.execute("BEGIN IMMEDIATE")):
                await _finish(db.execute("ROLLBACK"))
                raise asyncio.CancelledError
            try:
                yield _SqliteTx(db)
            except BaseException:
                await _finish(db.execute("ROLLBACK"))
                raise
            (commit,) = await queued(db.execute("COMMIT"))
        if await _finish(commit):
            raise asyncio.CancelledError

    async def decide(
        self, segment: Segment, choice_index: int, decided_by: DecidedBy, now: float
    ) -> Segment | None:
        """SqlStore.decide as one function in aiosqlite's thread: one trip, and the write
        lock held only to send it. Every press decides; at 500 busy channels decisions
        that held the lock for a trip each queued behind one another (bench/load_run.py).
        The function runs whole, even for a caller cancelled meanwhile."""
        closing = (choice_index, decided_by.value, now, segment.id)
        opening = (segment.session_id, segment.index + 1, segment.choices[choice_index], now, now)

        def decide(conn: sqlite3.Connection) -> Row | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(CLOSE_PART, closing).rowcount != 1:
                    conn.execute("ROLLBACK")
                    return None  # somebody decided first
                row: Row | None = conn.execute(INSERT_SEGMENT, opening).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself
                    conn.execute("ROLLBACK")
                raise
            return row

        # Awaited to its end even by a caller cancelled meanwhile, then the cancellation.
        row = await _finished(asyncio.ensure_future(self._trip(decide)))
        return _segment(row) if row else None

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._trip(partial(changed, sql, tuple(params)))

    async def _run_returning(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return next(iter(await self._trip(partial(rows, sql, tuple(params)))), None)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return next(iter(await self._all(sql, params)), None)

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._trip(partial(rows, sql, tuple(params)))

    async def _trip(self, work: Work[T]) -> T:
        # Reads and lone writes travel with whatever else this step of the loop asked
        # for (sqlite_link.Trips); a statement whose caller is cancelled still lands.
        if self._trips is None:
            raise StorageError("the database is not open")
        return await self._trips.run(work)


async def _first(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Row | None:
    """The first row in one hand-off to aiosqlite's thread (our reads by id or key match
    at most one row, or take the first of an ORDER BY ... LIMIT)."""
    rows = await db.execute_fetchall(sql, tuple(params))
    return next(iter(rows), None)


async def _finished(sent: asyncio.Future[T]) -> T:
    """`sent`'s result, awaited to its end even if cancelled (then raised after it)."""
    if await _finish(sent):
        raise asyncio.CancelledError
    return sent.result()


async def _finish(statement: Awaitable[Any]) -> bool:
    """Await `statement` to its end even if cancelled; True if a cancel came meanwhile."""
    task = asyncio.ensure_future(statement)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    return cancelled
