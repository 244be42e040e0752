"""Coordination between processes on one real PostgreSQL, each process played here by
its own PostgresCoordination (own connections, own owner id) on the fake clock: a place's
lock holds across them, a due vote or a stalled segment is claimed by one of them, a
writer's lease keeps others out until it runs out."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import psycopg

from storycraft_bot.core.coordination import LocalCoordination
from storycraft_bot.core.models import Actor, ChannelKey, Language, Platform, StorySettings
from storycraft_bot.storage.fleet import PostgresCoordination
from storycraft_bot.storage.postgres import PostgresStore
from tests.conftest import FLEET_LEASE as LEASE
from tests.conftest import GROUP, FleetPair

ALICE = Actor("u1", "Alice")
NOW = 1_800_000_000.0
CHANNELS = itertools.count(1)


async def someone_waits_on_an_advisory_lock(url: str) -> bool:
    """Whether a backend waits for an advisory lock (asked again for up to 10 s)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(1000):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            row = await cur.fetchone()
            if row is not None and row[0] > 0:
                return True
            await asyncio.sleep(0.01)
    return False


async def test_a_place_lock_held_by_one_process_makes_the_other_wait(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    url, _ = fleet_db
    first, second = pair
    key = ChannelKey(Platform.TELEGRAM, "-100")
    entered = asyncio.Event()

    async def other() -> None:
        async with second.place_lock(key):
            entered.set()

    async with first.place_lock(key):
        waiter = asyncio.create_task(other())
        assert await someone_waits_on_an_advisory_lock(url)
        assert not entered.is_set()
        # Another place is not held up.
        async with second.place_lock(ChannelKey(Platform.TELEGRAM, "-200")):
            pass
    async with asyncio.timeout(10):
        await waiter
    assert entered.is_set()


async def open_segment(store: PostgresStore, closes_at: float | None) -> int:
    place = replace(GROUP, key=ChannelKey(Platform.DISCORD, f"c{next(CHANNELS)}"))
    session = await store.create_session(
        place, ALICE, Language.EN, "fantasy", "", StorySettings(), NOW
    )
    segment = await store.add_segment(session.id, 0, "", NOW)
    await store.fail_segment(segment.id, NOW)  # any state; set to open below
    async with store.pool.connection() as conn:
        await conn.execute(
            "UPDATE segments SET state = 'open', vote_closes_at = %s WHERE id = %s",
            (closes_at, segment.id),
        )
    return segment.id


async def test_due_votes_are_claimed_by_one_process_each(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    due = {await open_segment(store, NOW - 1) for _ in range(3)}
    await open_segment(store, NOW + 60)  # still open for a minute
    await open_segment(store, None)  # nobody voted yet

    claims = await asyncio.gather(first.claim_due_votes(NOW), second.claim_due_votes(NOW))

    assert set(claims[0]) | set(claims[1]) == due
    assert not set(claims[0]) & set(claims[1])
    assert await second.claim_due_votes(NOW + 1) == []  # claimed, not yet expired
    # A claim whose process never closed the vote runs out; the vote is claimed again.
    again = await second.claim_due_votes(NOW + LEASE + 1)
    assert set(again) == due


async def test_a_writers_lease_keeps_others_out_until_it_runs_out(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    session = await store.create_session(
        GROUP, ALICE, Language.EN, "fantasy", "", StorySettings(), NOW
    )
    segment = await store.add_segment(session.id, 0, "", NOW)

    assert await first.hold_segment(segment.id, NOW)
    assert not await second.hold_segment(segment.id, NOW + 1)
    assert await first.renew_segment(segment.id, NOW + LEASE - 1)  # now good until 2*LEASE-1
    assert await second.claim_stalled_segments(NOW + LEASE + 1) == []

    later = NOW + 2 * LEASE  # the first process stopped renewing
    claimed = await asyncio.gather(
        first.claim_stalled_segments(later), second.claim_stalled_segments(later)
    )
    assert sorted(claimed[0] + claimed[1]) == [segment.id]
    winner, loser = (first, second) if claimed[0] else (second, first)
    assert await winner.renew_segment(segment.id, later)
    assert not await loser.renew_segment(segment.id, later)


async def test_a_segment_whose_writer_died_before_taking_its_lease_is_stalled(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, _ = pair
    session = await store.create_session(
        GROUP, ALICE, Language.EN, "fantasy", "", StorySettings(), NOW
    )
    segment = await store.add_segment(session.id, 0, "", NOW)

    assert await first.claim_stalled_segments(NOW + 1) == []  # its writer may be starting
    assert await first.claim_stalled_segments(NOW + LEASE + 1) == [segment.id]
    await first.release_segment(segment.id)
    assert await first.hold_segment(segment.id, NOW + LEASE + 2)


async def test_one_process_alone_holds_every_lease_and_claims_nothing() -> None:
    local = LocalCoordination()

    assert not local.shared
    assert await local.hold_segment(1, NOW)
    assert await local.renew_segment(1, NOW)
    assert await local.claim_due_votes(NOW) == []
    assert await local.claim_stalled_segments(NOW) == []
    async with local.place_lock(ChannelKey(Platform.CONSOLE, "1")):
        pass


async def test_a_due_automatic_try_is_claimed_by_one_process(
    fleet_db: tuple[str, PostgresStore],
    pair: FleetPair,
) -> None:
    _, store = fleet_db
    first, second = pair
    session = await store.create_session(
        GROUP, ALICE, Language.EN, "fantasy", "", StorySettings(), NOW
    )
    segment = await store.add_segment(session.id, 0, "", NOW)
    await store.fail_segment(segment.id, NOW)
    await store.set_auto_retry(segment.id, 1, NOW + 30)

    assert await first.claim_due_retries(NOW + 29) == []  # not yet due
    claims = await asyncio.gather(
        first.claim_due_retries(NOW + 31), second.claim_due_retries(NOW + 31)
    )
    assert sorted(claims[0] + claims[1]) == [segment.id]


async def test_more_busy_places_than_lock_connections_queue_instead_of_failing(
    fleet_db: tuple[str, PostgresStore],
) -> None:
    url, _ = fleet_db
    release = asyncio.Event()
    entered: list[str] = []

    async with PostgresCoordination(url, "one", lock_connections=1, connect_timeout=0.1) as one:

        async def hold(channel: str) -> None:
            async with one.place_lock(ChannelKey(Platform.DISCORD, channel)):
                entered.append(channel)
                await release.wait()

        first = asyncio.create_task(hold("a"))
        async with asyncio.timeout(10):
            while not entered:  # noqa: ASYNC110  # a task of ours, not an event to wait for
                await asyncio.sleep(0.01)
        second = asyncio.create_task(hold("b"))  # no lock connection left: it queues
        # Longer than the pool's connect timeout: waiting for a lock is not a failure.
        await asyncio.sleep(0.5)
        assert not second.done()
        assert entered == ["a"]

        release.set()
        async with asyncio.timeout(10):
            await asyncio.gather(first, second)
    assert entered == ["a", "b"]
