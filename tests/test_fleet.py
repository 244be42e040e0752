"""Two real `bot.py` processes on one real PostgreSQL serving one Telegram bot (see
tests/fleet_rig.py for how updates reach one process or the other): a press may reach
either, a vote is decided once, and a process killed mid-segment is replaced by the other,
which writes that part again into the same message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fake_comfyui import FakeComfyUI
from tests.fake_ollama import FakeOllama, Reply
from tests.fleet_rig import Fleet, SharedTelegram, fleet
from tests.postgres_server import PostgresServer
from tests.test_telegram import (
    answer_of,
    eventually,
    keyboard,
    story_message,
    story_messages,
    with_choices,
)

ALICE, BOB = 601, 602
PICTURE_SLOTS = "SELECT count(*) FROM fleet_slots WHERE pool = 'picture'"
# Short leases on the real clock: a killed writer is replaced within about two seconds.
# One player starts two stories at once here: no start cooldown (issue 15) in the way.
FAST = {
    "FLEET_LEASE_SECONDS": "1",
    "FLEET_SWEEP_SECONDS": "0.2",
    "VOTE_WINDOW_SECONDS": "5",
    "START_COOLDOWN_SECONDS": "0",
}


@pytest.fixture
async def tg() -> AsyncIterator[SharedTelegram]:
    server = SharedTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.fresh_url()


@pytest.fixture
async def two(
    tmp_path: Path, tg: SharedTelegram, database: str, fake_ollama: FakeOllama
) -> AsyncIterator[Fleet]:
    settings = {"DATABASE_URL": database, "OLLAMA_URL": fake_ollama.url, **FAST}
    async with fleet(tmp_path, tg, settings) as running:
        yield running
    for index, process in enumerate(running.processes):
        if process.returncode != -9:  # stopped by SIGTERM: a clean exit, a clean log
            assert process.returncode == 0
            assert "Traceback" not in running.log(index)


async def wait_part(tg: SharedTelegram, chat_id: int, part: int) -> dict[str, Any]:
    """Part `part` shown with its choices (two processes on a shared machine: 30 s)."""
    shown: dict[str, Any] = await tg.wait_until(
        lambda: story_message(tg, chat_id, part=part), seconds=30
    )
    return shown


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


async def start_group_story(tg: SharedTelegram, chat_id: int) -> dict[str, Any]:
    """Alice starts a story through process 0; its first part, written."""
    alice = tg.user(ALICE, "Alice")
    tg.to(0).send_text(tg.group_chat(chat_id), alice, "/story@StoryCraftBot start")
    return await wait_part(tg, chat_id, 1)


async def test_a_press_arriving_at_the_other_process_acts_on_the_story(
    two: Fleet, tg: SharedTelegram, database: str
) -> None:
    group = tg.group_chat(-3001)
    message = await start_group_story(tg, group["id"])
    mid = message["message_id"]
    first = keyboard(message)[0][1]

    query_id = tg.to(1).press(group, tg.user(BOB, "Bob"), mid, first)

    assert await answer_of(tg, query_id) == "Vote counted: Path 1.1"
    assert tg.received(1) == 1  # process 1 got the press, process 0 wrote the part
    counted = await tg.wait_until(
        lambda: any("· 1" in label for label, _ in keyboard(tg.messages[(group["id"], mid)]))
    )
    assert counted
    close = next(data for label, data in keyboard(tg.messages[(group["id"], mid)]) if "⏹" in label)
    tg.to(1).press(group, tg.user(ALICE, "Alice"), mid, close)
    await wait_part(tg, group["id"], 2)  # process 1 decided and wrote the next part
    assert query(database, "SELECT decided_by FROM segments WHERE idx = 0") == [("closed_early",)]


async def test_thirty_votes_split_across_both_processes_give_one_decision(
    two: Fleet, tg: SharedTelegram, database: str
) -> None:
    group = tg.group_chat(-3002)
    message = await start_group_story(tg, group["id"])
    mid = message["message_id"]
    choices = [data for _, data in keyboard(message) if data.startswith("c:")]

    presses = [
        tg.to(n % 2).press(group, tg.user(700 + n, f"Voter {n}"), mid, choices[n % 3])
        for n in range(30)
    ]

    answers = await asyncio.gather(*(answer_of(tg, q) for q in presses))
    # Each press is answered; one that takes longer than the adapter's answer_within
    # (30 presses in one place queue on its lock) is answered empty and counted all the same.
    assert [a for a in answers if a and not a.startswith("Vote counted")] == []
    assert (tg.received(0), tg.received(1)) == (16, 15)  # process 0 also got /story
    # Ten votes each: a three-way tie, broken once, by whichever process closed it.
    decided = await tg.wait_until(
        lambda: "The group chose" in tg.messages[(group["id"], mid)]["text"], seconds=30
    )
    assert decided
    await wait_part(tg, group["id"], 2)
    assert query(database, "SELECT count(*) FROM votes") == [(30,)]
    assert query(
        database, "SELECT idx, state FROM segments WHERE state != 'superseded' ORDER BY idx"
    )[:1] == [(0, "decided")]
    assert query(database, "SELECT count(*) FROM segments WHERE idx = 1") == [(1,)]
    assert "(10 votes, tie broken at random)" in tg.messages[(group["id"], mid)]["text"]


async def test_a_process_killed_mid_segment_is_replaced_by_the_other_in_the_same_message(
    two: Fleet, tg: SharedTelegram, database: str, fake_ollama: FakeOllama
) -> None:
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(pace=pace))  # part 1, as process 0 writes it, comes slowly
    group = tg.group_chat(-3003)
    tg.to(0).send_text(group, tg.user(ALICE, "Alice"), "/story@StoryCraftBot start")
    for _ in range(3):
        pace.release()
    cut = await tg.wait_until(lambda: tg.bot_messages(group["id"]), seconds=30)
    started = cut[0]["message_id"]
    writing = await fake_ollama.wait_until(lambda: fake_ollama.chat_requests("segment"))
    assert len(writing) == 1

    two.kill(0)  # kill -9 while the part is being written
    assert await two.processes[0].wait() == -9

    await tg.wait_until(lambda: with_choices(tg, group["id"]), seconds=30)
    shown = story_messages(tg, group["id"])
    assert [m["message_id"] for m in shown] == [started]  # the same message, finished once
    # The fake numbers parts by the replies it wrote: the rewrite is its second.
    assert shown[0]["text"].startswith("Part 2. Mara the wanderer")
    assert "The narrator is writing" not in shown[0]["text"]
    assert len(fake_ollama.chat_requests("segment")) == 2  # written again, once
    states = query(database, "SELECT state FROM segments ORDER BY id")
    assert states == [("superseded",), ("open",)]
    for _ in range(20):
        pace.release()  # the dead process's stream may end now


async def test_a_vote_whose_timer_died_with_its_process_is_closed_by_the_other(
    two: Fleet, tg: SharedTelegram, database: str
) -> None:
    group = tg.group_chat(-3005)
    message = await start_group_story(tg, group["id"])
    mid = message["message_id"]
    second = keyboard(message)[1][1]
    # The first vote opens the window: its timer runs in process 0, which receives it.
    assert await answer_of(tg, tg.to(0).press(group, tg.user(BOB, "Bob"), mid, second)) == (
        "Vote counted: Path 1.2"
    )

    two.kill(0)
    assert await two.processes[0].wait() == -9

    decided = await tg.wait_until(
        lambda: "The group chose" in tg.messages[(group["id"], mid)]["text"], seconds=30
    )
    assert decided
    await wait_part(tg, group["id"], 2)  # process 1 wrote the next part
    assert query(database, "SELECT chosen_index, decided_by FROM segments WHERE idx = 0") == [
        (1, "vote")
    ]
    assert "fleet sweep: 1 due votes claimed" in two.log(1)


async def test_a_stop_at_the_other_process_ends_the_writing_of_the_part(
    tmp_path: Path, tg: SharedTelegram, database: str, fake_ollama: FakeOllama
) -> None:
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(pace=pace))  # part 1, as process 0 writes it, comes slowly
    group = tg.group_chat(-3006)
    alice = tg.user(ALICE, "Alice")
    settings = {"DATABASE_URL": database, "OLLAMA_URL": fake_ollama.url, **FAST}
    async with fleet(tmp_path, tg, settings) as two:
        tg.to(0).send_text(group, alice, "/story@StoryCraftBot start")
        pace.release()
        await fake_ollama.wait_until(lambda: fake_ollama.chat_requests("segment"))

        tg.to(1).send_text(group, alice, "/stop@StoryCraftBot")

        async def writing_stopped() -> bool:
            return "no longer ours to write, writing stopped" in two.log(0)

        await eventually(writing_stopped, tries=1500)
        for _ in range(50):
            pace.release()  # what process 0 would have written comes now, to nobody
    # Both processes have ended: nothing wrote the part after the stop.
    assert query(database, "SELECT state FROM segments") == [("generating",)]
    assert query(database, "SELECT state FROM sessions") == [("stopped",)]
    assert not with_choices(tg, group["id"])
    assert "Traceback" not in two.log(0) + two.log(1)


async def test_the_per_guild_picture_cap_holds_across_both_processes(
    tmp_path: Path, tg: SharedTelegram, database: str, fake_ollama: FakeOllama
) -> None:
    comfy = FakeComfyUI()
    await comfy.start()
    comfy.hold = True  # the first picture stays on the GPU until released
    settings = {
        "DATABASE_URL": database,
        "OLLAMA_URL": fake_ollama.url,
        "COMFYUI_URLS": comfy.url,
        "COMFYUI_CHECKPOINT": "random-sd15.safetensors",
        "PICTURES_PER_GUILD": "1",
        **FAST,
    }
    try:
        async with fleet(tmp_path, tg, settings) as two:
            alice = tg.user(ALICE, "Alice")
            forum = {**tg.group_chat(-3004), "is_forum": True}  # one guild, two topics
            tg.to(0).send_text(forum, alice, "/story Dragons", topic=77)
            tg.to(1).send_text(forum, alice, "/story Pirates", topic=78)

            async def one_waits() -> bool:
                return any("waits: the fleet is at its caps" in two.log(n) for n in (0, 1))

            await eventually(one_waits, tries=1500)
            async with asyncio.timeout(15):
                await comfy.received.wait()  # the picture holding the slot reaches ComfyUI
            assert len(comfy.posted_prompts()) == 1  # the other process's picture waits
            assert query(database, "SELECT count(*) FROM fleet_slots WHERE pool = 'picture'") == [
                (1,)
            ]

            comfy.release()
            photos = await tg.wait_until(
                lambda: len([m for m in tg.bot_messages(forum["id"]) if "photo" in m]) == 2,
                seconds=30,
            )
            assert photos
            assert len(comfy.posted_prompts()) == 2
            await eventually(lambda: _no_slots(database))
    finally:
        await comfy.stop()


async def _no_slots(database: str) -> bool:
    return query(database, PICTURE_SLOTS) == [(0,)]


async def test_the_narrator_capacity_holds_across_both_processes(
    tmp_path: Path, tg: SharedTelegram, database: str, fake_ollama: FakeOllama
) -> None:
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(pace=pace))  # the first story's part holds the narrator
    alice, bob = tg.user(ALICE, "Alice"), tg.user(BOB, "Bob")
    settings = {
        "DATABASE_URL": database,
        "OLLAMA_URL": fake_ollama.url,
        "OLLAMA_PARALLEL": "1",  # one request at a time, for both processes together
        **FAST,
    }
    async with fleet(tmp_path, tg, settings) as two:
        tg.to(0).send_text(tg.group_chat(-3007), alice, "/story@StoryCraftBot start")
        await fake_ollama.wait_until(lambda: fake_ollama.chat_requests("segment"))
        tg.to(1).send_text(tg.group_chat(-3008), bob, "/story@StoryCraftBot start")

        async def second_waits() -> bool:
            return "waits: the fleet is at its caps" in two.log(1)

        await eventually(second_waits, tries=1500)
        assert len(fake_ollama.chat_requests("segment")) == 1  # process 1 waits its turn

        for _ in range(50):
            pace.release()
        # Both parts shown (the fake numbers parts in the order it wrote them).
        await tg.wait_until(lambda: with_choices(tg, -3007) and with_choices(tg, -3008), seconds=30)
        assert len(fake_ollama.chat_requests("segment")) == 2
