"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder.

Started once per test session on a free loopback port from the binaries under
/usr/lib/postgresql/*/bin, and torn down at the end. initdb refuses to run as root, so as
root the server runs as the `postgres` user (Debian's package creates it). Each test gets
its own fresh database (`fresh_url`).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found under "
    "/usr/lib/postgresql/*/bin. Install them, e.g. `apt-get install postgresql` on "
    "Debian/Ubuntu (`make test` does this by itself when run as root)."
)
_USER = "storycraft"


class PostgresUnavailable(RuntimeError):
    """No server binaries, or the server would not start."""


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    folders = sorted(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return folders[-1] if folders else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One throwaway cluster; `start()`, `fresh_url()` per test, `stop()`."""

    def __init__(self, binaries: Path | None = None) -> None:
        self.bin = binaries or server_binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="storycraft-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        argv = list(command)
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(command)} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        if self.bin is None or not (self.bin / "initdb").exists():
            raise PostgresUnavailable(INSTALL_HINT)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
        data = self.folder / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", _USER, "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale", "C",
        )  # fmt: skip
        # Throwaway data: no fsync, so creating a database per test stays cheap.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """A new empty database's URL."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        data = self.folder / "data"
        if self.bin is not None and (data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
