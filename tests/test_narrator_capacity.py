"""Narrator capacity: the bot's own queue in front of Ollama's parallel slots, and
several Ollama servers."""

from __future__ import annotations

import asyncio
import io
import random
import socket

import httpx

from adapters.console import ConsoleView
from storycraft_bot.core import events as ev
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import Actor, ChannelKey, Language, Place, Platform, StorySettings
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.ports import Promotable, TextKind
from storycraft_bot.core.texts import Msg
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaGateway
from storycraft_bot.narration.ollama_pool import OllamaPool, open_pool
from storycraft_bot.storage.sqlite import Store
from tests.conftest import GatewayFactory, gateway_config
from tests.fake_ollama import FakeOllama, Reply
from tests.fakes import FakeClock, RecordingIllustrator, RecordingView

ALICE = Actor("u1", "Alice")


def place(guild: str, channel: str = "") -> Place:
    return Place(ChannelKey(Platform.DISCORD, channel or guild), guild, is_group=False)


async def test_a_story_waiting_past_every_timeout_still_gets_its_part(
    make_gateway: GatewayFactory, fake_ollama: FakeOllama, store: Store, view: RecordingView
) -> None:
    """One slot: the second story waits far longer than CONNECT_TIMEOUT and
    FIRST_TOKEN_TIMEOUT while the first one is written, is told so, and is written after."""
    clock = FakeClock()
    gateway = await make_gateway(clock=clock, first_token_timeout=30, token_timeout=30)
    gate = FairNarratorQueue(lambda: 1, clock)
    engine = StoryEngine(
        store,
        OllamaNarrator(gateway),
        ModelPromptWriter(gateway, "qwen2.5:3b"),
        RecordingIllustrator(),
        view,
        clock,
        EngineConfig(language=Language.EN, story=StorySettings(vote_window_seconds=60.0)),
        random.Random(1),
        narration=gate,
    )
    try:
        first_tokens = asyncio.Semaphore(0)
        # The first reply streams one chunk every 20 s: never a stall, but 300 s in all.
        fake_ollama.then(
            Reply.segment("Part A.", ["a1", "a2", "a3"], chunk_size=8, pace=first_tokens)
        )
        first = await engine.start(place("g1"), ALICE)
        await fake_ollama.wait_until(lambda: fake_ollama.requests)
        second = await engine.start(place("g2"), ALICE)
        busy = await view.wait_for(ev.Notice, lambda e: e.code is Msg.NARRATOR_BUSY)
        assert busy.session_id == second.id
        assert dict(busy.params) == {"ahead": "0"}
        assert gate.waiting == 1

        while not any(
            isinstance(e, ev.SegmentFinished) and e.session_id == first.id for e in view.events
        ):
            await clock.advance(20)
            first_tokens.release()
            await asyncio.sleep(0.01)

        finished = await view.wait_for(ev.SegmentFinished, lambda e: e.session_id == second.id)
        assert finished.segment.narration
        assert not view.of(ev.SegmentFailed)
        assert gate.figures.waited >= 1
        assert gate.figures.longest_seconds > 30  # the wait outlasted every timeout
    finally:
        await engine.shutdown()


async def test_two_guilds_on_one_slot_take_turns_and_story_text_goes_first() -> None:
    clock = FakeClock()
    gate = FairNarratorQueue(lambda: 1, clock)
    served: list[str] = []
    hold = asyncio.Event()

    async def request(guild: str, kind: TextKind, label: str) -> None:
        async with gate.turn(place(guild), kind):
            served.append(label)
            await hold.wait()

    tasks = [asyncio.create_task(request("busy", TextKind.STORY, "first"))]
    await asyncio.sleep(0)
    for label, guild, kind in [
        ("prompt", "g3", TextKind.IMAGE_PROMPT),
        ("a1", "a", TextKind.STORY),
        ("a2", "a", TextKind.STORY),
        ("a3", "a", TextKind.STORY),
        ("b1", "b", TextKind.STORY),
        ("b2", "b", TextKind.STORY),
        ("memory", "g3", TextKind.MEMORY),
    ]:
        tasks.append(asyncio.create_task(request(guild, kind, label)))
        await asyncio.sleep(0)
    assert gate.waiting == 7
    while len(served) < 8:
        hold.set()
        await asyncio.sleep(0)
        hold.clear()
        for _ in range(5):
            await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(*tasks)

    assert served == ["first", "a1", "b1", "a2", "b2", "a3", "memory", "prompt"]
    assert gate.running == 0


