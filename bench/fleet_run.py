"""Turns per second with one and with two bot processes on one PostgreSQL.

The parent starts a throwaway PostgreSQL (tests/postgres_server.py), then runs worker
processes (`python -m bench.fleet_run worker ...`), each an engine with its own stories
and its own fake Ollama over the shared database; each prints its turns and wall span.
Compared: one process without cross-process coordination (asyncio locks only, as SQLite
runs), one process with it (advisory locks, leases, the sweep), and two processes with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

import httpx

from bench.engine_run import Counter, play
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.coordination import Coordination, LocalCoordination
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import ChannelKey, Language, Place, Platform
from storycraft_bot.core.ports import NullIllustrator
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.storage.fleet import PostgresCoordination
from storycraft_bot.storage.postgres import PostgresStore
from tests.fake_ollama import FakeOllama
from tests.postgres_server import PostgresServer, PostgresUnavailable

STORIES = 20  # per process
TURNS = 10  # per story
REPEATS = 3


async def worker(url: str, name: str, coordinated: bool) -> dict[str, float]:
    """One process's stories on its own fake Ollama (so processes scale with cores, as
    bots with their own GPU servers would): turns, first start and last end."""
    fake = FakeOllama()
    ollama_url = await fake.start()
    async with (
        # As many parallel requests as stories: the fake Ollama is not what is measured.
        open_pool(
            [ollama_url], SystemClock(), parallel=STORIES, timeouts=httpx.Timeout(5.0, read=60.0)
        ) as pool,
        PostgresStore(url, pool_size=10) as store,
        PostgresCoordination(url, name, lock_connections=10) as shared,
    ):
        coordination: Coordination = shared if coordinated else LocalCoordination()
        gateway = OllamaGateway(pool, OllamaConfig(model="llama3.1:8b"))
        view = Counter()
        engine = StoryEngine(
            store,
            OllamaNarrator(gateway),
            ModelPromptWriter(gateway, "qwen2.5:3b"),
            NullIllustrator(),
            view,
            SystemClock(),
            EngineConfig(language=Language.EN, narration_interval=0.5),
            random.Random(1),
            coordination=coordination,
        )
        await engine.resume()  # starts the sweep when coordinated
        places = [
            Place(ChannelKey(Platform.CONSOLE, f"{name}-{n}"), name, False) for n in range(STORIES)
        ]
        started = time.time()
        turns = await play(engine, view, places, TURNS)
        ended = time.time()
        await engine.shutdown()
    await fake.stop()
    return {"turns": turns, "started": started, "ended": ended}


async def _fleet(server: PostgresServer, processes: int, *, coordinated: bool) -> float:
    """Turns per second of `processes` workers on a fresh database."""
    url = server.fresh_url()
    flag = "1" if coordinated else "0"
    module = ("-m", "bench.fleet_run", "worker")
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, *module, url, f"p{n}", flag, stdout=asyncio.subprocess.PIPE
        )
        for n in range(processes)
    ]
    reports = []
    for process in workers:
        out, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a fleet worker failed with exit code {process.returncode}")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    span = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    return float(sum(r["turns"] for r in reports) / span)


async def run_fleet() -> None:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as err:
        server.stop()
        print(f"fleet: skipped, no PostgreSQL to run it on ({err})")
        return
    try:
        # The best of three each: the machine is shared, a slow run says little.
        alone = max([await _fleet(server, 1, coordinated=False) for _ in range(REPEATS)])
        one = max([await _fleet(server, 1, coordinated=True) for _ in range(REPEATS)])
        two = max([await _fleet(server, 2, coordinated=True) for _ in range(REPEATS)])
    finally:
        server.stop()
    overhead = (1 / one - 1 / alone) * 1000
    print(
        f"fleet: {STORIES} stories x {TURNS} turns a process on PostgreSQL: one process "
        f"{alone:.0f} turns/s with asyncio locks, {one:.0f} turns/s coordinated "
        f"({overhead:+.2f} ms a turn for advisory locks and leases); two coordinated "
        f"processes {two:.0f} turns/s together ({two / one:.2f}x one; each process runs its "
        f"own fake Ollama, on a machine of {os.cpu_count()} cores)"
    )


def bench_fleet() -> None:
    asyncio.run(run_fleet())


if __name__ == "__main__":
    _, _, url, name, coordinated = sys.argv
    report = asyncio.run(worker(url, name, coordinated == "1"))
    print(json.dumps(report))
