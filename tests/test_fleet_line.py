"""The fleet's line on the GPU on one real PostgreSQL, each process played by its own
PostgresCoordination (and FleetGpuQueue) on the fake clock: the line decides among every
waiting job of the fleet, not only those a process's own queue picked. The guild served
least recently goes first whichever process holds its picture, live pictures go before
the backlog, a text turn on a shared GPU goes before every picture, a newer picture of a
story replaces its waiting one at the other process, positions replay the round-robin
over both processes' jobs, and a dead process's jobs stop holding the line once their
time ran out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from storycraft_bot.core.fleet_slots import SLOT_POLL_SECONDS, LineKind
from storycraft_bot.pictures.fleet_queue import FleetGpuQueue
from storycraft_bot.pictures.gpu_queue import Dequeued, DequeueReason, JobKind, Ticket
from storycraft_bot.storage.fleet import PostgresCoordination
from tests.conftest import FLEET_LEASE as LEASE
from tests.conftest import FleetPair
from tests.fakes import FakeClock

NOW = 1_800_000_000.0
TEXT, PICTURE, BACKLOG = LineKind.TEXT, LineKind.PICTURE, LineKind.BACKLOG


async def granted(process: PostgresCoordination, total: int = 1, now: float = NOW) -> list[str]:
    return list((await process.take_turns(1, total, now)).granted)


async def test_the_guild_served_least_recently_goes_first_across_processes(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_line("a1", "g1", 1, PICTURE, NOW)
    assert await granted(first) == ["a1"]  # guild g1 served
    await first.enter_line("a2", "g1", 2, PICTURE, NOW)  # arrives before b1
    await second.enter_line("b1", "g2", 3, PICTURE, NOW)
    assert await granted(first) == []  # the GPU is busy
    assert await granted(second) == []
    assert await first.line_positions(NOW) == {"a2": 1}  # b1, at the other process, first
    assert await second.line_positions(NOW) == {"b1": 0}

    await first.give_slot_back("a1")
    assert await granted(first) == []  # g2 was never served: the other process's turn
    assert await granted(second) == ["b1"]
    await second.give_slot_back("b1")
    assert await granted(first) == ["a2"]


async def test_the_line_weighs_every_waiting_picture_not_only_those_a_process_asks_for(
    pair: FleetPair,
) -> None:
    first, second = pair
    await second.enter_line("b0", "g3", 10, PICTURE, NOW)
    assert await granted(second) == ["b0"]  # g3 just served (at the second process)
    await first.enter_line("a3", "g3", 1, PICTURE, NOW)
    await first.enter_line("a4", "g4", 2, PICTURE, NOW)  # never served, before b2
    await second.enter_line("b2", "g2", 3, PICTURE, NOW)
    await second.give_slot_back("b0")

    assert await granted(second) == []  # a4, at the first process, comes first
    assert await granted(first) == ["a4"]  # not a3, the first to arrive there
    await first.give_slot_back("a4")
    assert await granted(first) == []
    assert await granted(second) == ["b2"]
    await second.give_slot_back("b2")
    assert await granted(first) == ["a3"]


async def test_one_process_is_granted_its_jobs_while_they_come_first(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_line("a1", "g1", 1, PICTURE, NOW)
    await first.enter_line("a2", "g2", 2, PICTURE, NOW)
    await second.enter_line("b1", "g3", 3, PICTURE, NOW)
    await first.enter_line("a3", "g4", 4, PICTURE, NOW)
    assert await granted(first, total=3) == ["a1", "a2"]  # b1 comes next: not first's
    assert await granted(second, total=3) == ["b1"]
    assert await granted(first, total=3) == []  # the total is reached


async def test_positions_replay_the_round_robin_over_both_processes(
    pair: FleetPair,
) -> None:
    first, second = pair
    for n in range(3):  # three stories of one busy guild
        await first.enter_line(f"busy{n}", "g1", n, PICTURE, NOW)
    await second.enter_line("quiet", "g2", 9, PICTURE, NOW)
    await second.enter_line("old", "g3", 8, BACKLOG, NOW)
    await second.enter_line("text", "g4", 7, TEXT, NOW)

    assert await first.line_positions(NOW) == {"busy0": 1, "busy1": 3, "busy2": 4}
    assert await second.line_positions(NOW) == {"text": 0, "quiet": 2, "old": 5}


async def test_live_pictures_go_before_the_backlog_of_either_process(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_line("drawing", "g0", 9, PICTURE, NOW)
    assert await granted(first) == ["drawing"]  # the GPU is busy
    await first.enter_line("old", "g1", 1, BACKLOG, NOW)  # recovered after a restart
    await second.enter_line("new", "g2", 2, PICTURE, NOW)
    assert await first.line_positions(NOW) == {"old": 1}

    await first.give_slot_back("drawing")
    assert await granted(first) == []  # it came first, it goes after
    assert await granted(second) == ["new"]
    await second.give_slot_back("new")
    assert await granted(first) == ["old"]


async def test_a_text_turn_at_one_process_goes_before_the_pictures_of_every_process(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_line("picture", "g1", 1, PICTURE, NOW)
    await second.enter_line("text", "g1", 2, TEXT, NOW)
    assert await granted(first) == []  # the text waiting at the other process first
    assert await granted(second) == ["text"]
    assert await granted(first) == []  # the GPU is the text's until it ends
    await second.give_slot_back("text")
    assert await granted(first) == ["picture"]

    # A text turn takes no guild's picture slot: with room for two jobs it runs beside.
    await second.enter_line("text2", "g1", 2, TEXT, NOW)
    assert await granted(second, total=2) == ["text2"]
    await first.give_slot_back("picture")
    await first.enter_line("picture2", "g1", 3, PICTURE, NOW)
    assert await granted(first, total=2) == ["picture2"]


async def test_a_newer_picture_of_a_story_replaces_its_waiting_one_at_the_other_process(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_line("backlog", "g1", 7, BACKLOG, NOW)
    await first.enter_line("older", "g1", 7, PICTURE, NOW)
    await second.enter_line("newer", "g1", 7, PICTURE, NOW)

    turns = await first.take_turns(1, 2, NOW)
    assert turns.granted == ()  # newer, at the other process, comes first
    assert turns.waiting == {"backlog"}  # older is gone, the backlog is not replaced
    assert await granted(second, total=2) == ["newer"]
    assert await first.line_positions(NOW) == {"backlog": 0}


async def test_a_dead_processs_jobs_stop_holding_the_line_when_their_time_runs_out(
    pair: FleetPair,
) -> None:
    first, second = pair
    await second.enter_line("dead", "g2", 1, PICTURE, NOW)
    assert await granted(second) == ["dead"]
    await second.enter_line("dead-waiting", "g3", 2, PICTURE, NOW)  # ... then it dies
    await first.enter_line("alive", "g1", 3, PICTURE, NOW + 1)

    assert await granted(first, now=NOW + 1) == []
    assert await first.line_positions(NOW + 1) == {"alive": 1}
    await first.renew_line(["alive"], NOW + LEASE)  # kept alive; the other's are not
    later = NOW + LEASE + 1
    assert await first.line_positions(later) == {"alive": 0}
    assert await granted(first, now=later) == ["alive"]
    await first.leave_line("alive")
    assert await first.line_positions(later) == {}


# Two processes' queues


async def test_two_processes_queues_take_turns_in_the_fleets_order_and_report_it(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetGpuQueue(first, clock)  # one picture at a time, for the whole fleet
    two = FleetGpuQueue(second, clock)
    started: list[str] = []
    drawing = two.join(JobKind.PICTURE, "g3", 10, "b0")
    await two.wait(drawing)  # g3 just served, at the second process
    a3 = one.join(JobKind.PICTURE, "g3", 1, "a3")
    a3_waits = asyncio.create_task(run(one, a3, started))
    await until(lambda: in_line(first, "a3"))
    told: list[int] = []

    async def tell(ahead: int) -> None:
        told.append(ahead)

    a4 = one.join(JobKind.PICTURE, "g4", 2, "a4")
    a4_waits = asyncio.create_task(run(one, a4, started, tell))
    await until(lambda: in_line(first, "a4"))
    b2 = two.join(JobKind.PICTURE, "g2", 3, "b2")
    b2_waits = asyncio.create_task(run(two, b2, started))
    await until(lambda: in_line(second, "b2"))
    await turns(clock, lambda: told[-1:] == [0])  # a4: never served, before a3 and b2

    two.done(drawing)
    await turns(clock, lambda: len(started) == 1)
    assert started == ["a4"]  # not b2, though a3 was the first picture at a4's process
    one.done(a4)
    await turns(clock, lambda: len(started) == 2)
    two.done(b2)
    await turns(clock, lambda: len(started) == 3)
    one.done(a3)
    assert started == ["a4", "b2", "a3"]
    await asyncio.gather(a3_waits, a4_waits, b2_waits)
    assert await first.line_positions(NOW) == {}


async def test_a_text_turn_at_one_process_holds_back_the_pictures_of_the_other(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetGpuQueue(first, clock)  # the GPU is shared: one job at a time
    two = FleetGpuQueue(second, clock)
    started: list[str] = []
    drawing = two.join(JobKind.PICTURE, "g1", 1, "drawing")
    await two.wait(drawing)
    waiting = two.join(JobKind.PICTURE, "g2", 2, "picture")
    picture_waits = asyncio.create_task(run(two, waiting, started))
    await until(lambda: in_line(second, "picture"))

    async def write() -> None:
        async with one.turn(JobKind.TEXT, "g3", 3, "text"):
            started.append("text")
            await written.wait()

    written = asyncio.Event()
    text_waits = asyncio.create_task(write())
    await until(lambda: in_line(first, "text"))
    two.done(drawing)  # the picture waiting here asks at once; the text goes first
    await turns(clock, lambda: len(started) == 1)
    assert started == ["text"]
    await turns(clock, lambda: False, steps=8)  # two seconds: the GPU stays the text's
    assert started == ["text"]
    written.set()
    await turns(clock, lambda: len(started) == 2)
    assert started == ["text", "picture"]
    two.done(waiting)
    await asyncio.gather(picture_waits, text_waits)


async def test_a_picture_replaced_at_the_other_process_leaves_its_waiter(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetGpuQueue(first, clock)
    two = FleetGpuQueue(second, clock)
    drawing = one.join(JobKind.PICTURE, "g0", 9, "drawing")
    await one.wait(drawing)
    older = one.join(JobKind.PICTURE, "g1", 7, "older")
    older_waits = asyncio.create_task(one.wait(older))
    await until(lambda: in_line(first, "older"))
    newer = two.join(JobKind.PICTURE, "g1", 7, "newer")
    newer_waits = asyncio.create_task(two.wait(newer))
    await until(lambda: in_line(second, "newer"))

    await turns(clock, older_waits.done)
    with pytest.raises(Dequeued) as gone:
        older_waits.result()
    assert gone.value.why is DequeueReason.REPLACED
    one.done(drawing)
    await turns(clock, newer_waits.done)
    two.done(newer)


async def run(
    queue: FleetGpuQueue,
    ticket: Ticket,
    started: list[str],
    tell: Callable[[int], Awaitable[None]] | None = None,
) -> None:
    await queue.wait(ticket, tell)
    started.append(ticket.job_id)


async def in_line(process: PostgresCoordination, job_id: str) -> bool:
    return job_id in await process.line_positions(NOW)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Until `check()` holds (the database or another task; asked up to 10 s)."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110  # not an event we could wait for
            await asyncio.sleep(0.01)


async def turns(clock: FakeClock, done: Callable[[], bool], steps: int = 400) -> None:
    """Let waiting jobs ask again (each quarter second of the fake clock) until done, or
    for `steps` quarter seconds."""
    async with asyncio.timeout(10):
        for _ in range(steps):
            if done():
                return
            await clock.advance(SLOT_POLL_SECONDS)
            await asyncio.sleep(0.02)
