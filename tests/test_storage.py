"""Storage on a real SQLite file and a real PostgreSQL server: migrations, constraints,
votes. Tests taking `store` or `make_store` run once per backend (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from storycraft_bot.core.errors import SchemaTooNewError, StorageError, StoryActionError
from storycraft_bot.core.lore import LoreEntry, StoryCard
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    GuildDefaults,
    ImagePrompt,
    ImageSource,
    ImageState,
    Language,
    MessageKind,
    MessageRef,
    Place,
    Platform,
    Rating,
    SegmentDraft,
    SegmentState,
    StorySettings,
)
from storycraft_bot.core.screen_records import StoredScreens
from storycraft_bot.core.store import VoteOutcome
from storycraft_bot.storage.postgres import PostgresStore
from storycraft_bot.storage.schema import shipped_postgres_migrations
from storycraft_bot.storage.sqlite import (
    Store,
    discover_migrations,
    shipped_migrations,
)
from tests.conftest import GROUP, AnyStore, StoreFactory
from tests.postgres_server import PostgresServer

ALICE = Actor("u1", "Alice")


def migrations_of(store: AnyStore) -> Path:
    """The shipped folder of the store's backend."""
    return shipped_migrations() if isinstance(store, Store) else shipped_postgres_migrations()


async def execute(store: AnyStore, sql: str, params: tuple[object, ...] = ()) -> None:
    """One raw statement on either backend (to fake what older code wrote)."""
    if isinstance(store, Store):
        await store.db.execute(sql, params)
        return
    async with store.pool.connection() as conn:
        await conn.execute(sql.replace("?", "%s"), params)


def test_both_backends_ship_the_same_migration_numbers() -> None:
    sqlite_numbers = [n for n, _ in discover_migrations(shipped_migrations())]
    postgres_numbers = [n for n, _ in discover_migrations(shipped_postgres_migrations())]
    assert sqlite_numbers == postgres_numbers
    assert sqlite_numbers


async def test_a_new_database_is_at_the_newest_version(store: AnyStore) -> None:
    assert await store.schema_version() == len(discover_migrations(migrations_of(store)))


async def test_a_new_database_is_migrated_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite3") as store:
        assert await store.schema_version() == len(discover_migrations(shipped_migrations()))
        async with store.db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"  # type: ignore[index]
        async with store.db.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]
        async with store.db.execute("PRAGMA synchronous") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]  # NORMAL: WAL's own


async def test_reopening_applies_nothing_twice(make_store: StoreFactory) -> None:
    async with make_store() as store:
        await store.create_session(GROUP, ALICE, Language.RU, "fantasy", "", StorySettings(), 1.0)
    async with make_store() as store:
        assert await store.live_session(GROUP.key) is not None


