"""Drafts written in advance with two real `bot.py` processes on one real PostgreSQL
(tests/fleet_rig.py): one process at a time drafts an open part. A process starting
beside one that is drafting (its start-up plans drafts for every open part) leaves them
to it, so each choice is drafted once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fake_ollama import FakeOllama, Reply
from tests.fleet_rig import SharedTelegram, fleet
from tests.postgres_server import PostgresServer
from tests.test_fleet import FAST, query, wait_part
from tests.test_telegram import eventually

ALICE = 621


@pytest.fixture
async def tg() -> AsyncIterator[SharedTelegram]:
    server = SharedTelegram()
    await server.start()
    yield server
    await server.stop()


async def test_a_process_starting_beside_one_drafting_a_part_leaves_the_drafts_to_it(
    tmp_path: Path, tg: SharedTelegram, postgres_server: PostgresServer, fake_ollama: FakeOllama
) -> None:
    database = postgres_server.fresh_url()
    settings = {
        "DATABASE_URL": database,
        "OLLAMA_URL": fake_ollama.url,
        "PREWRITE": "all",
        "OLLAMA_PARALLEL": "4",  # room for drafts beside live text
        **FAST,
    }
    pace = asyncio.Semaphore(0)
    fake_ollama.then(Reply(), Reply(pace=pace))  # part 1 at once; its first draft slowly
    alice = tg.user(ALICE, "Alice")
    async with fleet(tmp_path, tg, settings, count=1) as first:
        tg.to(0).send_text(tg.private_chat(alice), alice, "/story start")
        await wait_part(tg, ALICE, 1)
        await fake_ollama.wait_until(lambda: len(fake_ollama.chat_requests("segment")) == 2)

        async with fleet(tmp_path, tg, settings, count=1, first=1) as second:

            async def left_to_the_other() -> bool:
                return "is being written by another process" in second.log(0)

            await eventually(left_to_the_other, tries=1500)
            for _ in range(50):
                pace.release()

            async def three_drafts() -> bool:
                return query(database, "SELECT count(*) FROM drafts") == [(3,)]

            await eventually(three_drafts, tries=1500)
            # Part 1 and one draft per choice, all by the first process: none twice.
            assert len(fake_ollama.chat_requests("segment")) == 4
            assert "draft for choice" not in second.log(0)
            assert query(database, "SELECT count(*) FROM fleet_claims WHERE kind = 'draft'") == [
                (0,)
            ]
        assert "Traceback" not in first.log(0) + second.log(0)
