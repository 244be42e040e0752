"""Storage on a real SQLite file: migrations, pragmas, constraints, votes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storycraft_bot.core.errors import SchemaTooNewError, StorageError, StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    GuildDefaults,
    Language,
    MessageKind,
    MessageRef,
    Platform,
    Rating,
    SegmentDraft,
    StorySettings,
)
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.core.store import VoteOutcome
from storycraft_bot.storage.sqlite import (
    Store,
    discover_migrations,
    shipped_migrations,
)
from tests.conftest import GROUP

ALICE = Actor("u1", "Alice")


async def test_a_new_database_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite3") as store:
        assert await store.schema_version() == len(discover_migrations(shipped_migrations()))
        async with store.db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        async with store.db.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Store(path) as store:
        await store.create_session(GROUP, ALICE, Language.RU, "fantasy", "", StorySettings(), 1.0)
    async with Store(path) as store:
        assert await store.live_session(GROUP.key) is not None


async def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaTooNewError, match="schema version 99"):
        async with Store(path):
            pass


async def test_pending_migrations_apply_in_order_in_one_transaction(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "002_b.sql").write_text("INSERT INTO a VALUES (1); CREATE TABLE broken (;")
    path = tmp_path / "db.sqlite3"

    with pytest.raises(StorageError, match="left at version 0"):
        async with Store(path, folder):
            pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'a'").fetchone() is None

    (folder / "002_b.sql").write_text("INSERT INTO a VALUES (1);")
    async with Store(path, folder) as store:
        assert await store.schema_version() == 2


def test_a_gap_in_the_numbers_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("")
    (tmp_path / "003_c.sql").write_text("")
    with pytest.raises(StorageError, match="out of sequence"):
        discover_migrations(tmp_path)


async def test_one_live_story_per_channel(store: Store) -> None:
    await store.create_session(GROUP, ALICE, Language.RU, "fantasy", "", StorySettings(), 1.0)
    with pytest.raises(StoryActionError, match="story_exists"):
        await store.create_session(GROUP, ALICE, Language.EN, "horror", "", StorySettings(), 2.0)


async def test_votes_are_one_per_member_and_changeable(store: Store) -> None:
    session = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b", "c"), "s"), 2.0)

    assert await store.cast_vote(segment.id, ALICE, 0, 3.0) == VoteOutcome.NEW
    assert await store.cast_vote(segment.id, ALICE, 0, 4.0) == VoteOutcome.SAME
    assert await store.cast_vote(segment.id, ALICE, 2, 5.0) == VoteOutcome.CHANGED
    assert await store.cast_vote(segment.id, Actor("u2", "Bob"), 2, 5.0) == VoteOutcome.NEW

    tally = await store.tally(segment)
    assert tally.counts == (0, 0, 2)
    assert tally.voters == 2


async def test_deciding_is_atomic_and_only_once(store: Store) -> None:
    session = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b"), "s"), 2.0)
    from storycraft_bot.core.models import DecidedBy

    following = await store.decide(segment, 1, DecidedBy.PRESS, 3.0)
    assert following is not None
    assert following.index == 1
    assert following.prompt_choice == "b"
    assert await store.decide(segment, 0, DecidedBy.PRESS, 4.0) is None
    assert len(await store.live_segments(session.id)) == 2


async def test_platform_messages_and_text_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Store(path) as store:
        session = await store.create_session(
            GROUP, ALICE, Language.RU, "сказка", "Ключ", StorySettings(), 1.0
        )
        segment = await store.add_segment(session.id, 0, "", 1.0)
        await store.finish_segment(segment.id, SegmentDraft("Жили-были", ("Да", "Нет"), "s"), 2.0)
        refs = [
            MessageRef(Platform.TELEGRAM, MessageKind.TEXT, 555),
            MessageRef(Platform.TELEGRAM, MessageKind.PICTURE, 556),
        ]
        await store.set_messages(segment.id, refs)
    async with Store(path) as store:
        again = await store.get_segment(segment.id)
        assert again is not None
        assert again.narration == "Жили-были"
        assert again.choices == ("Да", "Нет")
        assert await store.messages(segment.id) == tuple(refs)
        await store.set_messages(segment.id, refs[:1])
        assert await store.messages(segment.id) == tuple(refs[:1])


async def test_migration_5_turns_message_strings_into_typed_refs(tmp_path: Path) -> None:
    """Databases written before message_refs keep their messages, typed."""
    path = tmp_path / "old.sqlite3"
    old = tmp_path / "old_migrations"
    old.mkdir()
    for _, file in discover_migrations(shipped_migrations())[:4]:
        (old / file.name).write_text(file.read_text())
    async with Store(path, old) as store:
        # Written as that schema's code wrote them (today's code also writes a book id).
        for channel in ("-5", "2002"):
            await store.db.execute(
                "INSERT INTO sessions (platform, channel_id, guild_id, is_group, starter_id,"
                " starter_name, state, language, genre, created_at, updated_at)"
                " VALUES (?, ?, 'g', 1, 'u1', 'Alice', 'active', 'en', 'g', 1.0, 1.0)",
                ("telegram" if channel == "-5" else "discord", channel),
            )
        tg = await store.live_session(ChannelKey(Platform.TELEGRAM, "-5"))
        dc = await store.live_session(GROUP.key)
        assert tg is not None
        assert dc is not None
        first = await store.add_segment(tg.id, 0, "", 1.0)
        second = await store.add_segment(dc.id, 0, "", 1.0)
        await store.db.execute(
            "UPDATE segments SET messages = ? WHERE id = ?", ('["t10", "c11", "p12"]', first.id)
        )
        await store.db.execute(
            "UPDATE segments SET messages = ? WHERE id = ?", ('["d900", "d901"]', second.id)
        )
    async with Store(path) as store:
        assert await store.messages(first.id) == (
            MessageRef(Platform.TELEGRAM, MessageKind.TEXT, 10),
            MessageRef(Platform.TELEGRAM, MessageKind.PICTURE, 11),
            MessageRef(Platform.TELEGRAM, MessageKind.PHOTO_REPLY, 12),
        )
        assert await store.messages(second.id) == (
            MessageRef(Platform.DISCORD, MessageKind.TEXT, 900),
            MessageRef(Platform.DISCORD, MessageKind.TEXT, 901),
        )
        # Migration 7 gave the older stories unguessable book ids of their own.
        ids = [
            s.book_id for s in (await store.get_session(tg.id), await store.get_session(dc.id)) if s
        ]
        assert len(ids) == 2
        assert all(len(book_id) == 32 for book_id in ids)
        assert ids[0] != ids[1]
        assert await store.session_by_book(ids[1]) == await store.get_session(dc.id)


async def test_ratings_of_stories_and_places_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    mature = StorySettings(rating=Rating.MATURE)
    async with Store(path) as store:
        session = await store.create_session(GROUP, ALICE, Language.EN, "horror", "", mature, 1.0)
        segment = await store.add_segment(session.id, 0, "", 1.0)
        await store.save_guild_defaults(
            GROUP.key.platform, GROUP.guild_id, GuildDefaults(rating=Rating.TEEN), 1.0
        )
    async with Store(path) as store:
        again = await store.get_session(session.id)
        assert again is not None
        assert again.settings.rating is Rating.MATURE
        defaults = await store.guild_defaults(GROUP.key.platform, GROUP.guild_id)
        assert defaults.rating is Rating.TEEN
        # A screen rebuilding the part after the restart shows its picture as a spoiler.
        shown = await StoredScreens(store).shown_segment(segment.id, GROUP.key.platform)
        assert shown is not None
        assert shown.spoiler