async def test_a_database_newer_than_the_code_is_refused_on_either_backend(
    make_store: StoreFactory,
) -> None:
    async with make_store() as store:
        if isinstance(store, Store):
            await execute(store, "PRAGMA user_version = 99")
        else:
            await execute(store, "UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaTooNewError, match="schema version 99"):
        async with make_store():
            pass


async def test_postgres_migrations_apply_in_one_transaction(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "002_b.sql").write_text("INSERT INTO a VALUES (1); CREATE TABLE broken (;")
    url = postgres_server.fresh_url()
    with pytest.raises(StorageError, match="left at version 0"):
        async with PostgresStore(url, migrations=folder):
            pass
    (folder / "002_b.sql").write_text("INSERT INTO a VALUES (1);")
    async with PostgresStore(url, migrations=folder) as store:
        assert await store.schema_version() == 2
        assert [row["x"] async for row in rows(store, "SELECT x FROM a")] == [1]


async def rows(store: PostgresStore, sql: str) -> AsyncIterator[dict[str, object]]:
    async with store.pool.connection() as conn:
        for row in await (await conn.execute(sql)).fetchall():
            yield row


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


async def test_one_live_story_per_channel(store: AnyStore) -> None:
    await store.create_session(GROUP, ALICE, Language.RU, "fantasy", "", StorySettings(), 1.0)
    with pytest.raises(StoryActionError, match="story_exists"):
        await store.create_session(GROUP, ALICE, Language.EN, "horror", "", StorySettings(), 2.0)


async def test_votes_are_one_per_member_and_changeable(store: AnyStore) -> None:
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


async def test_deciding_is_atomic_and_only_once(store: AnyStore) -> None:
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


async def test_a_decision_whose_next_part_cannot_be_stored_leaves_the_part_open(
    store: AnyStore,
) -> None:
    """The close and the next part land together or not at all: a next part the database
    refuses (a trigger here; a full disk in life) takes the close back with it."""
    from storycraft_bot.core.models import DecidedBy

    session = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b"), "s"), 2.0)
    if isinstance(store, Store):
        await execute(
            store,
            "CREATE TEMP TRIGGER refuse BEFORE INSERT ON segments WHEN NEW.prompt_choice = 'b'"
            " BEGIN SELECT RAISE(ABORT, 'no room'); END",
        )
    else:
        await execute(
            store,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.prompt_choice = 'b' THEN RAISE EXCEPTION 'no room'; END IF;"
            " RETURN NEW; END $$",
        )
        await execute(
            store,
            "CREATE TRIGGER refuse BEFORE INSERT ON segments"
            " FOR EACH ROW EXECUTE FUNCTION refuse()",
        )
    with pytest.raises((sqlite3.Error, psycopg.Error), match="no room"):
        await store.decide(segment, 1, DecidedBy.PRESS, 3.0)

    stored = await store.get_segment(segment.id)
    assert stored is not None
    assert stored.state is SegmentState.OPEN
    assert stored.chosen_index is None
    assert len(await store.live_segments(session.id)) == 1
    following = await store.decide(segment, 0, DecidedBy.PRESS, 4.0)  # the other choice
    assert following is not None
    assert following.prompt_choice == "a"
    if isinstance(store, Store):
        assert not store.db.in_transaction


@pytest.mark.parametrize("steps", range(6))
async def test_writers_cancelled_at_any_step_leave_whole_writes_and_no_open_transaction(
    store: AnyStore, steps: int
) -> None:
    """A lone write and a transaction, each cancelled after `steps` loop turns: each lands
    whole or not at all, and the writes after them still work (nothing is left open)."""
    from storycraft_bot.core.models import DecidedBy

    session = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b"), "s"), 2.0)
    lone = asyncio.ensure_future(store.set_image_state(segment.id, ImageState.QUEUED))
    deciding = asyncio.ensure_future(store.decide(segment, 1, DecidedBy.PRESS, 3.0))
    for _ in range(steps):
        await asyncio.sleep(0)
    lone.cancel()
    deciding.cancel()
    await asyncio.gather(lone, deciding, return_exceptions=True)

    parts = await store.live_segments(session.id)
    assert len(parts) in (1, 2)  # decided with its next part, or not at all
    assert (parts[0].chosen_index is None) == (len(parts) == 1)
    await store.set_image_state(segment.id, ImageState.DRAWING)  # the next writes work
    again = await store.add_segment(session.id, 5, "", 4.0)
    stored = await store.get_segment(segment.id)
    assert stored is not None
    assert stored.image_state is ImageState.DRAWING
    assert again.index == 5
    if isinstance(store, Store):
        assert not store.db.in_transaction


async def test_platform_messages_and_text_survive_a_reopen(make_store: StoreFactory) -> None:
    async with make_store() as store:
        session = await store.create_session(
            GROUP, ALICE, Language.RU, "сказка", "Ключ", StorySettings(), 1.0
        )
        segment = await store.add_segment(session.id, 0, "", 1.0)
        await store.finish_segment(segment.id, SegmentDraft("Жили-были", ("Да", "Нет"), "s"), 2.0)
        refs = [
            MessageRef(Platform.TELEGRAM, MessageKind.TEXT, 555),
            MessageRef(Platform.TELEGRAM, MessageKind.PICTURE, 556),
            # A Discord snowflake needs all 64 bits.
            MessageRef(Platform.DISCORD, MessageKind.TEXT, 1_234_567_890_123_456_789),
        ]
        await store.set_messages(segment.id, refs)
        await store.set_image_upload(segment.id, Platform.TELEGRAM, "file-1")
        await store.set_image_upload(segment.id, Platform.DISCORD, "https://cdn/x.png")
        await store.set_image_upload(segment.id, Platform.TELEGRAM, "file-2")
    async with make_store() as store:
        again = await store.get_segment(segment.id)
        assert again is not None
        assert again.narration == "Жили-были"
        assert again.choices == ("Да", "Нет")
        assert await store.messages(segment.id) == tuple(refs)
        assert again.image_uploads == {"telegram": "file-2", "discord": "https://cdn/x.png"}
        await store.set_messages(segment.id, refs[:1])
        assert await store.messages(segment.id) == tuple(refs[:1])


async def test_migration_5_turns_message_strings_into_typed_refs(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    """Databases written before message_refs keep their messages, typed."""
    old = tmp_path / "old_migrations"
    old.mkdir()
    for _, file in discover_migrations(migrations_of(make_store()))[:4]:
        (old / file.name).write_text(file.read_text())
    async with make_store(old) as store:
        # Written as that schema's code wrote them (today's code also writes a book id).
        for channel in ("-5", "2002"):
            await execute(
                store,
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
        await execute(
            store,
            "UPDATE segments SET messages = ? WHERE id = ?",
            ('["t10", "c11", "p12", 7, "xbad"]', first.id),
        )
        await execute(
            store, "UPDATE segments SET messages = ? WHERE id = ?", ('["d900", "d901"]', second.id)
        )
    async with make_store() as store:
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


async def test_arcs_modes_endings_and_vote_windows_are_stored(store: AnyStore) -> None:
    """Issue 16 (migration 12): the length, mode and empty-vote rule in the settings, an
    ended story, a moved vote window with its extensions, re-rolled choices."""
    from storycraft_bot.core.models import NoVoteRule, Participation, StoryLength

    settings = StorySettings(
        length=StoryLength.LONG, participation=Participation.STARTER, no_votes=NoVoteRule.STARTER
    )
    session = await store.create_session(GROUP, ALICE, Language.EN, "f", "", settings, 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b"), "s"), 2.0)
    await store.cast_vote(segment.id, ALICE, 1, 3.0)

    await store.move_vote_deadline(segment.id, 90.0, 1)
    moved = await store.get_segment(segment.id)
    assert moved is not None
    assert (moved.vote_closes_at, moved.vote_extensions) == (90.0, 1)
    await store.move_vote_deadline(segment.id, None, 2)
    waiting = await store.get_segment(segment.id)
    assert waiting is not None
    assert (waiting.vote_closes_at, waiting.vote_extensions) == (None, 2)

    rerolled = await store.replace_choices(segment.id, ("c", "d", "🏁 e"))
    assert rerolled.choices == ("c", "d", "🏁 e")
    assert (await store.tally(rerolled)).voters == 0

    stored = await store.get_session(session.id)
    assert stored is not None
    assert stored.settings == settings
    assert not stored.ended
    await store.end_session(session.id, 5.0)
    ended = await store.get_session(session.id)
    assert ended is not None
    assert (ended.state.value, ended.ended) == ("stopped", True)
    assert await store.live_session(GROUP.key) is None


async def test_a_card_and_a_lorebook_survive_a_reopen(make_store: StoreFactory) -> None:
    card = StoryCard("Мира", "Рыжие волосы.", "Упрямая.", "Маяк.", "Шторм прошёл.")
    entries = (
        LoreEntry(("маяк", "lighthouse"), "Маяк горит.", ("ночь",), order=7),
        LoreEntry((), "Море холодное.", constant=True, order=-3),
    )
    async with make_store() as store:
        session = await store.create_session(
            GROUP, ALICE, Language.RU, "сказка", "", StorySettings(), 1.0
        )
        assert await store.story_card(session.id) is None
        assert await store.lore(session.id) == ()
        await store.save_lore(session.id, entries, 2.0)
        await store.save_card(session.id, card, 2.0)
    async with make_store() as store:
        assert await store.story_card(session.id) == card
        assert await store.lore(session.id) == entries
        await store.save_lore(session.id, entries[1:], 3.0)  # a new lorebook replaces it
        assert await store.lore(session.id) == entries[1:]
        assert await store.story_card(session.id) == card


async def test_reads_sent_together_are_each_answered_on_their_own(tmp_path: Path) -> None:
    """SQLite's reads of one loop step share a trip to its thread: each still gets its own
    rows, a failing one fails alone, a caller that gave up takes nobody with it, and
    after closing a read says the database is not open."""
    store = Store(tmp_path / "reads.db")
    async with store:
        await _reads_together(store)
    with pytest.raises(StorageError, match="not open"):
        await store.get_session(1)


async def _reads_together(store: Store) -> None:
    first = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    other = Place(ChannelKey(Platform.DISCORD, "other"), "g2", True)
    second = await store.create_session(other, ALICE, Language.EN, "g", "", StorySettings(), 1.0)
    given_up = asyncio.ensure_future(store.get_session(first.id))
    await asyncio.sleep(0)  # asked for, not yet sent
    given_up.cancel()
    found = await asyncio.gather(
        store.get_session(first.id),
        store._one("SELECT * FROM no_such_table"),
        store.get_session(second.id),
        store.get_session(10_000),
        return_exceptions=True,
    )
    assert given_up.cancelled()
    assert [getattr(s, "genre", None) for s in (found[0], found[2])] == ["f", "g"]
    assert isinstance(found[1], sqlite3.OperationalError)
    assert found[3] is None


async def test_a_lone_write_never_lands_inside_a_transaction_held_open(
    tmp_path: Path,
) -> None:
    """Lone writes travel in shared trips; a trip waits for a transaction that spans
    several trips, so a write asked for meanwhile is not rolled back with it."""
    async with Store(tmp_path / "tx.db") as store:
        await _write_after_an_abandoned_transaction(store)


async def _write_after_an_abandoned_transaction(store: Store) -> None:
    session = await store.create_session(GROUP, ALICE, Language.RU, "f", "", StorySettings(), 1.0)
    part = await store.add_segment(session.id, 0, "", 1.0)

    lone: list[asyncio.Future[None]] = []

    async def abandon_a_transaction() -> None:
        async with store._tx() as tx:
            await tx.run("UPDATE sessions SET genre = 'changed' WHERE id = ?", (session.id,))
            lone.append(asyncio.ensure_future(store.set_image_state(part.id, ImageState.DRAWING)))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not lone[0].done()  # it waits for the transaction
            raise LookupError("abandoned")

    with pytest.raises(LookupError, match="abandoned"):
        await abandon_a_transaction()
    await lone[0]
    stored, story = await store.get_segment(part.id), await store.get_session(session.id)
    assert stored is not None
    assert story is not None
    assert stored.image_state is ImageState.DRAWING  # landed after the rollback
    assert story.genre == "f"  # the transaction's own change rolled back


async def test_a_picture_report_reads_its_story_and_picture_state_in_one_query(
    store: AnyStore,
) -> None:
    session = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
    segment = await store.add_segment(session.id, 0, "", 1.0)
    segment = await store.finish_segment(segment.id, SegmentDraft("n", ("a", "b"), "s"), 2.0)
    await store.set_image_state(segment.id, ImageState.DRAWING)

    target = await store.picture_target(session.id, segment.id)
    assert target is not None
    story, state = target
    assert (story.id, story.language, state) == (session.id, Language.EN, ImageState.DRAWING)
    # A forged pair (segment of another story) and a superseded part report nothing.
    elsewhere = Place(ChannelKey(Platform.DISCORD, "3003"), "g2", True)
    other = await store.create_session(elsewhere, ALICE, Language.RU, "f", "", StorySettings(), 3.0)
    assert await store.picture_target(other.id, segment.id) is None
    await store.replace_segment(segment, 4.0)
    assert await store.picture_target(session.id, segment.id) is None


async def test_queueing_a_picture_stores_a_fresh_prompt_with_the_state(store: AnyStore) -> None:
    session = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
    first = await store.add_segment(session.id, 0, "", 1.0)
    second = await store.add_segment(session.id, 1, "", 1.0)
    prompt = ImagePrompt("a lighthouse", "blurry", ImageSource.MODEL)

    await store.queue_picture(first.id, prompt)
    await store.set_image_prompt(second.id, "a harbour", "", ImageSource.RULE)
    await store.queue_picture(second.id, None)  # its prompt was stored before: kept

    stored = [await store.get_segment(s.id) for s in (first, second)]
    assert [
        (s.image_prompt, s.image_negative, s.image_prompt_source, s.image_state)
        for s in stored
        if s
    ] == [
        ("a lighthouse", "blurry", ImageSource.MODEL, ImageState.QUEUED),
        ("a harbour", "", ImageSource.RULE, ImageState.QUEUED),
    ]


async def test_a_dropped_picture_clears_only_a_waiting_state(store: AnyStore) -> None:
    session = await store.create_session(GROUP, ALICE, Language.EN, "f", "", StorySettings(), 1.0)
    parts = [await store.add_segment(session.id, i, "", 1.0) for i in range(4)]
    states = (ImageState.QUEUED, ImageState.DRAWING, ImageState.READY, ImageState.OFF)
    for part, state in zip(parts, states, strict=True):
        await store.set_image_state(part.id, state)
        await store.drop_waiting_picture(part.id)
    stored = [await store.get_segment(part.id) for part in parts]
    assert [s.image_state for s in stored if s] == [
        ImageState.NONE,
        ImageState.NONE,
        ImageState.READY,  # drawn meanwhile: kept
        ImageState.OFF,
    ]


async def test_an_sqlite_without_returning_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(StorageError, match=r"SQLite 3\.35\.0 or newer is needed.*has 3\.31\.1"):
        await Store(tmp_path / "old.db").open()
    assert not (tmp_path / "old.db").exists()
