"""Speed and memory of StoryCraft's hot paths, printed as figures.

    python -m bench            all of them
    python -m bench parsing    one by name

Each figure is the best of a few repeats on this machine; compare runs on the same machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.transport import bench_transport
from storycraft_bot.core.models import (
    Actor,
    ChannelKey,
    Language,
    Place,
    Platform,
    SegmentDraft,
    StorySettings,
)
from storycraft_bot.narration.reply_parsing import parse_reply, partial_narration
from storycraft_bot.pictures.gpu_queue import GpuQueue, JobKind
from storycraft_bot.storage.sqlite import Store


def best_of(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def bench_parsing() -> None:
    """The narrator re-parses the growing JSON on every streamed chunk."""
    narration = "The wind drove the leaves across the empty square. " * 70  # ~3,600 characters
    reply = json.dumps(
        {"narration": narration, "choices": ["Go on", "Wait", "Run"], "scene": "a square"}
    )
    chunks = [reply[: n + 16] for n in range(0, len(reply), 16)]

    def run() -> float:
        started = time.perf_counter()
        for chunk in chunks:
            partial_narration(chunk)
        parse_reply(reply, "model")
        return time.perf_counter() - started

    seconds = best_of(5, run)
    print(
        f"parsing: a {len(reply):,}-character reply in {len(chunks)} chunks takes "
        f"{seconds * 1000:.1f} ms to follow ({seconds / len(chunks) * 1e6:.2f} µs a chunk)"
    )


def bench_queue() -> None:
    """Dispatch and position look-ups with many guilds waiting."""

    async def scenario(guilds: int, per_guild: int) -> tuple[float, float]:
        queue = GpuQueue(per_guild=1, total=4)
        tickets = [
            queue.join(JobKind.PICTURE, f"g{g}", g * 1000 + n, f"{g}-{n}")
            for g in range(guilds)
            for n in range(per_guild)
        ]
        started = time.perf_counter()
        for ticket in tickets:
            queue.ahead(ticket)
        positions = time.perf_counter() - started
        started = time.perf_counter()
        while queue.running:
            queue.done(queue.running[0])
        drained = time.perf_counter() - started
        return positions, drained

    for guilds in (10, 100, 1000):
        positions, drained = min(asyncio.run(scenario(guilds, 5)) for _ in range(3))
        jobs = guilds * 5
        print(
            f"queue: {jobs} waiting pictures from {guilds} guilds: every position in "
            f"{positions * 1000:.1f} ms, all served in {drained * 1000:.1f} ms "
            f"({drained / jobs * 1e6:.1f} µs a change; target: flat as the queue grows)"
        )


async def _votes(path: Path, voters: int) -> float:
    async with Store(path) as store:
        place = Place(ChannelKey(Platform.DISCORD, "1"), "g", True)
        session = await store.create_session(
            place, Actor("s", "S"), Language.EN, "fantasy", "", StorySettings(), 0.0
        )
        segment = await store.add_segment(session.id, 0, "", 0.0)
        segment = await store.finish_segment(
            segment.id, SegmentDraft("n", ("a", "b", "c"), ""), 0.0
        )
        started = time.perf_counter()
        for n in range(voters):
            await store.cast_vote(segment.id, Actor(f"u{n}", "U"), n % 3, 1.0)
            await store.tally(segment)
        return time.perf_counter() - started


def bench_votes() -> None:
    """Each vote is a committed write plus a tally read on a real SQLite file (WAL)."""
    with tempfile.TemporaryDirectory() as folder:
        seconds = best_of(
            3, lambda: asyncio.run(_votes(Path(folder) / f"{random.random()}.db", 300))
        )
    print(
        f"votes: {300 / seconds:,.0f} votes/s with a live tally "
        f"({seconds / 300 * 1000:.2f} ms each)"
    )


def bench_gpu() -> None:
    """ComfyUI never waits on the bot: idle gaps between jobs with a backlog."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.gpu_run import bench_gpu as run  # needs the test fakes (dev install)

    run()


def bench_engine() -> None:
    """Whole segments through the engine on the fake Ollama: our overhead, and memory."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.engine_run import run_stories  # needs the test fakes (dev install)

    for stories in (1, 50):
        tracemalloc.start()
        seconds, segments = asyncio.run(run_stories(stories, segments_each=3))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"engine: {stories} stories x 3 segments, {segments} segments in {seconds:.2f} s "
            f"({segments / seconds:,.0f} segments/s), peak {peak / 1024 / 1024:.1f} MiB traced"
        )


def bench_prewrite() -> None:
    """Instant turns: press -> next part and -> picture, prewriting off and on."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.prewrite_run import bench_prewrite as run  # needs the test fakes (dev install)

    run()


def bench_web() -> None:
    """The web adapter: a 30-part page, frames per part, the bot's CPU against Telegram."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.web_run import bench_web as run  # needs the test fakes (dev install)

    run()


def bench_load() -> None:
    """Many live channels on the whole bot: failures, overhead per turn, GPU idle, CPU, RSS."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.load_run import bench_load as run  # needs the test fakes (dev install)

    run()


def bench_fleet() -> None:
    """Turns per second with one and two processes on one PostgreSQL (needs its binaries)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.fleet_run import bench_fleet as run  # needs the test fakes (dev install)

    run()


BENCHES: dict[str, Callable[[], None] | Callable[[], Awaitable[None]]] = {
    "parsing": bench_parsing,
    "queue": bench_queue,
    "votes": bench_votes,
    "engine": bench_engine,
    "transport": bench_transport,
    "gpu": bench_gpu,
    "prewrite": bench_prewrite,
    "web": bench_web,
    "load": bench_load,
    "fleet": bench_fleet,
}


def main(names: list[str]) -> None:
    for name in names or list(BENCHES):
        BENCHES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
