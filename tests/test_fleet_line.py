"""The fleet's line of pictures on one real PostgreSQL, each process played by its own
PostgresCoordination on the fake clock: the guild served least recently goes first
whichever process asks, live pictures go before the backlog, a newer picture of a story
replaces its waiting one at the other process, positions count both processes' pictures,
and a dead process's pictures stop holding the line once their time ran out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest

from storycraft_bot.core.fleet_slots import SLOT_POLL_SECONDS, LineTurn
from storycraft_bot.pictures.fleet_queue import FleetGpuQueue
from storycraft_bot.pictures.gpu_queue import JobKind
from storycraft_bot.storage.fleet import PostgresCoordination
from storycraft_bot.storage.postgres import PostgresStore
from tests.fakes import FakeClock
from tests.postgres_server import PostgresServer

LEASE = 30.0
NOW = 1_800_000_000.0
GRANTED, WAIT, GONE = LineTurn.GRANTED, LineTurn.WAIT, LineTurn.GONE


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    return postgres_server.fresh_url()


@pytest.fixture
async def pair(url: str) -> AsyncIterator[tuple[PostgresCoordination, PostgresCoordination]]:
    async with (
        PostgresStore(url, pool_size=2),  # migrates the database
        PostgresCoordination(url, "first", lease_seconds=LEASE, lock_connections=3) as first,
        PostgresCoordination(url, "second", lease_seconds=LEASE, lock_connections=3) as second,
    ):
        yield first, second


async def test_the_guild_served_least_recently_goes_first_across_processes(
    pair: tuple[PostgresCoordination, PostgresCoordination],
) -> None:
    first, second = pair
    await first.enter_line("a1", "g1", 1, False, NOW)
    assert await first.take_turn("a1", 1, 1, NOW) is GRANTED  # guild g1 served
    await first.enter_line("a2", "g1", 2, False, NOW)  # arrives before b1
    await second.enter_line("b1", "g2", 3, False, NOW)
    assert await first.take_turn("a2", 1, 1, NOW) is WAIT  # the GPU is busy
    assert await second.take_turn("b1", 1, 1, NOW) is WAIT
    assert await first.line_ahead("a2", NOW) == 1  # b1, at the other process, first
    assert await second.line_ahead("b1", NOW) == 0

    await first.give_slot_back("a1")
    assert await first.take_turn("a2", 1, 1, NOW) is WAIT  # g2 was never served
    assert await second.take_turn("b1", 1, 1, NOW) is GRANTED
    await second.give_slot_back("b1")
    assert await first.take_turn("a2", 1, 1, NOW) is GRANTED


async def test_live_pictures_go_before_the_backlog_of_either_process(
    pair: tuple[PostgresCoordination, PostgresCoordination],
) -> None:
    first, second = pair
    await first.enter_line("drawing", "g0", 9, False, NOW)
    assert await first.take_turn("drawing", 1, 1, NOW) is GRANTED  # the GPU is busy
    await first.enter_line("old", "g1", 1, True, NOW)  # recovered after a restart
    await second.enter_line("new", "g2", 2, False, NOW)
    assert await first.take_turn("old", 1, 1, NOW) is WAIT
    assert await second.take_turn("new", 1, 1, NOW) is WAIT
    assert await first.line_ahead("old", NOW) == 1

    await first.give_slot_back("drawing")
    assert await first.take_turn("old", 1, 1, NOW) is WAIT  # it came first, it goes after
    assert await second.take_turn("new", 1, 1, NOW) is GRANTED
    await second.give_slot_back("new")
    assert await first.take_turn("old", 1, 1, NOW) is GRANTED


async def test_a_newer_picture_of_a_story_replaces_its_waiting_one_at_the_other_process(
    pair: tuple[PostgresCoordination, PostgresCoordination],
) -> None:
    first, second = pair
    await first.enter_line("backlog", "g1", 7, True, NOW)
    await first.enter_line("older", "g1", 7, False, NOW)
    await second.enter_line("newer", "g1", 7, False, NOW)

    assert await first.take_turn("older", 1, 2, NOW) is GONE
    assert await first.line_ahead("older", NOW) is None
    assert await second.take_turn("newer", 1, 2, NOW) is GRANTED
    assert await first.line_ahead("backlog", NOW) == 0  # the backlog is not replaced


async def test_a_dead_processs_pictures_stop_holding_the_line_when_their_time_runs_out(
    pair: tuple[PostgresCoordination, PostgresCoordination],
) -> None:
    first, second = pair
    await second.enter_line("dead", "g2", 1, False, NOW)
    assert await second.take_turn("dead", 1, 1, NOW) is GRANTED
    await second.enter_line("dead-waiting", "g3", 2, False, NOW)
    assert await second.take_turn("dead-waiting", 1, 1, NOW) is WAIT  # ... then it dies
    await first.enter_line("alive", "g1", 3, False, NOW + 1)

    assert await first.take_turn("alive", 1, 1, NOW + 1) is WAIT
    assert await first.line_ahead("alive", NOW + 1) == 1
    await first.renew_line(["alive"], NOW + LEASE)  # kept alive; the other's are not
    later = NOW + LEASE + 1
    assert await first.line_ahead("alive", later) == 0
    assert await first.take_turn("alive", 1, 1, later) is GRANTED
    await first.leave_line("alive")
    assert await first.line_ahead("alive", later) is None


async def test_two_processes_queues_take_turns_in_the_fleets_order_and_report_its_line(
    url: str, pair: tuple[PostgresCoordination, PostgresCoordination]
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetGpuQueue(first, clock)  # one picture at a time, for the whole fleet
    two = FleetGpuQueue(second, clock)
    drawing = one.join(JobKind.PICTURE, "g1", 1, "a1")
    await one.wait(drawing)
    waiting_here = one.join(JobKind.PICTURE, "g3", 3, "a2")
    first_waiter = asyncio.create_task(one.wait(waiting_here))
    await until(lambda: in_line(first, "a2"))
    told: list[int] = []

    async def tell(ahead: int) -> None:
        told.append(ahead)

    there = two.join(JobKind.PICTURE, "g2", 2, "b1")
    second_waiter = asyncio.create_task(two.wait(there, tell))
    await until(lambda: told_any(told))
    # Nothing waits in the second process's own queue; a2, at the first, comes first.
    assert told == [1]

    one.done(drawing)  # a2 is granted in its own process's queue, and asks the fleet

    async def a2_asked() -> bool:
        return first_waiter.done() or await asking(url, "a2")

    await until(a2_asked)  # before the second process asks again (on the fake clock)
    await turns(clock, lambda: first_waiter.done())
    assert not second_waiter.done()  # the GPU is a2's now
    await turns(clock, lambda: len(told) == 2)  # b1 asks again: nothing ahead in line
    assert told == [1, 0]
    one.done(waiting_here)
    await turns(clock, lambda: second_waiter.done())
    two.done(there)
    assert await first.line_ahead("b1", NOW) is None


async def in_line(process: PostgresCoordination, job_id: str) -> bool:
    return await process.line_ahead(job_id, NOW) is not None


async def asking(url: str, job_id: str) -> bool:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT asking FROM fleet_queue WHERE job_id = %s", (job_id,))
        row = await cur.fetchone()
    return row is not None and bool(row[0])


async def told_any(told: list[int]) -> bool:
    return bool(told)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Until `check()` holds (the database or another task; asked up to 10 s)."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110  # not an event we could wait for
            await asyncio.sleep(0.01)


async def turns(clock: FakeClock, done: Callable[[], bool]) -> None:
    """Let waiting pictures ask again (each quarter second of the fake clock) until done."""
    async with asyncio.timeout(10):
        while not done():
            await clock.advance(SLOT_POLL_SECONDS)
            await asyncio.sleep(0.01)
