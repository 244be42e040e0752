"""DATABASE_URL from bot.py: `bot.py copy-db` into a real PostgreSQL, and a story played
in the terminal with PostgreSQL as the store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from storycraft_bot.core.errors import StorageError
from storycraft_bot.core.models import (
    Actor,
    DecidedBy,
    GuildDefaults,
    Language,
    MessageKind,
    MessageRef,
    Platform,
    SegmentDraft,
    StoryMemory,
    StorySettings,
)
from storycraft_bot.storage.postgres import PostgresStore, safe_url
from storycraft_bot.storage.sqlite import Store
from storycraft_bot.storage.target import Backend, database_target
from tests.conftest import GROUP, PRIVATE
from tests.postgres_server import PostgresServer, PostgresUnavailable
from tests.test_bot_cli import Console, run_bot, start_console

__all__ = ["start_console"]  # the fixture, used here too

ALICE = Actor("u1", "Alice")
BOB = Actor("u2", "Bob")


async def fill_sqlite(path: Path) -> tuple[int, int]:
    """A small history: a stopped story, a live one with a decided part, votes, memory,
    messages and guild defaults. Returns the live session's and its newest part's ids."""
    async with Store(path) as store:
        old = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
        await store.set_session_state(old.id, old.state.STOPPED, 2.0)
        live = await store.create_session(
            GROUP, BOB, Language.RU, "сказка", "Ключ", StorySettings(), 3.0
        )
        first = await store.add_segment(live.id, 0, "", 3.0)
        first = await store.finish_segment(first.id, SegmentDraft("Жили", ("Да", "Нет"), "s"), 4.0)
        await store.cast_vote(first.id, ALICE, 1, 5.0)
        await store.cast_vote(first.id, BOB, 1, 5.5)
        await store.set_messages(
            first.id, [MessageRef(Platform.DISCORD, MessageKind.TEXT, 1_234_567_890_123_456_789)]
        )
        second = await store.decide(first, 1, DecidedBy.VOTE, 6.0)
        assert second is not None
        await store.save_memory(live.id, StoryMemory("Они шли", 0), 6.5)
        await store.save_guild_defaults(Platform.DISCORD, "g1", GuildDefaults(), 7.0)
        return live.id, second.id


async def test_copy_db_copies_everything_keeping_ids_and_refuses_a_second_copy(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    sqlite_path = tmp_path / "old.sqlite3"
    live_id, newest_id = await fill_sqlite(sqlite_path)
    url = postgres_server.fresh_url()
    args = ("copy-db", "--from", f"sqlite:///{sqlite_path}", "--to", url)

    code, out, err = await run_bot(tmp_path, *args, LOG_FORMAT="json")
    assert code == 0, err
    assert "sessions: 2, segments: 2, votes: 2, story_memory: 1" in out
    logged = [json.loads(line) for line in err.splitlines()]  # LOG_FORMAT=json: every line
    assert any("migrated from version 0 to" in entry["message"] for entry in logged)

    async with Store(sqlite_path) as before, PostgresStore(url) as after:
        for table in ("sessions", "segments", "votes", "story_memory", "message_refs"):
            assert [r async for r in after.table_rows(table)] == [
                r async for r in before.table_rows(table)
            ]
        session = await after.live_session(GROUP.key)
        assert session is not None
        assert session.id == live_id
        assert session.premise == "Ключ"
        current = await after.current_segment(live_id)
        assert current is not None
        assert current.id == newest_id
        assert current.prompt_choice == "Нет"
        # The sequences moved past the copied ids: new rows get fresh ones.
        another = await after.create_session(
            PRIVATE, ALICE, Language.EN, "f", "", StorySettings(), 9.0
        )
        assert another.id == live_id + 1
        part = await after.add_segment(another.id, 0, "", 9.0)
        assert part.id == newest_id + 1

    code, _, err = await run_bot(tmp_path, *args)
    assert code == 1
    assert "already holds stories" in err
    assert "Traceback" not in err


async def test_copy_db_names_what_it_needs(tmp_path: Path) -> None:
    code, _, err = await run_bot(tmp_path, "copy-db", "--from", "sqlite:///x.sqlite3")
    assert code == 2
    assert "--to postgresql://" in err
    code, _, err = await run_bot(
        tmp_path, "copy-db", "--from", "sqlite:///missing.sqlite3", "--to", "postgresql://h/db"
    )
    assert code == 1
    assert "no SQLite database at missing.sqlite3" in err
    code, _, err = await run_bot(
        tmp_path, "copy-db", "--from", "postgresql://h/db", "--to", "sqlite:///x.sqlite3"
    )
    assert code == 1
    assert "copies a SQLite file into PostgreSQL" in err


async def test_a_story_in_the_terminal_on_postgres_survives_a_restart(
    start_console: Callable[..., Awaitable[Console]],
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    url = postgres_server.fresh_url()
    console = await start_console(DATABASE_URL=url, DATABASE_POOL_SIZE="3")
    await console.read_until("Story premise (Enter for a surprise): ")
    await console.type("A lighthouse keeper finds a map")
    await console.read_until("3. Path 1.3")
    await console.type("2")
    await console.read_until("3. Path 2.3")
    console.process.terminate()
    async with asyncio.timeout(10):
        assert await console.process.wait() == 0
    # No SQLite file, and so no SQLite lock, for a PostgreSQL store.
    assert not (tmp_path / "story.sqlite3").exists()
    assert not (tmp_path / "story.sqlite3.lock").exists()
    async with PostgresStore(url) as store:
        sessions = await store.active_sessions()
        assert [s.premise for s in sessions] == ["A lighthouse keeper finds a map"]
        assert len(await store.live_segments(sessions[0].id)) == 2


async def test_an_unreachable_postgres_is_named_without_the_password() -> None:
    url = "postgresql://bot:s3cret-pw@127.0.0.1:9/story?connect_timeout=1"
    async with asyncio.timeout(30):
        store = PostgresStore(url, connect_timeout=1.0)
        with pytest.raises(StorageError, match="cannot connect to PostgreSQL") as raised:
            await store.open()
    assert "s3cret-pw" not in str(raised.value)
    assert safe_url(url) == "postgresql://bot:***@127.0.0.1:9/story?connect_timeout=1"


def test_database_url_forms() -> None:
    assert database_target("", Path("data/x.db")).path == Path("data/x.db")
    assert database_target("sqlite:///rel/x.db", Path()).path == Path("rel/x.db")
    assert database_target("sqlite:////abs/x.db", Path()).path == Path("/abs/x.db")
    assert database_target("postgres://h/db", Path()).backend is Backend.POSTGRES
    with pytest.raises(ValueError, match="sqlite:///"):
        database_target("mysql://h/db", Path())


def test_without_server_binaries_the_tests_are_told_how_to_install_them(tmp_path: Path) -> None:
    server = PostgresServer(binaries=tmp_path / "no-bin")
    with pytest.raises(PostgresUnavailable, match="apt-get install postgresql"):
        server.start()
    server.stop()
    assert not server.folder.exists()
