"""SQLite storage (aiosqlite): sessions, segments, votes, story memory.

One long-lived connection in autocommit mode; every write runs in its own short
transaction under one lock, so a change is committed before the engine shows it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from storycraft_bot.core.errors import SchemaTooNewError, StorageError, StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Character,
    DecidedBy,
    GuildDefaults,
    ImageSource,
    ImageState,
    Language,
    MessageKind,
    MessageRef,
    Picture,
    Place,
    Platform,
    Rating,
    Segment,
    SegmentDraft,
    SegmentState,
    Session,
    SessionState,
    StoryMemory,
    StorySettings,
    VoteTally,
)
from storycraft_bot.core.store import VoteOutcome
from storycraft_bot.core.texts import Msg

log = logging.getLogger(__name__)

#: Random bytes in a book id (22 URL-safe characters): unguessable, safe in a URL.
BOOK_ID_BYTES = 16
_MIGRATION_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


def shipped_migrations() -> Path:
    """The `migrations` package's folder, the same from a checkout and any install."""
    folder = resources.files("migrations")
    if not isinstance(folder, Path):  # only a zip import gives another kind; we ship none
        raise StorageError(f"the migrations are not in a folder ({folder})")
    return folder


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


class Store:
    """All reads and writes of StoryCraft's database."""

    def __init__(self, path: Path, migrations: Path | None = None) -> None:
        self._path = path
        self._migrations = migrations or shipped_migrations()
        self._db: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the file, turn on WAL and foreign keys, apply pending migrations."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(
                f"cannot create the folder of database {self._path}: {err.strerror or err}"
            ) from err
        try:
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open database {self._path}: {err}") from err
        db.row_factory = aiosqlite.Row
        self._db = db
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
        except sqlite3.Error as err:
            # A corrupt or foreign file, or one we may not write: one line, not a traceback.
            await self.close()
            raise StorageError(f"cannot use database {self._path}: {err}") from err
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection (safe to call twice)."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError("the database is not open")
        return self._db

    async def schema_version(self) -> int:
        """The applied migration number (`PRAGMA user_version`)."""
        async with self.db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        migrations = discover_migrations(self._migrations)
        latest = migrations[-1][0] if migrations else 0
        current = await self.schema_version()
        if current > latest:
            raise SchemaTooNewError(
                f"database {self._path} has schema version {current}, but this StoryCraft "
                f"knows only up to {latest}: upgrade StoryCraft or use another DATABASE_PATH"
            )
        pending = [(n, p) for n, p in migrations if n > current]
        if not pending:
            return
        # One transaction for all pending files: a failure leaves the old schema intact.
        parts = ["BEGIN IMMEDIATE;"]
        for number, path in pending:
            parts.append(path.read_text(encoding="utf-8"))
            parts.append(f";\nPRAGMA user_version = {number};")
        parts.append("COMMIT;")
        try:
            await self.db.executescript("\n".join(parts))
        except sqlite3.Error as err:
            if self.db.in_transaction:
                await self.db.execute("ROLLBACK")
            raise StorageError(
                f"migration failed, database left at version {current}: {err}"
            ) from err
        log.info("database %s migrated from version %d to %d", self._path, current, latest)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. A cancelled caller never leaves it half open: the
        statements run in aiosqlite's thread regardless, so BEGIN/COMMIT/ROLLBACK are
        awaited to the end and the cancellation is raised afterwards."""
        async with self._write_lock:
            db = self.db
            if await _finish(db.execute("BEGIN IMMEDIATE")):
                await _finish(db.execute("ROLLBACK"))
                raise asyncio.CancelledError
            try:
                yield db
            except BaseException:
                await _finish(db.execute("ROLLBACK"))
                raise
            if await _finish(db.execute("COMMIT")):
                raise asyncio.CancelledError

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, tuple(params)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    # Sessions

    async def create_session(
        self,
        place: Place,
        starter: Actor,
        language: Language,
        genre: str,
        premise: str,
        settings: StorySettings,
        now: float,
    ) -> Session:
        """A new active story; StoryActionError(Msg.STORY_EXISTS) if the channel has one."""
        try:
            async with self._tx() as db:
                cur = await db.execute(
                    "INSERT INTO sessions (platform, channel_id, thread_id, guild_id, is_group,"
                    " starter_id, starter_name, state, language, genre, premise, settings,"
                    " created_at, updated_at, book_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        place.key.platform.value,
                        place.key.channel_id,
                        place.key.thread_id,
                        place.guild_id,
                        int(place.is_group),
                        starter.user_id,
                        starter.name,
                        SessionState.ACTIVE.value,
                        language.value,
                        genre,
                        premise,
                        json.dumps(asdict(settings)),
                        now,
                        now,
                        secrets.token_urlsafe(BOOK_ID_BYTES),
                    ),
                )
                session_id = cur.lastrowid
        except sqlite3.IntegrityError:
            raise StoryActionError(Msg.STORY_EXISTS) from None
        assert session_id is not None
        session = await self.get_session(session_id)
        assert session is not None
        return session

    async def get_session(self, session_id: int) -> Session | None:
        row = await self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    async def live_session(self, key: ChannelKey) -> Session | None:
        """The channel's active or paused story, if any."""
        row = await self._one(
            "SELECT * FROM sessions WHERE platform = ? AND channel_id = ? AND thread_id = ?"
            " AND state != 'stopped'",
            (key.platform.value, key.channel_id, key.thread_id),
        )
        return _session(row) if row else None

    async def active_sessions(self) -> list[Session]:
        rows = await self._all("SELECT * FROM sessions WHERE state = 'active' ORDER BY id")
        return [_session(r) for r in rows]

    async def latest_session(self, key: ChannelKey) -> Session | None:
        """The channel's newest story, live or stopped."""
        row = await self._one(
            "SELECT * FROM sessions WHERE platform = ? AND channel_id = ? AND thread_id = ?"
            " ORDER BY id DESC LIMIT 1",
            (key.platform.value, key.channel_id, key.thread_id),
        )
        return _session(row) if row else None

    async def session_by_book(self, book_id: str) -> Session | None:
        """The story whose book has this id ("" names none)."""
        if not book_id:
            return None
        row = await self._one("SELECT * FROM sessions WHERE book_id = ?", (book_id,))
        return _session(row) if row else None

    async def set_session_state(self, session_id: int, state: SessionState, now: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?",
                (state.value, now, session_id),
            )

    async def update_settings(self, session_id: int, settings: StorySettings, now: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE sessions SET settings = ?, updated_at = ? WHERE id = ?",
                (json.dumps(asdict(settings)), now, session_id),
            )

    async def guild_defaults(self, platform: Platform, guild_id: str) -> GuildDefaults:
        row = await self._one(
            "SELECT settings FROM guild_defaults WHERE platform = ? AND guild_id = ?",
            (platform.value, guild_id),
        )
        raw = json.loads(row["settings"]) if row else {}
        known = GuildDefaults.__dataclass_fields__
        return GuildDefaults(**_with_rating({k: v for k, v in raw.items() if k in known}))

    async def save_guild_defaults(
        self, platform: Platform, guild_id: str, defaults: GuildDefaults, now: float
    ) -> None:
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO guild_defaults (platform, guild_id, settings, updated_at)"
                " VALUES (?,?,?,?) ON CONFLICT (platform, guild_id) DO UPDATE SET"
                " settings = excluded.settings, updated_at = excluded.updated_at",
                (platform.value, guild_id, json.dumps(asdict(defaults)), now),
            )

    # Segments

    async def add_segment(
        self, session_id: int, index: int, prompt_choice: str, now: float
    ) -> Segment:
        """A new segment in state GENERATING."""
        async with self._tx() as db:
            segment_id = await _insert_segment(db, session_id, index, prompt_choice, now)
        return await self._segment_or_fail(segment_id)

    async def get_segment(self, segment_id: int) -> Segment | None:
        row = await self._one("SELECT * FROM segments WHERE id = ?", (segment_id,))
        return _segment(row) if row else None

    async def _segment_or_fail(self, segment_id: int) -> Segment:
        segment = await self.get_segment(segment_id)
        if segment is None:
            raise StorageError(f"segment {segment_id} vanished")
        return segment

    async def current_segment(self, session_id: int) -> Segment | None:
        """The newest live (not superseded) segment."""
        row = await self._one(
            "SELECT * FROM segments WHERE session_id = ? AND state != 'superseded'"
            " ORDER BY idx DESC LIMIT 1",
            (session_id,),
        )
        return _segment(row) if row else None

    async def live_segments(self, session_id: int) -> list[Segment]:
        """The story so far, oldest first."""
        rows = await self._all(
            "SELECT * FROM segments WHERE session_id = ? AND state != 'superseded' ORDER BY idx",
            (session_id,),
        )
        return [_segment(r) for r in rows]

    async def finish_segment(self, segment_id: int, draft: SegmentDraft, now: float) -> Segment:
        """Store the narrator's text and open the choices."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET state = 'open', narration = ?, choices = ?, scene = ?,"
                " model = ?, updated_at = ? WHERE id = ? AND state = 'generating'",
                (
                    draft.narration,
                    json.dumps(list(draft.choices), ensure_ascii=False),
                    draft.scene,
                    draft.model,
                    now,
                    segment_id,
                ),
            )
        return await self._segment_or_fail(segment_id)

    async def fail_segment(self, segment_id: int, now: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET state = 'failed', updated_at = ? WHERE id = ?"
                " AND state = 'generating'",
                (now, segment_id),
            )

    async def replace_segment(self, old: Segment, now: float) -> Segment:
        """Retry: supersede `old` and start a new segment at the same place."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET state = 'superseded', updated_at = ? WHERE id = ?",
                (now, old.id),
            )
            segment_id = await _insert_segment(
                db, old.session_id, old.index, old.prompt_choice, now
            )
        return await self._segment_or_fail(segment_id)

    async def step_back(self, current: Segment, previous: Segment, now: float) -> Segment:
        """Undo: supersede `current`, reopen `previous` with its votes cleared."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET state = 'superseded', updated_at = ? WHERE id = ?",
                (now, current.id),
            )
            await db.execute("DELETE FROM votes WHERE segment_id = ?", (previous.id,))
            await db.execute(
                "UPDATE segments SET state = 'open', chosen_index = NULL, decided_by = NULL,"
                " vote_closes_at = NULL, updated_at = ? WHERE id = ?",
                (now, previous.id),
            )
        return await self._segment_or_fail(previous.id)

    async def decide(
        self, segment: Segment, choice_index: int, decided_by: DecidedBy, now: float
    ) -> Segment | None:
        """Close `segment` with a choice and start the next one, atomically.

        Returns the new GENERATING segment, or None when the segment was no longer open
        (somebody else decided first).
        """
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE segments SET state = 'decided', chosen_index = ?, decided_by = ?,"
                " updated_at = ? WHERE id = ? AND state = 'open'",
                (choice_index, decided_by.value, now, segment.id),
            )
            if cur.rowcount != 1:
                return None
            segment_id = await _insert_segment(
                db, segment.session_id, segment.index + 1, segment.choices[choice_index], now
            )
        return await self._segment_or_fail(segment_id)

    async def set_vote_deadline(self, segment_id: int, closes_at: float) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET vote_closes_at = ? WHERE id = ? AND vote_closes_at IS NULL",
                (closes_at, segment_id),
            )

    async def set_auto_retry(self, segment_id: int, tries: int, due: float | None) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET auto_retries = ?, auto_retry_at = ? WHERE id = ?",
                (tries, due, segment_id),
            )

    async def set_messages(self, segment_id: int, refs: Iterable[MessageRef]) -> None:
        """Remember the platform messages that show a segment, in order."""
        async with self._tx() as db:
            await db.execute("DELETE FROM message_refs WHERE segment_id = ?", (segment_id,))
            await db.executemany(
                "INSERT INTO message_refs (segment_id, position, platform, kind, message_id)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (segment_id, position, ref.platform.value, ref.kind.value, ref.message_id)
                    for position, ref in enumerate(refs)
                ],
            )

    async def messages(self, segment_id: int) -> tuple[MessageRef, ...]:
        """The platform messages that show a segment, in order."""
        rows = await self._all(
            "SELECT platform, kind, message_id FROM message_refs"
            " WHERE segment_id = ? ORDER BY position",
            (segment_id,),
        )
        return tuple(
            MessageRef(Platform(r["platform"]), MessageKind(r["kind"]), r["message_id"])
            for r in rows
        )

    async def set_image_prompt(
        self, segment_id: int, positive: str, negative: str, source: ImageSource
    ) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET image_prompt = ?, image_negative = ?,"
                " image_prompt_source = ? WHERE id = ?",
                (positive, negative, source.value, segment_id),
            )

    async def save_picture(self, segment_id: int, picture: Picture) -> None:
        """A finished picture: file, seed, server, prompt id, time taken."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET image_state = 'ready', image_file = ?, image_seed = ?,"
                " image_server = ?, image_prompt_id = ?, image_seconds = ? WHERE id = ?",
                (
                    picture.path,
                    picture.seed,
                    picture.server,
                    picture.prompt_id,
                    picture.seconds,
                    segment_id,
                ),
            )

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None:
        """Remember a platform's reference to an uploaded picture (to send it again)."""
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET image_uploads = json_set(image_uploads, '$.' || ?, ?)"
                " WHERE id = ?",
                (platform.value, ref, segment_id),
            )

    async def set_image_state(self, segment_id: int, state: ImageState) -> None:
        async with self._tx() as db:
            await db.execute(
                "UPDATE segments SET image_state = ? WHERE id = ?", (state.value, segment_id)
            )

    # Votes

    async def cast_vote(
        self, segment_id: int, voter: Actor, choice_index: int, now: float
    ) -> VoteOutcome:
        """Record one member's vote."""
        async with self._tx() as db:
            async with db.execute(
                "SELECT choice_index FROM votes WHERE segment_id = ? AND user_id = ?",
                (segment_id, voter.user_id),
            ) as cur:
                row = await cur.fetchone()
            if row is not None and int(row[0]) == choice_index:
                return VoteOutcome.SAME
            await db.execute(
                "INSERT INTO votes (segment_id, user_id, user_name, choice_index, voted_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (segment_id, user_id) DO UPDATE SET"
                " choice_index = excluded.choice_index, user_name = excluded.user_name,"
                " voted_at = excluded.voted_at",
                (segment_id, voter.user_id, voter.name, choice_index, now),
            )
        return VoteOutcome.NEW if row is None else VoteOutcome.CHANGED

    async def tally(self, segment: Segment) -> VoteTally:
        rows = await self._all(
            "SELECT choice_index, COUNT(*) FROM votes WHERE segment_id = ? GROUP BY choice_index",
            (segment.id,),
        )
        counts = [0] * len(segment.choices)
        for choice_index, count in rows:
            if 0 <= choice_index < len(counts):
                counts[choice_index] = int(count)
        return VoteTally(segment.id, tuple(counts), sum(counts), segment.vote_closes_at)

    # Memory

    async def memory(self, session_id: int) -> StoryMemory:
        row = await self._one("SELECT * FROM story_memory WHERE session_id = ?", (session_id,))
        if row is None:
            return StoryMemory()
        characters = tuple(
            Character(str(c["name"]), str(c["looks"])) for c in json.loads(row["characters"])
        )
        return StoryMemory(row["summary"], int(row["summary_upto"]), characters)

    async def save_memory(self, session_id: int, memory: StoryMemory, now: float) -> None:
        characters = json.dumps([asdict(c) for c in memory.characters], ensure_ascii=False)
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO story_memory (session_id, summary, summary_upto, characters,"
                " updated_at) VALUES (?,?,?,?,?) ON CONFLICT (session_id) DO UPDATE SET"
                " summary = excluded.summary, summary_upto = excluded.summary_upto,"
                " characters = excluded.characters, updated_at = excluded.updated_at",
                (session_id, memory.summary, memory.summary_upto, characters, now),
            )


