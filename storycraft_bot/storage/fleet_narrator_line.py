"""The fleet's narrator line in PostgreSQL (`fleet_narrator_queue`, migration 018).

Every narrator request waiting in any process has a row. The line alone decides whose
request gets the next of the fleet's narrator slots: by kind (story text, then memories,
then image prompts, then prewrites), and within a kind the guilds in turn, each guild's
first waiting request before any guild's second, the guild served least recently
(`fleet_narrator_turns`, shared by the fleet) first, then the guild waiting longest. A
process asking for turns is granted its requests while they come first and the fleet
has a slot free (prewrites leave one for live text); turns are taken under one
transaction lock, so the order and the capacity hold together.
"""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.fleet_slots import LineTurns, SlotPool
from storycraft_bot.core.ports import TextKind

_LINE = """
WITH waiting AS (
  SELECT q.job_id, q.guild, q.kind, q.owner, q.arrived,
         row_number() OVER (PARTITION BY q.kind, q.guild ORDER BY q.arrived) AS round,
         COALESCE(t.served, -1) AS served,
         min(q.arrived) OVER (PARTITION BY q.kind, q.guild) AS since
    FROM fleet_narrator_queue q
    LEFT JOIN fleet_narrator_turns t ON t.kind = q.kind AND t.guild = q.guild
   WHERE q.expires_at >= %(now)s)
"""
_ORDER = "kind, round, served, since, arrived"
_FIRST = (
    _LINE + f"SELECT job_id, guild, kind, owner, (SELECT count(*) FROM fleet_slots"
    f"  WHERE pool = '{SlotPool.TEXT.value}' AND expires_at >= %(now)s) AS running"
    f" FROM waiting ORDER BY {_ORDER} LIMIT 1"
)
_POSITIONS = (
    _LINE + f"SELECT job_id, ahead FROM (SELECT job_id, owner,"
    f"  row_number() OVER (ORDER BY {_ORDER}) - 1 AS ahead FROM waiting) line"
    f" WHERE owner = %(owner)s"
)


async def enter(
    conn: Any, owner: str, job_id: str, guild: str, kind: TextKind, until: float
) -> None:
    await conn.execute(
        "INSERT INTO fleet_narrator_queue (job_id, guild, kind, owner, expires_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
        (job_id, guild, int(kind), owner, until),
    )


async def take_turns(
    conn: Any, owner: str, total: int, prewrites: int, now: float, until: float
) -> LineTurns:
    """Called inside the narrator's transaction lock. `prewrites`: how many slots in all
    may be busy for a prewrite to start."""
    granted: list[str] = []
    while True:  # one request a query: each grant moves the line
        cur = await conn.execute(_FIRST, {"now": now})
        first = await cur.fetchone()
        if first is None or first["owner"] != owner:
            break
        cap = prewrites if first["kind"] == TextKind.PREWRITE else total
        if first["running"] >= cap:
            break
        await _grant(conn, owner, first, until)
        granted.append(first["job_id"])
    cur = await conn.execute("SELECT job_id FROM fleet_narrator_queue WHERE owner = %s", (owner,))
    waiting = frozenset(row["job_id"] for row in await cur.fetchall())
    # Rows whose process died long ago go (its slots go with the GPU line's sweep too).
    stale = now - (until - now)
    await conn.execute("DELETE FROM fleet_narrator_queue WHERE expires_at < %s", (stale,))
    await conn.execute(
        "DELETE FROM fleet_slots WHERE pool = %s AND expires_at < %s", (SlotPool.TEXT.value, stale)
    )
    return LineTurns(tuple(granted), waiting)


async def _grant(conn: Any, owner: str, job: dict[str, Any], until: float) -> None:
    await conn.execute(
        "INSERT INTO fleet_slots (job_id, pool, guild, owner, expires_at)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id) DO UPDATE"
        " SET owner = excluded.owner, expires_at = excluded.expires_at",
        (job["job_id"], SlotPool.TEXT.value, job["guild"], owner, until),
    )
    await conn.execute("DELETE FROM fleet_narrator_queue WHERE job_id = %s", (job["job_id"],))
    # Its guild goes to the back of its kind's round.
    await conn.execute(
        "INSERT INTO fleet_narrator_turns (kind, guild, served)"
        " VALUES (%s, %s, (SELECT COALESCE(max(served), 0) + 1 FROM fleet_narrator_turns))"
        " ON CONFLICT (kind, guild) DO UPDATE SET served = excluded.served",
        (job["kind"], job["guild"]),
    )


async def positions(conn: Any, owner: str, now: float) -> dict[str, int]:
    """How many live waiting requests of the fleet come before each of this process's."""
    cur = await conn.execute(_POSITIONS, {"now": now, "owner": owner})
    return {row["job_id"]: int(row["ahead"]) for row in await cur.fetchall()}


async def renew(conn: Any, owner: str, job_ids: list[str], until: float) -> None:
    await conn.execute(
        "UPDATE fleet_narrator_queue SET expires_at = %s WHERE job_id = ANY(%s) AND owner = %s",
        (until, job_ids, owner),
    )


async def leave(conn: Any, owner: str, job_id: str) -> None:
    await conn.execute(
        "DELETE FROM fleet_narrator_queue WHERE job_id = %s AND owner = %s", (job_id, owner)
    )


async def live_text_held_back(conn: Any, total: int, now: float) -> bool:
    """Whether a request other than a prewrite waits while the fleet's slots are all busy."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM fleet_narrator_queue"
        "   WHERE kind != %(prewrite)s AND expires_at >= %(now)s)"
        " AND (SELECT count(*) FROM fleet_slots"
        "   WHERE pool = %(pool)s AND expires_at >= %(now)s) >= %(total)s AS held",
        {
            "prewrite": int(TextKind.PREWRITE),
            "now": now,
            "pool": SlotPool.TEXT.value,
            "total": total,
        },
    )
    row = await cur.fetchone()
    return bool(row and row["held"])
