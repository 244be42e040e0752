"""The fleet's narrator line on one real PostgreSQL, each process played by its own
PostgresCoordination (and FleetNarratorGate) on the fake clock: story text waiting at one
process goes before a prewrite waiting at the other, memories before image prompts, the
guilds take turns whichever process holds their requests, the fleet never runs more
requests than its capacity, positions count both processes' requests, a prewrite is
taken back for live text waiting at either process (unless a player joined it), and a
dead process's requests stop holding the line once their time ran out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from storycraft_bot.core.fleet_narration import FleetNarratorGate
from storycraft_bot.core.fleet_slots import SLOT_POLL_SECONDS
from storycraft_bot.core.models import ChannelKey, Place, Platform
from storycraft_bot.core.ports import Promotable, TextKind
from storycraft_bot.storage.fleet import PostgresCoordination
from tests.conftest import FLEET_LEASE as LEASE
from tests.conftest import FleetPair
from tests.fakes import FakeClock

NOW = 1_800_000_000.0
STORY, MEMORY, IMAGE_PROMPT, PREWRITE = (
    TextKind.STORY,
    TextKind.MEMORY,
    TextKind.IMAGE_PROMPT,
    TextKind.PREWRITE,
)


async def granted(process: PostgresCoordination, total: int = 1, now: float = NOW) -> list[str]:
    turns = await process.take_narrator_turns(total, max(1, total - 1), now)
    return list(turns.granted)


async def test_story_text_at_one_process_goes_before_a_prewrite_at_the_other(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_narrator_line("memory", "g1", MEMORY, NOW)
    assert await granted(first) == ["memory"]  # the narrator is busy
    await second.enter_narrator_line("prewrite", "g2", PREWRITE, NOW)  # waits first
    await first.enter_narrator_line("story", "g3", STORY, NOW)
    await first.give_slot_back("memory")

    assert await granted(second) == []  # the story at the other process comes first
    assert await granted(first) == ["story"]
    assert await granted(second) == []  # the narrator is the story's until it ends
    await first.give_slot_back("story")
    assert await granted(second) == ["prewrite"]


async def test_a_prewrite_leaves_one_of_the_fleets_slots_for_live_text(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_narrator_line("p1", "g1", PREWRITE, NOW)
    await second.enter_narrator_line("p2", "g2", PREWRITE, NOW)
    await second.enter_narrator_line("s", "g2", STORY, NOW)
    assert await granted(first, total=3) == []  # the story at the other process first
    assert await granted(second, total=3) == ["s"]
    assert await granted(first, total=3) == ["p1"]
    assert await granted(second, total=3) == []  # one slot left: kept for live text
    await second.enter_narrator_line("s2", "g2", STORY, NOW)
    assert await granted(second, total=3) == ["s2"]  # ... and given to it
    await first.give_slot_back("p1")
    await second.give_slot_back("s")
    assert await granted(second, total=3) == ["p2"]


async def test_guilds_take_turns_across_processes(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_narrator_line("a1", "g1", STORY, NOW)
    await first.enter_narrator_line("a2", "g1", STORY, NOW)  # g1's second, before b1
    await second.enter_narrator_line("b1", "g2", STORY, NOW)
    await second.enter_narrator_line("b2", "g1", STORY, NOW)  # g1's third, elsewhere

    assert await granted(first) == ["a1"]
    await first.give_slot_back("a1")
    assert await granted(first) == []  # g2 waits and was never served: its turn
    assert await granted(second) == ["b1"]
    await second.give_slot_back("b1")
    assert await granted(second) == []  # g1's next one is a2, at the first process
    assert await granted(first) == ["a2"]
    await first.give_slot_back("a2")
    assert await granted(second) == ["b2"]


async def test_the_fleets_capacity_holds_for_both_processes(
    pair: FleetPair,
) -> None:
    first, second = pair
    for n in range(3):
        await first.enter_narrator_line(f"a{n}", f"g{n}", STORY, NOW)
        await second.enter_narrator_line(f"b{n}", f"h{n}", STORY, NOW)
    assert await granted(first, total=2) == ["a0"]  # b0 comes next: not first's
    assert await granted(second, total=2) == ["b0"]
    assert await granted(first, total=2) == []  # two running in the fleet
    assert await granted(second, total=2) == []
    await second.give_slot_back("b0")
    assert await granted(second, total=2) == []  # a1 arrived before b1
    assert await granted(first, total=2) == ["a1"]
    assert await granted(first, total=3) == []  # b1 first
    assert await granted(second, total=3) == ["b1"]


async def test_positions_count_both_processes_in_the_fleets_order(
    pair: FleetPair,
) -> None:
    first, second = pair
    await first.enter_narrator_line("draft", "g1", PREWRITE, NOW)
    await first.enter_narrator_line("picture", "g1", IMAGE_PROMPT, NOW)
    await second.enter_narrator_line("memory", "g2", MEMORY, NOW)
    await first.enter_narrator_line("story-g1", "g1", STORY, NOW)
    await first.enter_narrator_line("story-g1-2", "g1", STORY, NOW)
    await second.enter_narrator_line("story-g2", "g2", STORY, NOW)

    assert await first.narrator_positions(NOW) == {
        "story-g1": 0,
        "story-g1-2": 2,  # g2's first story goes before g1's second
        "picture": 4,
        "draft": 5,
    }
    assert await second.narrator_positions(NOW) == {"story-g2": 1, "memory": 3}


async def test_a_dead_processs_requests_stop_holding_the_line_when_their_time_runs_out(
    pair: FleetPair,
) -> None:
    first, second = pair
    await second.enter_narrator_line("dead", "g2", STORY, NOW)
    assert await granted(second) == ["dead"]
    await second.enter_narrator_line("dead-waiting", "g3", STORY, NOW)  # ... then it dies
    await first.enter_narrator_line("alive", "g1", STORY, NOW + 1)

    assert await granted(first, now=NOW + 1) == []
    assert await first.narrator_positions(NOW + 1) == {"alive": 1}
    await first.renew_narrator_line(["alive"], NOW + LEASE)  # kept alive; the other's not
    later = NOW + LEASE + 1
    assert await first.narrator_positions(later) == {"alive": 0}
    assert await granted(first, now=later) == ["alive"]  # the dead one's slot ran out too
    await first.leave_narrator_line("alive")
    assert await first.narrator_positions(later) == {}


# Two processes' gates


def place(guild: str) -> Place:
    return Place(ChannelKey(Platform.DISCORD, guild), guild, is_group=False)


async def test_two_gates_serve_story_text_first_and_tell_the_fleets_count_ahead(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetNarratorGate(first, clock, lambda: 1)  # one request at a time, fleet-wide
    two = FleetNarratorGate(second, clock, lambda: 1)
    started: list[str] = []
    told: dict[str, int] = {}
    release = {name: asyncio.Event() for name in ("memory", "prewrite", "story", "story2")}

    async def use(gate: FleetNarratorGate, name: str, guild: str, kind: TextKind) -> None:
        async def tell(ahead: int) -> None:
            told[name] = ahead

        async with gate.turn(place(guild), kind, tell):
            started.append(name)
            await release[name].wait()

    memory = asyncio.create_task(use(one, "memory", "g1", MEMORY))
    await turns(clock, lambda: started == ["memory"])
    prewrite = asyncio.create_task(use(two, "prewrite", "g2", PREWRITE))
    await turns(clock, lambda: "prewrite" in told)
    story = asyncio.create_task(use(one, "story", "g3", STORY))
    await turns(clock, lambda: "story" in told)
    story2 = asyncio.create_task(use(two, "story2", "g4", STORY))
    await turns(clock, lambda: "story2" in told)
    assert told == {"prewrite": 0, "story": 0, "story2": 1}
    assert (one.running, one.waiting, two.running, two.waiting) == (1, 1, 0, 2)

    release["memory"].set()
    await turns(clock, lambda: len(started) == 2)
    await turns(clock, lambda: False, steps=4)  # a second: nothing else starts
    assert started == ["memory", "story"]
    release["story"].set()
    await turns(clock, lambda: len(started) == 3)
    release["story2"].set()
    await turns(clock, lambda: len(started) == 4)
    assert started == ["memory", "story", "story2", "prewrite"]
    release["prewrite"].set()
    await asyncio.gather(memory, prewrite, story, story2)
    assert two.figures.waited == 2
    assert await first.narrator_positions(NOW) == {}


async def test_a_request_that_waits_takes_back_a_prewrite_running_at_its_process(
    pair: FleetPair,
) -> None:
    first, _ = pair
    clock = FakeClock(NOW)
    gate = FleetNarratorGate(first, clock, lambda: 1)
    slots: list[object] = []

    async def draft() -> None:
        async with gate.turn(place("g1"), PREWRITE) as slot:
            slots.append(slot)
            await asyncio.Event().wait()  # until taken back

    drafting = asyncio.create_task(draft())
    await turns(clock, lambda: bool(slots))
    async with asyncio.timeout(10):
        async with gate.turn(place("g2"), STORY):
            with pytest.raises(asyncio.CancelledError):
                await drafting
    slot = slots[0]
    assert isinstance(slot, Promotable)
    assert slot.taken_back
    assert gate.figures.preempted == 1


async def test_story_text_waiting_at_one_process_takes_back_a_prewrite_at_the_other(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetNarratorGate(first, clock, lambda: 1)  # OLLAMA_PARALLEL=1: one slot
    two = FleetNarratorGate(second, clock, lambda: 1)
    slots: list[object] = []

    async def draft() -> None:
        async with two.turn(place("g1"), PREWRITE) as slot:
            slots.append(slot)
            await asyncio.Event().wait()  # until taken back

    drafting = asyncio.create_task(draft())
    await turns(clock, lambda: bool(slots))
    await turns(clock, lambda: False, steps=8)  # two seconds: nothing waits, it runs on
    assert not drafting.done()
    story = asyncio.create_task(wait_turn(one, "g2"))
    await turns(clock, story.done)
    with pytest.raises(asyncio.CancelledError):
        await drafting
    slot = slots[0]
    assert isinstance(slot, Promotable)
    assert slot.taken_back
    assert two.figures.preempted == 1


async def test_a_promoted_prewrite_is_not_taken_back_for_text_at_the_other_process(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetNarratorGate(first, clock, lambda: 1)
    two = FleetNarratorGate(second, clock, lambda: 1)
    promoted = asyncio.Event()
    finish = asyncio.Event()

    async def draft() -> None:
        async with two.turn(place("g1"), PREWRITE) as slot:
            assert isinstance(slot, Promotable)
            slot.promote()  # a player joined the draft
            promoted.set()
            await finish.wait()

    drafting = asyncio.create_task(draft())
    await turns(clock, promoted.is_set)
    story = asyncio.create_task(wait_turn(one, "g2"))
    await turns(clock, lambda: False, steps=8)
    assert not story.done()  # it waits for the joined draft
    finish.set()
    await drafting
    await turns(clock, story.done)
    await story
    assert two.figures.preempted == 0


async def test_a_cancelled_waiter_leaves_the_fleets_line(
    pair: FleetPair,
) -> None:
    first, second = pair
    clock = FakeClock(NOW)
    one = FleetNarratorGate(first, clock, lambda: 1)
    two = FleetNarratorGate(second, clock, lambda: 1)
    holding = asyncio.Event()
    done = asyncio.Event()

    async def hold() -> None:
        async with one.turn(place("g1"), STORY):
            holding.set()
            await done.wait()

    held = asyncio.create_task(hold())
    await turns(clock, holding.is_set)
    waiting = asyncio.create_task(wait_turn(two, "g2"))
    await until(lambda: in_line(second))
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await until(lambda: not_in_line(second))
    done.set()
    await held
    assert (two.running, two.waiting) == (0, 0)


async def wait_turn(gate: FleetNarratorGate, guild: str) -> None:
    async with gate.turn(place(guild), STORY):
        pass


async def in_line(process: PostgresCoordination) -> bool:
    return bool(await process.narrator_positions(NOW))


async def not_in_line(process: PostgresCoordination) -> bool:
    return not await process.narrator_positions(NOW)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Until `check()` holds (the database or another task; asked up to 10 s)."""
    async with asyncio.timeout(10):
        while not await check():  # noqa: ASYNC110  # not an event we could wait for
            await asyncio.sleep(0.01)


async def turns(clock: FakeClock, done: Callable[[], bool], steps: int = 400) -> None:
    """Let waiting requests ask again (each quarter second of the fake clock) until done,
    or for `steps` quarter seconds."""
    async with asyncio.timeout(10):
        for _ in range(steps):
            if done():
                return
            await clock.advance(SLOT_POLL_SECONDS)
            await asyncio.sleep(0.02)
