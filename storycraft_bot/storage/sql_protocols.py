"""What the shared queries need of a backend: rows read by column name, the statements
of one write transaction, and the trips of `SqlBackend` (SQLite and PostgreSQL each
provide them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Row(Protocol):
    """A result row read by column name (sqlite3.Row and psycopg's dict rows both are)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class Tx(Protocol):
    """The statements of one open write transaction."""

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; the number of rows changed."""
        ...

    async def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert(self, sql: str, params: Sequence[Any]) -> int:
        """Execute an INSERT into a table with an `id` column; the new id."""
        ...

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class SqlBackend:
    """The trips to the database every group of shared queries is written over; each
    backend's store provides them."""

    def _tx(self) -> AbstractAsyncContextManager[Tx]:
        """One write transaction (its statements run in order, then commit or roll back)."""
        raise NotImplementedError

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement, atomic on its own (no transaction around it, so one trip
        to the database where BEGIN and COMMIT took three); the rows changed."""
        raise NotImplementedError

    async def _run_returning(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Like `_run`, for a statement ending in RETURNING: its first row, in the same
        trip (a part written or decided needs no second trip to read it back)."""
        raise NotImplementedError

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        raise NotImplementedError

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError
