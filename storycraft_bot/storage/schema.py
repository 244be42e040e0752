"""The numbered migrations both backends apply, found where they are shipped.

SQLite's files lie in `migrations/`; PostgreSQL's, where its types differ (BIGINT ids,
DOUBLE PRECISION times, no `json_each`), in `migrations/postgres/` under the same numbers,
so one number means one schema on either backend.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from storycraft_bot.core.errors import SchemaTooNewError, StorageError

_MIGRATION_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


def shipped_migrations() -> Path:
    """The `migrations` package's folder, the same from a checkout and any install."""
    folder = resources.files("migrations")
    if not isinstance(folder, Path):  # only a zip import gives another kind; we ship none
        raise StorageError(f"the migrations are not in a folder ({folder})")
    return folder


def shipped_postgres_migrations() -> Path:
    """PostgreSQL's own files, numbered like SQLite's."""
    return shipped_migrations() / "postgres"


def discover_migrations(folder: Path) -> list[tuple[int, Path]]:
    """Numbered SQL files in order; numbers must run 1, 2, 3... without gaps."""
    found = sorted(
        (int(m.group(1)), path)
        for path in folder.glob("*.sql")
        if (m := _MIGRATION_NAME.match(path.name))
    )
    for expected, (number, path) in enumerate(found, start=1):
        if number != expected:
            raise StorageError(f"migration {path.name} is out of sequence (expected {expected})")
    return found


def pending_migrations(
    folder: Path, current: int, database: str, setting: str
) -> list[tuple[int, Path]]:
    """The files still to apply; SchemaTooNewError if the database is ahead of the code."""
    migrations = discover_migrations(folder)
    latest = migrations[-1][0] if migrations else 0
    if current > latest:
        raise SchemaTooNewError(
            f"database {database} has schema version {current}, but this StoryCraft "
            f"knows only up to {latest}: upgrade StoryCraft or use another {setting}"
        )
    return [(n, p) for n, p in migrations if n > current]
