"""Which database DATABASE_URL names, and the store that opens it.

`sqlite:///relative/path` or `sqlite:////absolute/path` (as SQLAlchemy spells them) and
`postgresql://user:password@host:port/name` (also `postgres://`); without DATABASE_URL the
SQLite file at DATABASE_PATH, as before PostgreSQL came.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from storycraft_bot.storage.postgres import PostgresStore
from storycraft_bot.storage.sqlite import Store

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


class Backend(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgresql"


@dataclass(frozen=True)
class DatabaseTarget:
    """A SQLite file (`path`) or a PostgreSQL server (`url`)."""

    backend: Backend
    path: Path = Path()
    url: str = ""


def database_target(url: str, default_path: Path) -> DatabaseTarget:
    """Parse a DATABASE_URL; an empty one means the SQLite file `default_path`.
    Raises ValueError naming the accepted forms."""
    url = url.strip()
    if not url:
        return DatabaseTarget(Backend.SQLITE, path=default_path)
    if url.startswith(_SQLITE) and len(url) > len(_SQLITE):
        return DatabaseTarget(Backend.SQLITE, path=Path(url.removeprefix(_SQLITE)))
    if url.startswith(_POSTGRES):
        return DatabaseTarget(Backend.POSTGRES, url=url)
    raise ValueError("must be sqlite:///path/to/file or postgresql://user@host/database")


def open_store(target: DatabaseTarget, *, pool_size: int = 10) -> Store | PostgresStore:
    """The store for `target`, not yet opened (use `async with`)."""
    if target.backend is Backend.POSTGRES:
        return PostgresStore(target.url, pool_size=pool_size)
    return Store(target.path)
