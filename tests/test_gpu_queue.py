"""The GPU queue: limits, round-robin between guilds, text first, replacement, cancel."""

from __future__ import annotations

import asyncio

import pytest

from storycraft_bot.pictures.gpu_queue import Dequeued, GpuQueue, JobKind, Ticket

P, T = JobKind.PICTURE, JobKind.TEXT


def ids(tickets: tuple[Ticket, ...] | list[Ticket]) -> list[str]:
    return [t.job_id for t in tickets]


async def settle() -> None:
    """Let every waiter run what is ready."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_one_picture_per_guild_and_a_global_limit() -> None:
    queue = GpuQueue(per_guild=1, total=2)
    a1 = queue.join(P, "A", 1, "a1")
    a2 = queue.join(P, "A", 2, "a2")
    b1 = queue.join(P, "B", 3, "b1")
    c1 = queue.join(P, "C", 4, "c1")

    assert ids(queue.running) == ["a1", "b1"]  # A's second waits for A's first
    assert ids(queue.waiting) == ["c1", "a2"]  # C has not been served yet, A has
    queue.done(b1)
    assert ids(queue.running) == ["a1", "c1"]  # A is still busy, so C goes
    queue.done(a1)
    assert ids(queue.running) == ["c1", "a2"]
    assert a2.granted.done()
    assert not c1.granted.exception()


async def test_three_guilds_are_served_round_robin() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    first = queue.join(P, "busy", 0, "busy-0")
    for n in range(1, 4):
        queue.join(P, "busy", n, f"busy-{n}")
    queue.join(P, "quiet", 10, "quiet-0")
    queue.join(P, "third", 20, "third-0")

    served = [first.job_id]
    while queue.running:
        running = queue.running[0]
        queue.done(running)
        if queue.running:
            served.append(queue.running[0].job_id)

    assert served == ["busy-0", "quiet-0", "third-0", "busy-1", "busy-2", "busy-3"]


async def test_text_goes_before_waiting_pictures() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    drawing = queue.join(P, "A", 1, "pic-1")
    queue.join(P, "B", 2, "pic-2")
    text = queue.join(T, "C", 3, "text-3")

    assert queue.ahead(text) == 0
    queue.done(drawing)

    assert ids(queue.running) == ["text-3"]


async def test_a_newer_picture_replaces_the_sessions_waiting_one() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    queue.join(P, "A", 1, "running")
    old = queue.join(P, "A", 1, "old")
    new = queue.join(P, "A", 1, "new")

    with pytest.raises(Dequeued, match="replaced"):
        await queue.wait(old)
    assert ids(queue.waiting) == ["new"]
    assert new.state == "waiting"


async def test_cancelling_a_session_drops_waiting_and_names_running() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    running = queue.join(P, "A", 1, "r")
    waiting_text = queue.join(T, "A", 1, "t")
    queue.join(P, "B", 9, "other")

    still_running = queue.cancel_session(1)

    assert still_running == [running]
    assert waiting_text.state == "dequeued"
    assert ids(queue.waiting) == ["other"]
    with pytest.raises(Dequeued, match="cancelled"):
        await queue.wait(waiting_text)


async def test_waiters_hear_their_position_until_their_turn() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    first = queue.join(P, "A", 1, "a")
    queue.join(P, "B", 2, "b")
    late = queue.join(P, "C", 3, "c")
    positions: list[int] = []

    async def on_position(ahead: int) -> None:
        positions.append(ahead)

    waiter = asyncio.create_task(queue.wait(late, on_position))
    await settle()
    queue.done(first)
    await settle()
    queue.done(queue.running[0])
    await asyncio.wait_for(waiter, 1)

    assert positions == [1, 0]
    assert ids(queue.running) == ["c"]


async def test_a_waiter_far_back_hears_a_tenth_of_a_move_and_near_the_front_each() -> None:
    """Hundreds of waiting pictures must not each be reported whenever the queue moves by
    one: far back, a move of a tenth is news; from NEAR on, every move is."""
    queue = GpuQueue(per_guild=1, total=1)
    running = queue.join(P, "G0", 0, "p0")
    for n in range(1, 41):
        queue.join(P, f"G{n}", n, f"p{n}")
    last = queue.join(P, "G41", 41, "p41")  # 40 ahead of it
    told: list[int] = []

    async def on_position(ahead: int) -> None:
        told.append(ahead)

    waiter = asyncio.create_task(queue.wait(last, on_position))
    await settle()
    queue.done(running)
    while not waiter.done():
        await settle()
        queue.done(queue.running[0])
    await waiter

    assert told[:4] == [40, 36, 32, 28]  # the first, then a tenth of the way each
    assert told[-11:] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]  # near the front: each move
    assert len(told) < 41


async def test_the_turn_block_frees_its_place_even_when_cancelled() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    holder = queue.join(P, "A", 1, "holder")

    async def take_a_turn() -> None:
        async with queue.turn(P, "B", 2, "blocked"):
            pass

    blocked = asyncio.create_task(take_a_turn())
    await asyncio.sleep(0)
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    assert queue.waiting == ()
    queue.done(holder)
    assert queue.running == ()


async def test_the_backlog_waits_behind_live_pictures_and_keeps_the_guild_cap() -> None:
    queue = GpuQueue(per_guild=1, total=2)
    queue.join(P, "A", 1, "a-live")
    other = queue.join(P, "X", 5, "x-live")
    old_a = queue.join(JobKind.BACKLOG, "A", 2, "a-old")
    old_b = queue.join(JobKind.BACKLOG, "B", 3, "b-old")
    b_live = queue.join(P, "B", 4, "b-live")

    assert ids(queue.waiting) == ["b-live", "a-old", "b-old"]
    queue.done(other)
    assert ids(queue.running) == ["a-live", "b-live"]
    queue.done(b_live)
    assert ids(queue.running) == ["a-live", "b-old"]  # A is at its cap: B's old one goes
    queue.cancel_session(2)
    assert old_a.state == "dequeued"
    assert queue.waiting == ()
    assert old_b.state == "running"


async def test_many_waiting_pictures_are_served_in_round_robin_order() -> None:
    queue = GpuQueue(per_guild=1, total=1)
    tickets = [queue.join(P, f"g{n % 7}", n, f"p{n}") for n in range(70)]
    expected = ids(queue.waiting)

    served = []
    while queue.running:
        running = queue.running[0]
        queue.done(running)
        served.extend(ids(queue.running))

    assert served == expected
    assert all(t.state == "done" for t in tickets[1:] if t.job_id in served)
