"""The fleet's line on the GPU in PostgreSQL (`fleet_queue`, migration 017).

Every picture waiting in any process has a row, and so does every text turn waiting for
a GPU shared with pictures. The line alone decides whose turn comes: text first (by
arrival), then live pictures, then the backlog; among pictures the round-robin between
guilds is replayed, each guild's first waiting picture before any guild's second, the
guild served least recently (`fleet_guild_turns`, a counter shared by the fleet) first,
then the guild waiting longest. A process asking for turns (`take_turns`) is granted its
jobs while they come first in that order among the jobs that may start (their guild
under the per-guild cap, the fleet under the total); the first job that may start and
is another process's stops it. Turns are taken under one transaction lock, so the caps
and the order hold together. A newer live picture of a story deletes its waiting one,
whichever process queued it.
"""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.fleet_slots import LineKind, LineTurns, SlotPool

# The line in the fleet's order, as `waiting` rows (a CTE) carrying the sort columns;
# `{may_start}` narrows it to the jobs that may start. Text has no guild turns: it goes by
# arrival. Parameters: now, per_guild (only with may_start).
_LINE = f"""
WITH waiting AS (
  SELECT q.job_id, q.guild, q.kind, q.owner, q.arrived,
         CASE WHEN q.kind = {LineKind.TEXT.value} THEN 0
              ELSE row_number() OVER (PARTITION BY q.kind, q.guild ORDER BY q.arrived)
         END AS round,
         CASE WHEN q.kind = {LineKind.TEXT.value} THEN 0 ELSE COALESCE(g.served, -1) END AS served,
         CASE WHEN q.kind = {LineKind.TEXT.value} THEN q.arrived
              ELSE min(q.arrived) OVER (PARTITION BY q.kind, q.guild)
         END AS since
    FROM fleet_queue q LEFT JOIN fleet_guild_turns g ON g.guild = q.guild
   WHERE q.expires_at >= %(now)s {{may_start}})
"""
_ORDER = "kind, round, served, since, arrived"
_MAY_START = f"""
  AND (q.kind = {LineKind.TEXT.value} OR (SELECT count(*) FROM fleet_slots s
        WHERE s.pool = '{SlotPool.PICTURE.value}' AND s.guild = q.guild AND s.expires_at >= %(now)s)
       < %(per_guild)s)
"""
_GPU_POOLS = f"('{SlotPool.PICTURE.value}', '{SlotPool.GPU_TEXT.value}')"
_FIRST = (
    _LINE.format(may_start=_MAY_START)
    + f"SELECT job_id, guild, kind, owner, (SELECT count(*) FROM fleet_slots"
    f"  WHERE pool IN {_GPU_POOLS} AND expires_at >= %(now)s) AS running"
    f" FROM waiting ORDER BY {_ORDER} LIMIT 1"
)
_POSITIONS = (
    _LINE.format(may_start="") + f"SELECT job_id, ahead FROM (SELECT job_id, owner,"
    f"  row_number() OVER (ORDER BY {_ORDER}) - 1 AS ahead FROM waiting) line"
    f" WHERE owner = %(owner)s"
)


async def enter(
    conn: Any, owner: str, job_id: str, guild: str, session_id: int, kind: LineKind, until: float
) -> None:
    if kind is LineKind.PICTURE:  # one waiting live picture per story, across the fleet
        await conn.execute(
            "DELETE FROM fleet_queue WHERE session_id = %s AND kind = %s",
            (session_id, int(LineKind.PICTURE)),
        )
    await conn.execute(
        "INSERT INTO fleet_queue (job_id, guild, session_id, kind, owner, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
        (job_id, guild, session_id, int(kind), owner, until),
    )


async def take_turns(
    conn: Any, owner: str, per_guild: int, total: int, now: float, until: float
) -> LineTurns:
    """Called inside the slots' transaction lock."""
    granted: list[str] = []
    while len(granted) < total:  # one job a query: each grant moves the line
        cur = await conn.execute(_FIRST, {"now": now, "per_guild": per_guild})
        first = await cur.fetchone()
        if first is None or first["owner"] != owner or first["running"] >= total:
            break
        await _grant(conn, owner, first, until)
        granted.append(first["job_id"])
    cur = await conn.execute("SELECT job_id FROM fleet_queue WHERE owner = %s", (owner,))
    waiting = frozenset(row["job_id"] for row in await cur.fetchall())
    # Rows and slots whose process died long ago go.
    stale = now - (until - now)
    await conn.execute("DELETE FROM fleet_queue WHERE expires_at < %s", (stale,))
    await conn.execute("DELETE FROM fleet_slots WHERE expires_at < %s", (stale,))
    return LineTurns(tuple(granted), waiting)


async def _grant(conn: Any, owner: str, job: dict[str, Any], until: float) -> None:
    text = job["kind"] == LineKind.TEXT
    pool = SlotPool.GPU_TEXT if text else SlotPool.PICTURE
    await conn.execute(
        "INSERT INTO fleet_slots (job_id, pool, guild, owner, expires_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id) DO UPDATE"
        " SET owner = excluded.owner, expires_at = excluded.expires_at",
        (job["job_id"], pool.value, job["guild"], owner, until),
    )
    await conn.execute("DELETE FROM fleet_queue WHERE job_id = %s", (job["job_id"],))
    if not text:  # its guild goes to the back of the round
        await conn.execute(
            "INSERT INTO fleet_guild_turns (guild, served)"
            " VALUES (%s, (SELECT COALESCE(max(served), 0) + 1 FROM fleet_guild_turns))"
            " ON CONFLICT (guild) DO UPDATE SET served = excluded.served",
            (job["guild"],),
        )


async def positions(conn: Any, owner: str, now: float) -> dict[str, int]:
    """How many live waiting jobs of the fleet come before each of this process's, in the
    line's order (the round-robin replayed; caps not foreseen)."""
    cur = await conn.execute(_POSITIONS, {"now": now, "owner": owner})
    return {row["job_id"]: int(row["ahead"]) for row in await cur.fetchall()}


async def renew(conn: Any, owner: str, job_ids: list[str], until: float) -> None:
    await conn.execute(
        "UPDATE fleet_queue SET expires_at = %s WHERE job_id = ANY(%s) AND owner = %s",
        (until, job_ids, owner),
    )


async def leave(conn: Any, owner: str, job_id: str) -> None:
    await conn.execute("DELETE FROM fleet_queue WHERE job_id = %s AND owner = %s", (job_id, owner))
