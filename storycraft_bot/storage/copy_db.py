"""`bot.py copy-db`: an existing SQLite database copied into an empty PostgreSQL one.

Ids are kept (messages on the platforms point at segment ids through their buttons) and
PostgreSQL's id sequences are moved past them. A target that holds any story is refused,
so running the command twice copies nothing twice.
"""

from __future__ import annotations

from storycraft_bot.core.errors import StorageError
from storycraft_bot.storage.lock import DatabaseLock
from storycraft_bot.storage.postgres import PostgresStore
from storycraft_bot.storage.sqlite import Store
from storycraft_bot.storage.target import Backend, DatabaseTarget


async def copy_database(source: DatabaseTarget, target: DatabaseTarget) -> dict[str, int]:
    """Copy every row; the number of rows copied per table."""
    if source.backend is not Backend.SQLITE or target.backend is not Backend.POSTGRES:
        raise StorageError(
            "copy-db copies a SQLite file into PostgreSQL: --from sqlite:///… --to postgresql://…"
        )
    if not source.path.is_file():
        raise StorageError(f"no SQLite database at {source.path}")
    # No bot may write the file meanwhile; opening it brings it to the newest schema, the
    # same version the target is migrated to.
    with DatabaseLock(source.path):
        async with Store(source.path) as sqlite, PostgresStore(target.url, pool_size=2) as pg:
            return await pg.fill_from(sqlite)
