"""The StoryStore queries, written once for both backends.

Statements use `?` placeholders and SQL that SQLite and PostgreSQL both understand
(`ON CONFLICT ... excluded`, partial unique indexes); a backend supplies only how to run
them: its transaction, its reads, how an insert returns the new id, and the one
statement whose JSON functions differ (`_MERGE_UPLOAD`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict
from typing import Any, ClassVar

from storycraft_bot.core.errors import StorageError, StoryActionError
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Character,
    DecidedBy,
    Draft,
    GuildDefaults,
    IllustrateMode,
    ImagePrompt,
    ImageSource,
    ImageState,
    Language,
    MessageKind,
    MessageRef,
    NoVoteRule,
    Participation,
    Picture,
    Place,
    Platform,
    Rating,
    Segment,
    SegmentDraft,
    SegmentState,
    Session,
    SessionState,
    StoryLength,
    StoryMemory,
    StorySettings,
    SubmittedPrompt,
    VoteTally,
)
from storycraft_bot.core.store import VoteOutcome
from storycraft_bot.core.texts import Msg
from storycraft_bot.storage.arc_queries import ArcQueries
from storycraft_bot.storage.faces_sql import FaceQueries
from storycraft_bot.storage.own_action_queries import appended, own_actions_of
from storycraft_bot.storage.safety_queries import SAFETY_TABLES, SafetyQueries
from storycraft_bot.storage.sql_protocols import Row, Tx

#: Random bytes in a book id (22 URL-safe characters): unguessable, safe in a URL.
BOOK_ID_BYTES = 16

# The tables in the order their foreign keys allow filling them (copy-db).
TABLES = (
    "sessions",
    "segments",
    "votes",
    "story_memory",
    "guild_defaults",
    "message_refs",
    "drafts",
    *SAFETY_TABLES,
    "story_sources",
    "character_faces",
)


class SqlStore(SafetyQueries, ArcQueries, FaceQueries):
    """Every StoryStore method over a backend's transactions and reads."""

    # Adds `platform: ref` to the segment's JSON object of uploads (params: key, ref, id).
    _MERGE_UPLOAD: ClassVar[str]
    # The error a violated unique index raises.
    _UNIQUE_VIOLATION: ClassVar[type[Exception]]

    async def table_rows(self, table: str) -> AsyncIterator[dict[str, Any]]:
        """Every row of one of TABLES, as column → value (for copy-db)."""
        if table not in TABLES:
            raise StorageError(f"unknown table {table}")
        for row in await self._all(f"SELECT * FROM {table}"):  # a name from TABLES
            # Iterating a sqlite3.Row gives its values, hence keys().
            yield {column: row[column] for column in row.keys()}  # noqa: SIM118

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
            async with self._tx() as tx:
                session_id = await tx.insert(
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
        except self._UNIQUE_VIOLATION:
            raise StoryActionError(Msg.STORY_EXISTS) from None
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
        await self._run(
            "UPDATE sessions SET state = ?, updated_at = ? WHERE id = ?",
            (state.value, now, session_id),
        )

    async def update_settings(self, session_id: int, settings: StorySettings, now: float) -> None:
        await self._run(
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
        await self._run(
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
        async with self._tx() as tx:
            return await _insert_segment(tx, session_id, index, prompt_choice, now)

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
        """Store the narrator's text and open the choices; the part as it now is (a part
        superseded meanwhile is returned unchanged)."""
        row = await self._run_returning(
            "UPDATE segments SET state = 'open', narration = ?, choices = ?, scene = ?,"
            " model = ?, updated_at = ? WHERE id = ? AND state = 'generating' RETURNING *",
            (
                draft.narration,
                json.dumps(list(draft.choices), ensure_ascii=False),
                draft.scene,
                draft.model,
                now,
                segment_id,
            ),
        )
        return _segment(row) if row else await self._segment_or_fail(segment_id)

    async def fail_segment(self, segment_id: int, now: float) -> None:
        await self._run(
            "UPDATE segments SET state = 'failed', updated_at = ? WHERE id = ?"
            " AND state = 'generating'",
            (now, segment_id),
        )

    async def replace_segment(self, old: Segment, now: float) -> Segment:
        """Retry: supersede `old` and start a new segment at the same place."""
        async with self._tx() as tx:
            await tx.run(
                "UPDATE segments SET state = 'superseded', updated_at = ? WHERE id = ?",
                (now, old.id),
            )
            return await _insert_segment(tx, old.session_id, old.index, old.prompt_choice, now)

    async def step_back(self, current: Segment, previous: Segment, now: float) -> Segment:
        """Undo: supersede `current`, reopen `previous` with its votes cleared."""
        async with self._tx() as tx:
            await tx.run(
                "UPDATE segments SET state = 'superseded', updated_at = ? WHERE id = ?",
                (now, current.id),
            )
            await tx.run("DELETE FROM votes WHERE segment_id = ?", (previous.id,))
            await tx.run(
                "UPDATE segments SET state = 'open', chosen_index = NULL, decided_by = NULL,"
                " vote_closes_at = NULL, vote_extensions = 0, updated_at = ? WHERE id = ?",
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
        async with self._tx() as tx:
            changed = await tx.run(CLOSE_PART, (choice_index, decided_by.value, now, segment.id))
            if changed != 1:
                return None
            return await _insert_segment(
                tx, segment.session_id, segment.index + 1, segment.choices[choice_index], now
            )

    async def add_own_action(self, segment: Segment, author: Actor, action: str) -> Segment | None:
        """Put a typed action on the open part's ballot; None when the part is no longer
        open or its ballot changed since `segment` was read."""
        async with self._tx() as tx:
            if await tx.run(*appended(segment, author, action)) != 1:
                return None
        return await self._segment_or_fail(segment.id)

    async def set_vote_deadline(self, segment_id: int, closes_at: float) -> None:
        await self._run(
            "UPDATE segments SET vote_closes_at = ? WHERE id = ? AND vote_closes_at IS NULL",
            (closes_at, segment_id),
        )

    async def set_auto_retry(self, segment_id: int, tries: int, due: float | None) -> None:
        await self._run(
            "UPDATE segments SET auto_retries = ?, auto_retry_at = ? WHERE id = ?",
            (tries, due, segment_id),
        )

    async def set_messages(self, segment_id: int, refs: Iterable[MessageRef]) -> None:
        """Remember the platform messages that show a segment, in order."""
        rows = [
            (segment_id, position, ref.platform.value, ref.kind.value, ref.message_id)
            for position, ref in enumerate(refs)
        ]
        async with self._tx() as tx:
            await tx.run("DELETE FROM message_refs WHERE segment_id = ?", (segment_id,))
            if rows:
                await tx.run_many(
                    "INSERT INTO message_refs (segment_id, position, platform, kind, message_id)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

    async def messages(self, segment_id: int) -> tuple[MessageRef, ...]:
        """The platform messages that show a segment, in order."""
        rows = await self._all(
            "SELECT platform, kind, message_id FROM message_refs"
            " WHERE segment_id = ? ORDER BY position",
            (segment_id,),
        )
        return tuple(
            MessageRef(Platform(r["platform"]), MessageKind(r["kind"]), int(r["message_id"]))
            for r in rows
        )

    async def set_image_prompt(
        self, segment_id: int, positive: str, negative: str, source: ImageSource
    ) -> None:
        await self._run(
            "UPDATE segments SET image_prompt = ?, image_negative = ?,"
            " image_prompt_source = ? WHERE id = ?",
            (positive, negative, source.value, segment_id),
        )

    async def save_picture(self, segment_id: int, picture: Picture) -> None:
        """A finished picture: file, seed, server, prompt id, time taken."""
        await self._run(
            "UPDATE segments SET image_state = 'ready', image_file = ?, image_seed = ?,"
            " image_server = ?, image_prompt_id = ?, image_seconds = ?,"
            " submitted_server = '', submitted_prompt_id = '', submitted_seed = NULL"
            " WHERE id = ?",
            (
                picture.path,
                picture.seed,
                picture.server,
                picture.prompt_id,
                picture.seconds,
                segment_id,
            ),
        )

    async def set_submitted(self, segment_id: int, prompt: SubmittedPrompt | None) -> None:
        """The ComfyUI prompt the segment's picture waits for (None: none any more)."""
        server, prompt_id, seed = (
            (prompt.server, prompt.prompt_id, prompt.seed) if prompt else ("", "", None)
        )
        await self._run(
            "UPDATE segments SET submitted_server = ?, submitted_prompt_id = ?,"
            " submitted_seed = ? WHERE id = ?",
            (server, prompt_id, seed, segment_id),
        )

    async def orphaned_prompts(self) -> list[tuple[int, SubmittedPrompt]]:
        """Submitted prompts of superseded parts, stopped stories, settled pictures."""
        rows = await self._all(
            "SELECT g.* FROM segments g JOIN sessions s ON s.id = g.session_id"
            " WHERE g.submitted_prompt_id <> '' AND (s.state = 'stopped'"
            " OR g.state NOT IN ('open', 'decided') OR g.image_state NOT IN ('queued', 'drawing'))"
            " ORDER BY g.id"
        )
        found = [(row["id"], _segment(row).submitted) for row in rows]
        return [(segment_id, prompt) for segment_id, prompt in found if prompt is not None]

    async def set_image_upload(self, segment_id: int, platform: Platform, ref: str) -> None:
        """Remember a platform's reference to an uploaded picture (to send it again)."""
        await self._run(self._MERGE_UPLOAD, (platform.value, ref, segment_id))

    async def set_image_state(self, segment_id: int, state: ImageState) -> None:
        await self._run(
            "UPDATE segments SET image_state = ? WHERE id = ?", (state.value, segment_id)
        )

    async def drop_waiting_picture(self, segment_id: int) -> None:
        await self._run(
            "UPDATE segments SET image_state = 'none' WHERE id = ?"
            " AND image_state IN ('queued', 'drawing')",
            (segment_id,),
        )

    # Votes

    async def cast_vote(
        self, segment_id: int, voter: Actor, choice_index: int, now: float
    ) -> VoteOutcome:
        """Record one member's vote."""
        async with self._tx() as tx:
            row = await tx.one(
                "SELECT choice_index FROM votes WHERE segment_id = ? AND user_id = ?",
                (segment_id, voter.user_id),
            )
            if row is not None and int(row["choice_index"]) == choice_index:
                return VoteOutcome.SAME
            await tx.run(
                "INSERT INTO votes (segment_id, user_id, user_name, choice_index, voted_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT (segment_id, user_id) DO UPDATE SET"
                " choice_index = excluded.choice_index, user_name = excluded.user_name,"
                " voted_at = excluded.voted_at",
                (segment_id, voter.user_id, voter.name, choice_index, now),
            )
        return VoteOutcome.NEW if row is None else VoteOutcome.CHANGED

    async def tally(self, segment: Segment) -> VoteTally:
        rows = await self._all(
            "SELECT choice_index, COUNT(*) AS votes FROM votes WHERE segment_id = ?"
            " GROUP BY choice_index",
            (segment.id,),
        )
        counts = [0] * len(segment.choices)
        for row in rows:
            choice_index = int(row["choice_index"])
            if 0 <= choice_index < len(counts):
                counts[choice_index] = int(row["votes"])
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
        await self._run(
            "INSERT INTO story_memory (session_id, summary, summary_upto, characters,"
            " updated_at) VALUES (?,?,?,?,?) ON CONFLICT (session_id) DO UPDATE SET"
            " summary = excluded.summary, summary_upto = excluded.summary_upto,"
            " characters = excluded.characters, updated_at = excluded.updated_at",
            (session_id, memory.summary, memory.summary_upto, characters, now),
        )

    # Prewritten drafts

    async def save_draft(self, draft: Draft, now: float) -> None:
        prompt = draft.prompt
        await self._run(
            "INSERT INTO drafts (segment_id, choice_index, session_id, basis,"
            " narration, choices, scene, model, image_prompt, image_negative,"
            " image_source, created_at, new_scene) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (segment_id, choice_index) DO UPDATE SET"
            " session_id = excluded.session_id, basis = excluded.basis,"
            " narration = excluded.narration, choices = excluded.choices,"
            " scene = excluded.scene, model = excluded.model,"
            " image_prompt = excluded.image_prompt, image_negative = excluded.image_negative,"
            " image_source = excluded.image_source, created_at = excluded.created_at,"
            " new_scene = excluded.new_scene",
            (
                draft.segment_id,
                draft.choice_index,
                draft.session_id,
                draft.basis,
                draft.text.narration,
                json.dumps(draft.text.choices, ensure_ascii=False),
                draft.text.scene,
                draft.text.model,
                prompt.positive if prompt else "",
                prompt.negative if prompt else "",
                prompt.source.value if prompt else None,
                now,
                draft.text.new_scene,
            ),
        )

    async def drafts(self, segment_id: int) -> list[Draft]:
        rows = await self._all(
            "SELECT * FROM drafts WHERE segment_id = ? ORDER BY choice_index", (segment_id,)
        )
        return [_draft(row) for row in rows]

    async def drop_drafts(self, session_id: int, keep: int | None = None) -> int:
        where, params = "session_id = ?", [session_id]
        if keep is not None:
            where, params = "session_id = ? AND segment_id != ?", [session_id, keep]
        # Every written part drops its drafts, and mostly there are none: a read is
        # cheaper than a write transaction (a draft stored just after the read is one
        # stored just after the delete).
        if await self._one(f"SELECT 1 FROM drafts WHERE {where} LIMIT 1", params) is None:
            return 0
        return await self._run(f"DELETE FROM drafts WHERE {where}", params)


#: A new part, being written (params: session id, index, chosen, now, now); the row back.
INSERT_SEGMENT = (
    "INSERT INTO segments (session_id, idx, state, prompt_choice, created_at, updated_at)"
    " VALUES (?, ?, 'generating', ?, ?, ?) RETURNING *"
)

#: A press's decision closes the open part (params: choice, decided by, now, segment id).
CLOSE_PART = (
    "UPDATE segments SET state = 'decided', chosen_index = ?, decided_by = ?,"
    " updated_at = ? WHERE id = ? AND state = 'open'"
)


async def _insert_segment(
    tx: Tx, session_id: int, index: int, prompt_choice: str, now: float
) -> Segment:
    row = await tx.one(INSERT_SEGMENT, (session_id, index, prompt_choice, now, now))
    assert row is not None  # an INSERT ... VALUES inserts its row or raises
    return _segment(row)


def _with_rating(values: dict[str, Any]) -> dict[str, Any]:
    """Stored settings with their rating (JSON text) as the enum again."""
    if values.get("rating") is not None:
        values["rating"] = Rating(values["rating"])
    for name, kind in _SETTING_ENUMS.items():
        if values.get(name) is not None:
            values[name] = kind(values[name])
    if values.get("illustrate") is not None:
        values["illustrate"] = IllustrateMode(values["illustrate"])
    return values


#: The settings of issue 16, stored as their values in the JSON text.
_SETTING_ENUMS: dict[str, type[StoryLength | Participation | NoVoteRule]] = {
    "length": StoryLength,
    "participation": Participation,
    "no_votes": NoVoteRule,
}


def _session(row: Row) -> Session:
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
        ended="ended_at" in set(row.keys()) and row["ended_at"] is not None,
    )


def _segment(row: Row) -> Segment:
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
        submitted=_submitted(row) if "submitted_prompt_id" in columns else None,
        image_uploads=json.loads(row["image_uploads"] or "{}"),
        created_at=row["created_at"],
        # Absent on a database still at an older migration (its tests open those).
        auto_retries=row["auto_retries"] if "auto_retries" in columns else 0,
        auto_retry_at=row["auto_retry_at"] if "auto_retry_at" in columns else None,
        own_actions=own_actions_of(row["own_actions"] if "own_actions" in columns else None),
        vote_extensions=row["vote_extensions"] if "vote_extensions" in columns else 0,
    )


def _submitted(row: Row) -> SubmittedPrompt | None:
    if not row["submitted_prompt_id"]:
        return None
    seed = row["submitted_seed"]
    return SubmittedPrompt(row["submitted_server"], row["submitted_prompt_id"], seed or 0)


def _draft(row: Row) -> Draft:
    source = row["image_source"]
    prompt = (
        ImagePrompt(row["image_prompt"], row["image_negative"], ImageSource(source))
        if source is not None
        else None
    )
    text = SegmentDraft(
        row["narration"],
        tuple(json.loads(row["choices"])),
        row["scene"],
        row["model"],
        new_scene=bool(row["new_scene"]),
    )
    return Draft(
        int(row["session_id"]),
        int(row["segment_id"]),
        int(row["choice_index"]),
        row["basis"],
        text,
        prompt,
    )
