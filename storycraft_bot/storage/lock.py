"""One process per SQLite file: an exclusive lock on `<database>.lock`, held for the
process's life.

Two bots on one database would both write the same parts, so the second one refuses to
start. The operating system drops a `flock` when the process ends, even after a kill -9,
so a stale lock file never blocks a restart. SQLite only: a PostgreSQL store takes none.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from storycraft_bot.core.errors import StorageError


class DatabaseLock:
    """`with DatabaseLock(path):` holds the lock; StorageError if another process has it."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StorageError with one line naming the file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StorageError(
                f"cannot create {self.path} (DATABASE_PATH): {err.strerror or err}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (process {holder})" if holder else ""
            raise StorageError(
                f"database {self.database} is in use by another StoryCraft"
                f"{who}; stop it first (DATABASE_PATH)"
            ) from None
        # The pid is only for the message above; the lock itself is what counts.
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Let go (safe to call twice). The file stays: removing it would race a starter."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