async def test_a_cancelled_waiter_gives_its_place_away() -> None:
    gate = FairNarratorQueue(lambda: 1, FakeClock())
    hold = asyncio.Event()
    served: list[str] = []

    async def request(guild: str) -> None:
        async with gate.turn(place(guild), TextKind.STORY):
            served.append(guild)
            await hold.wait()

    running = asyncio.create_task(request("a"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(request("b"))
    kept = asyncio.create_task(request("c"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(running, kept)

    assert served == ["a", "c"]
    assert gate.running == 0
    assert gate.waiting == 0


async def test_two_ollama_servers_with_one_dead(fake_ollama: FakeOllama) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    clock = FakeClock()
    async with open_pool(
        [dead_url, fake_ollama.url],
        clock,
        parallel=2,
        timeouts=httpx.Timeout(2.0),
        recheck_seconds=30,
    ) as pool:
        await _one_dead(pool, clock, fake_ollama)


async def _one_dead(pool: OllamaPool, clock: FakeClock, fake_ollama: FakeOllama) -> None:
    servers = pool.servers
    gateway = OllamaGateway(pool, gateway_config(retries=0), random.Random(7), clock=clock)
    assert pool.capacity() == 4
    first = await gateway.chat([{"role": "user", "content": "hello"}])
    assert first.content
    dead, alive = servers
    assert dead.failures == 1
    assert pool.healthy() == [alive]
    assert pool.capacity() == 2  # only the live server's slots
    assert await gateway.version() == "0.12.6"

    await gateway.chat([{"role": "user", "content": "again"}])
    assert dead.failures == 1  # skipped while it is down
    assert len(fake_ollama.requests) == 2

    await clock.advance(31)  # its time out is over: it is tried again, and skipped again
    assert dead in pool.healthy()
    await gateway.chat([{"role": "user", "content": "later"}])
    assert dead.failures == 2
    assert len(fake_ollama.requests) == 3
    assert alive.busy == dead.busy == 0


async def test_the_busy_notice_reaches_the_console() -> None:
    out = io.StringIO()
    console = ConsoleView(out, Language.EN)
    key = ChannelKey(Platform.CONSOLE, "1")

    await console.show(ev.Notice(key, 1, Language.EN, Msg.NARRATOR_BUSY, (("ahead", "3"),)))

    assert "narrator is busy" in out.getvalue()
    assert "3 ahead" in out.getvalue()


async def test_a_prewrite_gives_its_slot_to_a_real_turn_unless_promoted() -> None:
    gate = FairNarratorQueue(lambda: 1, FakeClock())
    hold = asyncio.Event()
    slots: list[object] = []
    served: list[str] = []

    async def request(kind: TextKind, label: str) -> None:
        async with gate.turn(place("g"), kind) as slot:
            slots.append(slot)
            served.append(label)
            await hold.wait()

    draft = asyncio.create_task(request(TextKind.PREWRITE, "draft"))
    await asyncio.sleep(0)
    waiting_draft = asyncio.create_task(request(TextKind.PREWRITE, "second draft"))
    story = asyncio.create_task(request(TextKind.STORY, "story"))
    for _ in range(5):
        await asyncio.sleep(0)

    assert draft.cancelled()  # taken back for the story part
    assert served == ["draft", "story"]
    assert isinstance(slots[0], Promotable)
    assert slots[0].taken_back
    assert gate.figures.preempted == 1
    hold.set()
    await asyncio.gather(story, waiting_draft)
    assert served == ["draft", "story", "second draft"]

    # A draft a player joined keeps its slot.
    hold.clear()
    joined = asyncio.create_task(request(TextKind.PREWRITE, "joined"))
    await asyncio.sleep(0)
    promoted = slots[-1]
    assert isinstance(promoted, Promotable)
    promoted.promote()
    later = asyncio.create_task(request(TextKind.STORY, "later"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not joined.done()
    assert served[-1] == "joined"
    hold.set()
    await asyncio.gather(joined, later)
    assert served[-1] == "later"
    assert gate.running == 0
