"""Coordination of several processes on one PostgreSQL (the core's `Coordination` port).

- A place's lock is the process's asyncio lock (one waiter per place here) and then a
  session advisory lock on a connection of a pool of its own, held for the critical
  section: the store's pool stays free for the statements inside, and a process that
  dies drops its connections, so the server frees its locks at once.
- Claims live in `fleet_claims` (migration 015): a 'write' lease on a segment being
  written, renewed while the narrator streams; a 'vote' claim on a due vote, a 'retry'
  claim on a failed part's due automatic try. Due work and stalled segments are claimed
  with `FOR UPDATE SKIP LOCKED`, so two sweeping processes never claim the same row, and
  a claim is taken over only once it expired.
Times are the processes' clock (the injected one), as every other time in the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from storycraft_bot.core.fleet_slots import LineKind, LineTurns
from storycraft_bot.core.models import ChannelKey
from storycraft_bot.core.ports import TextKind
from storycraft_bot.core.supervision import ChannelLocks
from storycraft_bot.storage import fleet_line, fleet_narrator_line
from storycraft_bot.storage.postgres import Connection

# Claim rows for `segments` chosen by `{due}`, locked and skipped if another process is
# claiming them, taken if free or expired. Parameters: owner, expires_at, now, limit.
_CLAIM = """
INSERT INTO fleet_claims (segment_id, kind, owner, expires_at)
SELECT s.id, %(kind)s, %(owner)s, %(until)s
  FROM segments s JOIN sessions ss ON ss.id = s.session_id
 WHERE ss.state = 'active' AND {due}
   AND NOT EXISTS (SELECT 1 FROM fleet_claims c
                    WHERE c.segment_id = s.id AND c.kind = %(kind)s AND c.expires_at >= %(now)s)
 ORDER BY s.id LIMIT %(limit)s
   FOR UPDATE OF s SKIP LOCKED
ON CONFLICT (segment_id, kind) DO UPDATE
   SET owner = excluded.owner, expires_at = excluded.expires_at
 WHERE fleet_claims.expires_at < %(now)s
