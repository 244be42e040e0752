"""What the shared queries need of a backend: rows read by column name and the
statements of one write transaction (SQLite and PostgreSQL each provide them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