async def _finish(statement: Awaitable[Any]) -> bool:
    """Await `statement` to its end even if cancelled; True if a cancel came meanwhile."""
    task = asyncio.ensure_future(statement)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    return cancelled


async def _insert_segment(
    db: aiosqlite.Connection, session_id: int, index: int, prompt_choice: str, now: float
) -> int:
    cur = await db.execute(
        "INSERT INTO segments (session_id, idx, state, prompt_choice, created_at, updated_at)"
        " VALUES (?, ?, 'generating', ?, ?, ?)",
        (session_id, index, prompt_choice, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _with_rating(values: dict[str, Any]) -> dict[str, Any]:
    """Stored settings with their rating (JSON text) as the enum again."""
    if values.get("rating") is not None:
        values["rating"] = Rating(values["rating"])
    return values


def _session(row: aiosqlite.Row) -> Session:
    key = ChannelKey(Platform(row["platform"]), row["channel_id"], row["thread_id"])
    raw_settings = json.loads(row["settings"] or "{}")
    known = StorySettings.__dataclass_fields__
    settings = StorySettings(**_with_rating({k: v for k, v in raw_settings.items() if k in known}))
    return Session(
        id=row["id"],
        place=Place(key, row["guild_id"], bool(row["is_group"])),
        starter=Actor(row["starter_id"], row["starter_name"]),
        state=SessionState(row["state"]),
        language=Language(row["language"]),
        genre=row["genre"],
        premise=row["premise"],
        settings=settings,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        # Absent on a database still at an older migration (its tests open those).
        book_id=row["book_id"] if "book_id" in set(row.keys()) else "",
    )


def _segment(row: aiosqlite.Row) -> Segment:
    columns = set(row.keys())
    return Segment(
        id=row["id"],
        session_id=row["session_id"],
        index=row["idx"],
        state=SegmentState(row["state"]),
        narration=row["narration"],
        choices=tuple(json.loads(row["choices"])),
        scene=row["scene"],
        chosen_index=row["chosen_index"],
        decided_by=DecidedBy(row["decided_by"]) if row["decided_by"] else None,
        prompt_choice=row["prompt_choice"],
        vote_closes_at=row["vote_closes_at"],
        image_prompt=row["image_prompt"],
        image_negative=row["image_negative"],
        image_prompt_source=(
            ImageSource(row["image_prompt_source"]) if row["image_prompt_source"] else None
        ),
        image_state=ImageState(row["image_state"]),
        image_file=row["image_file"],
        image_seed=row["image_seed"],
        image_server=row["image_server"],
        image_uploads=json.loads(row["image_uploads"] or "{}"),
        created_at=row["created_at"],
        # Absent on a database still at an older migration (its tests open those).
        auto_retries=row["auto_retries"] if "auto_retries" in columns else 0,
        auto_retry_at=row["auto_retry_at"] if "auto_retry_at" in columns else None,
    )
