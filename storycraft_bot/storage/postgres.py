"""PostgreSQL storage (psycopg 3 async with psycopg_pool): the same queries as SQLite.

Each write borrows a pooled connection for one transaction; reads run in autocommit. The
applied migration number lives in the database (`schema_version`), and migrating holds a
transaction-scoped advisory lock, so processes starting together apply each file once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storycraft_bot.core.errors import StorageError
from storycraft_bot.storage.schema import pending_migrations, shipped_postgres_migrations
from storycraft_bot.storage.source_queries import SourceQueries
from storycraft_bot.storage.sql_protocols import Row
from storycraft_bot.storage.sql_store import TABLES, SqlStore

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[DictRow]
# Any fixed number: the advisory lock that serialises migrations between processes.
_MIGRATION_LOCK = 0x5C0DE017
# Tables whose `id` comes from an identity sequence (moved past copied ids by copy-db).
_IDENTITY_TABLES = ("sessions", "segments")


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@functools.cache
def _dialect(sql: str) -> str:
    """psycopg's `%s` placeholders for the shared statements' `?`."""
    return sql.replace("?", "%s")


class _PgTx:
    """Statements inside one transaction on one pooled connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(_dialect(sql), params)
        return cur.rowcount

    async def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(_dialect(sql), rows)

    async def insert(self, sql: str, params: Sequence[Any]) -> int:
        cur = await self._conn.execute(_dialect(sql + " RETURNING id"), params)
        row = await cur.fetchone()
        assert row is not None
        return int(row["id"])

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = await self._conn.execute(_dialect(sql), params)
        return await cur.fetchone()


class PostgresStore(SourceQueries):
    """All reads and writes of StoryCraft's database, on a PostgreSQL server."""

    _MERGE_UPLOAD = (
        "UPDATE segments SET image_uploads ="
        " (image_uploads::jsonb || jsonb_build_object(?::text, ?::text))::text WHERE id = ?"
    )
    _UNIQUE_VIOLATION = psycopg.errors.UniqueViolation

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        migrations: Path | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._pool_size = pool_size
        self._migrations = migrations or shipped_postgres_migrations()
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Connection] | None = None

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
        """Connect the pool (1 to `pool_size` connections) and apply pending migrations."""
        pool = AsyncConnectionPool(
            self._url,
            connection_class=Connection,
            kwargs={"autocommit": True, "row_factory": dict_row},
            # One connection kept warm; a busy bot grows to pool_size (DATABASE_POOL_SIZE).
            min_size=1,
            max_size=self._pool_size,
            timeout=self._connect_timeout,
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
        except PoolTimeout as err:
            await pool.close()
            raise StorageError(
                f"cannot connect to PostgreSQL at {safe_url(self._url)} (DATABASE_URL)"
            ) from err
        self._pool = pool
        try:
            await self._migrate()
        except psycopg.Error as err:
            await self.close()
            raise StorageError(f"cannot use database {safe_url(self._url)}: {err}") from err
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every pooled connection (safe to call twice)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        if self._pool is None:
            raise StorageError("the database is not open")
        return self._pool

    async def schema_version(self) -> int:
        """The applied migration number (0 on an empty database)."""
        async with self.pool.connection() as conn:
            return await _version(conn)

    async def _migrate(self) -> None:
        async with self.pool.connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    await conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                    )
                    current = await _version(conn)
                    pending = pending_migrations(
                        self._migrations, current, safe_url(self._url), "DATABASE_URL"
                    )
                    for _, path in pending:
                        # No parameters: psycopg sends the file as one multi-statement query.
                        await conn.execute(path.read_text(encoding="utf-8").encode())
                    if pending:
                        await conn.execute("DELETE FROM schema_version")
                        await conn.execute(
                            "INSERT INTO schema_version (version) VALUES (%s)", (pending[-1][0],)
                        )
            except psycopg.Error as err:
                raise StorageError(
                    f"migration failed, database left at version {await _version(conn)}: {err}"
                ) from err
        if pending:
            log.info(
                "database %s migrated from version %d to %d",
                safe_url(self._url),
                current,
                pending[-1][0],
            )

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[_PgTx]:
        async with self.pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)
        _keep_cancellation()

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_dialect(sql), params)
            changed = cur.rowcount
        _keep_cancellation()
        return changed

    async def _run_returning(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self._one(sql, params)  # autocommit: a write reads like a read

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_dialect(sql), params)
            row = await cur.fetchone()
        _keep_cancellation()
        return row

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_dialect(sql), params)
            rows: list[Row] = list(await cur.fetchall())
        _keep_cancellation()
        return rows

    async def fill_from(self, source: SqlStore) -> dict[str, int]:
        """Copy every row of `source` here in one transaction, ids kept, sequences moved
        past them; refused unless this database holds no rows yet. Rows copied per table."""
        copied: dict[str, int] = {}
        async with self._tx() as tx:
            await tx.run("LOCK TABLE sessions, guild_defaults IN EXCLUSIVE MODE")
            if await tx.one("SELECT 1 FROM sessions UNION ALL SELECT 1 FROM guild_defaults"):
                raise StorageError(
                    f"{safe_url(self._url)} already holds stories: copy-db fills only an"
                    " empty database"
                )
            for table in TABLES:
                rows = [row async for row in source.table_rows(table)]
                copied[table] = len(rows)
                if not rows:
                    continue
                columns = list(rows[0])
                await tx.run_many(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    [[row[c] for c in columns] for row in rows],
                )
            for table in _IDENTITY_TABLES:
                await tx.run(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
        return copied


async def _version(conn: Connection) -> int:
    exists = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL AS found")
    found = await exists.fetchone()
    if found is None or not found["found"]:
        return 0
    cur = await conn.execute("SELECT MAX(version) AS version FROM schema_version")
    row = await cur.fetchone()
    return int(row["version"]) if row and row["version"] is not None else 0


def _keep_cancellation() -> None:
    """Raise a cancellation that a driver call absorbed. Seen in the tests: a shutdown that
    cancelled a story task while it was inside a psycopg call was lost, and the task went
    on writing its part; `cancelling()` still counts such a request, so it is honoured here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