RETURNING segment_id
"""
_DUE_VOTE = "s.state = 'open' AND s.vote_closes_at <= %(now)s"
_DUE_RETRY = "s.state = 'failed' AND s.auto_retry_at <= %(now)s"
# A segment being written with no live lease: expired, or never taken (the process died
# between deciding and writing) and older than a lease.
_STALLED = (
    "s.state = 'generating' AND (EXISTS (SELECT 1 FROM fleet_claims w WHERE w.segment_id = s.id"
    " AND w.kind = 'write') OR s.updated_at < %(now)s - %(lease)s)"
)
# A picture still wanted whose drawer's claim ran out. The claim is taken before the
# image prompt is written, so 'none' with a claim is a picture whose prompt was being
# written; a part whose picture nobody asked for has no claim.
_ORPHANED_PICTURE = (
    "s.state IN ('open', 'decided') AND s.image_state IN ('none', 'queued', 'drawing')"
    " AND EXISTS (SELECT 1 FROM fleet_claims p WHERE p.segment_id = s.id AND p.kind = 'picture')"
)
# Kinds whose expired claims stay until taken over (they mark work somebody left).
_KEPT_WHEN_EXPIRED = ("write", "picture")
# The advisory lock that queues takers of picture slots (any fixed number).
_SLOTS_LOCK = 0x5C0DE515
# The advisory lock that queues takers of narrator turns.
_NARRATOR_LOCK = 0x5C0DE516
# How long a place waits for a lock connection before its command fails.
_LOCK_QUEUE_SECONDS = 300.0
# How many rows one sweep claims at most (the rest wait for the next sweep).
_CLAIM_LIMIT = 50


def fleet_owner() -> str:
    """This process's name in `fleet_claims`: host, process id and a random tail (a pid
    comes back after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def place_number(key: ChannelKey) -> int:
    """The place's advisory lock key: 64 bits of a hash of the key, signed as bigint."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8, person=b"storycraft").digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresCoordination:
    """Locks and claims shared by every process on the database at `url`."""

    def __init__(
        self,
        url: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        sweep_seconds: float = 5.0,
        lock_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        self._owner = owner
        self._lease = lease_seconds
        self._sweep = sweep_seconds
        self._local = ChannelLocks()
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            connection_class=Connection,
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=lock_connections,
            timeout=connect_timeout,
            open=False,
        )

    async def __aenter__(self) -> PostgresCoordination:
        await self._pool.open(wait=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.close()

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def shared(self) -> bool:
        return True

    @property
    def lease_seconds(self) -> float:
        return self._lease

    @property
    def sweep_seconds(self) -> float:
        return self._sweep

    @contextlib.asynccontextmanager
    async def place_lock(self, key: ChannelKey) -> AsyncIterator[None]:
        number = place_number(key)
        # More places busy at once than lock connections: the rest queue for one, as
        # they would for the lock itself, rather than fail after the connect timeout.
        async with self._local(key), self._pool.connection(timeout=_LOCK_QUEUE_SECONDS) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (number,))
            try:
                yield
            finally:
                # Should unlocking fail, the pool drops the broken connection, and the
                # server frees the lock with it.
                await conn.execute("SELECT pg_advisory_unlock(%s)", (number,))

    async def hold_segment(self, segment_id: int, now: float) -> bool:
        row = await self._one(
            "INSERT INTO fleet_claims (segment_id, kind, owner, expires_at)"
            " VALUES (%s, 'write', %s, %s) ON CONFLICT (segment_id, kind) DO UPDATE"
            " SET owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE fleet_claims.owner = excluded.owner OR fleet_claims.expires_at < %s"
            " RETURNING segment_id",
            (segment_id, self._owner, now + self._lease, now),
        )
        return row is not None

    async def renew_segment(self, segment_id: int, now: float) -> bool:
        # Not renewed (so lost) once another process retried, undid, stopped or paused.
        row = await self._one(
            "UPDATE fleet_claims SET expires_at = %s"
            " WHERE segment_id = %s AND kind = 'write' AND owner = %s AND EXISTS"
            " (SELECT 1 FROM segments s JOIN sessions ss ON ss.id = s.session_id"
            "   WHERE s.id = fleet_claims.segment_id AND s.state != 'superseded'"
            "   AND ss.state = 'active')"
            " RETURNING segment_id",
            (now + self._lease, segment_id, self._owner),
        )
        return row is not None

    async def release_segment(self, segment_id: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM fleet_claims WHERE segment_id = %s AND kind = 'write' AND owner = %s",
                (segment_id, self._owner),
            )

    async def claim_due_votes(self, now: float) -> list[int]:
        return await self._claim("vote", _DUE_VOTE, now)

    async def claim_stalled_segments(self, now: float) -> list[int]:
        return await self._claim("write", _STALLED, now)

    async def claim_due_retries(self, now: float) -> list[int]:
        return await self._claim("retry", _DUE_RETRY, now)

    # Pictures: who draws each one (core.picture_leases)

    async def hold_picture(self, segment_id: int, now: float, *, take: bool) -> bool:
        row = await self._one(
            "INSERT INTO fleet_claims (segment_id, kind, owner, expires_at)"
            " VALUES (%s, 'picture', %s, %s) ON CONFLICT (segment_id, kind) DO UPDATE"
            " SET owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE %s OR fleet_claims.owner = excluded.owner OR fleet_claims.expires_at < %s"
            " RETURNING segment_id",
            (segment_id, self._owner, now + self._lease, take, now),
        )
        return row is not None

    async def renew_pictures(self, segment_ids: list[int], now: float) -> list[int]:
        # Not renewed (so lost) once its part was retried or undone or its story stopped
        # or paused at any process, or another process took the picture over. A story
        # that reached its ending is stopped too, but its last pictures are still drawn.
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE fleet_claims SET expires_at = %s"
                " WHERE segment_id = ANY(%s) AND kind = 'picture' AND owner = %s AND EXISTS"
                " (SELECT 1 FROM segments s JOIN sessions ss ON ss.id = s.session_id"
                "   WHERE s.id = fleet_claims.segment_id AND s.state != 'superseded'"
                "   AND (ss.state = 'active' OR ss.ended_at IS NOT NULL))"
                " RETURNING segment_id",
                (now + self._lease, segment_ids, self._owner),
            )
            return [int(row["segment_id"]) for row in await cur.fetchall()]

    async def release_picture(self, segment_id: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM fleet_claims"
                " WHERE segment_id = %s AND kind = 'picture' AND owner = %s",
                (segment_id, self._owner),
            )

    async def claim_orphaned_pictures(self, now: float) -> list[int]:
        return await self._claim("picture", _ORPHANED_PICTURE, now)

    # Drafts written in advance: one process per open part (core.leases.DraftLeases)

    async def hold_draft(self, segment_id: int, now: float) -> bool:
        row = await self._one(
            "INSERT INTO fleet_claims (segment_id, kind, owner, expires_at)"
            " VALUES (%s, 'draft', %s, %s) ON CONFLICT (segment_id, kind) DO UPDATE"
            " SET owner = excluded.owner, expires_at = excluded.expires_at"
            " WHERE fleet_claims.owner = excluded.owner OR fleet_claims.expires_at < %s"
            " RETURNING segment_id",
            (segment_id, self._owner, now + self._lease, now),
        )
        return row is not None

    async def renew_draft(self, segment_id: int, now: float) -> bool:
        row = await self._one(
            "UPDATE fleet_claims SET expires_at = %s"
            " WHERE segment_id = %s AND kind = 'draft' AND owner = %s AND EXISTS"
            " (SELECT 1 FROM segments s JOIN sessions ss ON ss.id = s.session_id"
            "   WHERE s.id = fleet_claims.segment_id AND s.state = 'open'"
            "   AND ss.state = 'active')"
            " RETURNING segment_id",
            (now + self._lease, segment_id, self._owner),
        )
        return row is not None

    async def release_draft(self, segment_id: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM fleet_claims WHERE segment_id = %s AND kind = 'draft' AND owner = %s",
                (segment_id, self._owner),
            )

    # Fleet slots (core.fleet_slots.FleetSlots)

    async def renew_slots(self, job_ids: list[str], now: float) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE fleet_slots SET expires_at = %s WHERE job_id = ANY(%s) AND owner = %s",
                (now + self._lease, job_ids, self._owner),
            )

    async def give_slot_back(self, job_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM fleet_slots WHERE job_id = %s AND owner = %s",
                (job_id, self._owner),
            )

    # The fleet's line on the GPU (pictures.fleet_queue.FleetLine)

    async def enter_line(
        self, job_id: str, guild: str, session_id: int, kind: LineKind, now: float
    ) -> None:
        async with self._pool.connection() as conn:
            await fleet_line.enter(
                conn, self._owner, job_id, guild, session_id, kind, now + self._lease
            )

    async def take_turns(self, per_guild: int, total: int, now: float) -> LineTurns:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SLOTS_LOCK,))
            return await fleet_line.take_turns(
                conn, self._owner, per_guild, total, now, now + self._lease
            )

    async def line_positions(self, now: float) -> dict[str, int]:
        async with self._pool.connection() as conn:
            return await fleet_line.positions(conn, self._owner, now)

    async def renew_line(self, job_ids: list[str], now: float) -> None:
        async with self._pool.connection() as conn:
            await fleet_line.renew(conn, self._owner, job_ids, now + self._lease)

    async def leave_line(self, job_id: str) -> None:
        async with self._pool.connection() as conn:
            await fleet_line.leave(conn, self._owner, job_id)

    # The fleet's narrator line (core.fleet_narration.FleetNarratorLine)

    async def enter_narrator_line(
        self, job_id: str, guild: str, kind: TextKind, now: float
    ) -> None:
        async with self._pool.connection() as conn:
            await fleet_narrator_line.enter(
                conn, self._owner, job_id, guild, kind, now + self._lease
            )

    async def take_narrator_turns(self, total: int, prewrites: int, now: float) -> LineTurns:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_NARRATOR_LOCK,))
            return await fleet_narrator_line.take_turns(
                conn, self._owner, total, prewrites, now, now + self._lease
            )

    async def narrator_positions(self, now: float) -> dict[str, int]:
        async with self._pool.connection() as conn:
            return await fleet_narrator_line.positions(conn, self._owner, now)

    async def renew_narrator_line(self, job_ids: list[str], now: float) -> None:
        async with self._pool.connection() as conn:
            await fleet_narrator_line.renew(conn, self._owner, job_ids, now + self._lease)

    async def live_text_held_back(self, total: int, now: float) -> bool:
        async with self._pool.connection() as conn:
            return await fleet_narrator_line.live_text_held_back(conn, total, now)

    async def leave_narrator_line(self, job_id: str) -> None:
        async with self._pool.connection() as conn:
            await fleet_narrator_line.leave(conn, self._owner, job_id)

    async def _claim(self, kind: str, due: str, now: float) -> list[int]:
        params = {
            "kind": kind,
            "owner": self._owner,
            "until": now + self._lease,
            "now": now,
            "lease": self._lease,
            "limit": _CLAIM_LIMIT,
        }
        async with self._pool.connection() as conn, conn.transaction():
            # Spent claims of due work go (work still due is claimed again just below).
            await conn.execute(
                "DELETE FROM fleet_claims WHERE kind != ALL(%s) AND expires_at < %s",
                (list(_KEPT_WHEN_EXPIRED), now),
            )
            cur = await conn.execute(_CLAIM.format(due=due), params)
            return [int(row["segment_id"]) for row in await cur.fetchall()]

    async def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()
