"""The fleet's line of pictures in PostgreSQL (`fleet_queue`, migration 016).

Every picture waiting in any process has a row. A process's own queue still decides
which of its pictures ask next (`asking`); among the asking pictures of every process,
the fleet's order decides: live pictures before the backlog, then the guild served least
recently (`fleet_guild_turns`, a counter shared by the fleet), then arrival. A newer live
picture of a story deletes its waiting one, whichever process queued it. Turns are taken
under the same transaction lock as picture slots, so the caps and the order hold together.
"""

from __future__ import annotations

from typing import Any

from storycraft_bot.core.fleet_slots import LineTurn

# The order of the fleet's line, as a sort key over `fleet_queue q` joined to
# `fleet_guild_turns g` (a guild never served goes first).
_ORDER = "q.backlog, COALESCE(g.served, -1), q.arrived"


async def enter(
    conn: Any, owner: str, job_id: str, guild: str, session_id: int, backlog: bool, until: float
) -> None:
    if not backlog:  # one waiting live picture per story, across the fleet
        await conn.execute(
            "DELETE FROM fleet_queue WHERE session_id = %s AND NOT backlog",
            (session_id,),
        )
    await conn.execute(
        "INSERT INTO fleet_queue (job_id, guild, session_id, backlog, owner, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
        (job_id, guild, session_id, backlog, owner, until),
    )


async def take_turn(
    conn: Any, owner: str, job_id: str, per_guild: int, total: int, now: float, until: float
) -> LineTurn:
    """Called inside the slots' transaction lock."""
    cur = await conn.execute(
        "UPDATE fleet_queue SET asking = TRUE, expires_at = %s WHERE job_id = %s RETURNING guild",
        (until, job_id),
    )
    mine = await cur.fetchone()
    if mine is None:
        return LineTurn.GONE
    guild = mine["guild"]
    cur = await conn.execute(
        f"SELECT q.job_id FROM fleet_queue q LEFT JOIN fleet_guild_turns g ON g.guild = q.guild"
        f" WHERE q.asking AND q.expires_at >= %(now)s AND (SELECT count(*) FROM fleet_slots s"
        f"   WHERE s.pool = 'picture' AND s.guild = q.guild AND s.expires_at >= %(now)s)"
        f"   < %(per_guild)s"
        f" ORDER BY {_ORDER} LIMIT 1",
        {"now": now, "per_guild": per_guild},
    )
    first = await cur.fetchone()
    cur = await conn.execute(
        "SELECT count(*) AS running FROM fleet_slots"
        " WHERE pool = 'picture' AND expires_at >= %s AND job_id != %s",
        (now, job_id),
    )
    used = await cur.fetchone()
    if first is None or first["job_id"] != job_id or used["running"] >= total:
        return LineTurn.WAIT
    await conn.execute(
        "INSERT INTO fleet_slots (job_id, pool, guild, owner, expires_at)"
        " VALUES (%s, 'picture', %s, %s, %s) ON CONFLICT (job_id) DO UPDATE"
        " SET owner = excluded.owner, expires_at = excluded.expires_at",
        (job_id, guild, owner, until),
    )
    await conn.execute("DELETE FROM fleet_queue WHERE job_id = %s", (job_id,))
    await conn.execute(
        "INSERT INTO fleet_guild_turns (guild, served)"
        " VALUES (%s, (SELECT COALESCE(max(served), 0) + 1 FROM fleet_guild_turns))"
        " ON CONFLICT (guild) DO UPDATE SET served = excluded.served",
        (guild,),
    )
    # Rows whose process died long ago go.
    await conn.execute("DELETE FROM fleet_queue WHERE expires_at < %s", (now - (until - now),))
    return LineTurn.GRANTED


async def ahead(conn: Any, job_id: str, now: float) -> int | None:
    """How many live waiting pictures of the fleet come before this one by the line's
    order (None if it left the line)."""
    cur = await conn.execute(
        f"WITH line AS (SELECT q.job_id, row_number() OVER (ORDER BY {_ORDER}) AS n"
        f"  FROM fleet_queue q LEFT JOIN fleet_guild_turns g ON g.guild = q.guild"
        f"  WHERE q.expires_at >= %s OR q.job_id = %s)"
        f" SELECT n - 1 AS ahead FROM line WHERE job_id = %s",
        (now, job_id, job_id),
    )
    row = await cur.fetchone()
    return None if row is None else int(row["ahead"])


async def renew(conn: Any, owner: str, job_ids: list[str], until: float) -> None:
    await conn.execute(
        "UPDATE fleet_queue SET expires_at = %s WHERE job_id = ANY(%s) AND owner = %s",
        (until, job_ids, owner),
    )


async def leave(conn: Any, owner: str, job_id: str) -> None:
    await conn.execute("DELETE FROM fleet_queue WHERE job_id = %s AND owner = %s", (job_id, owner))
