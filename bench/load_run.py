"""Many live channels through the real engine, built as bot.py builds it, with image
prompts and pictures on: fake Ollama and ComfyUI servers (bench.peers) in a process of
their own, the bot in another, one process pair a scenario, so each scenario's CPU and
peak RSS are the bot's alone.

A turn's overhead is press -> SegmentFinished minus the model's own time for that turn
as the fake timed it (arrival to last byte of the segment request and of a memory
refresh the turn waited for); waiting for narrator capacity counts as overhead.
"""

from __future__ import annotations

import asyncio
import bisect
import multiprocessing
import random
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.peers import TAG, Latency, serve
from storycraft_bot import event_loop
from storycraft_bot.core import events as ev
from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.engine import EngineConfig, StoryEngine
from storycraft_bot.core.models import Actor, ChannelKey, Language, PictureJob, Place, Platform
from storycraft_bot.core.narrator_queue import FairNarratorQueue
from storycraft_bot.core.ports import PictureReporter
from storycraft_bot.narration.image_prompts import ModelPromptWriter
from storycraft_bot.narration.narrator import OllamaNarrator
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import JOBS_PER_SERVER, ComfyIllustrator
from storycraft_bot.storage.sqlite import Store
from tests.conftest import sd15_workflow


@dataclass(frozen=True)
class Scenario:
    channels: int
    busy: bool  # busy: a press 0.5-1.5 s after each segment; paced: one every 8-15 s
    seconds: float  # how long presses go on

    @property
    def name(self) -> str:
        return f"{self.channels} {'busy' if self.busy else 'paced'}"

    def pause(self, rng: random.Random) -> float:
        return rng.uniform(0.5, 1.5) if self.busy else rng.uniform(8.0, 15.0)


EDIT_INTERVAL = 1.0  # Settings.edit_interval_seconds' default, which bot.py passes on

SCENARIOS = (
    Scenario(10, busy=True, seconds=20),
    Scenario(200, busy=True, seconds=30),
    Scenario(500, busy=True, seconds=30),
    Scenario(1000, busy=False, seconds=40),
)


@dataclass
class Watcher:
    """The counting StoryView: when each channel's segments finish, what failed, pictures."""

    finished: dict[int, asyncio.Queue[tuple[float, ev.SegmentFinished]]] = field(
        default_factory=lambda: defaultdict(asyncio.Queue)
    )
    segments: int = 0
    failed: int = 0
    tags: dict[str, int] = field(default_factory=dict)  # segment tag -> session
    pictures_done: list[float] = field(default_factory=list)
    ready: list[tuple[float, int]] = field(default_factory=list)  # (when, seed)
    pictures_failed: int = 0

    async def show(self, event: ev.StoryEvent) -> None:
        now = time.monotonic()
        if isinstance(event, ev.SegmentFinished):
            self.segments += 1
            for tag in TAG.findall(event.segment.narration):
                self.tags[tag] = event.session_id
            self.finished[event.session_id].put_nowait((now, event))
        elif isinstance(event, ev.SegmentFailed):
            self.failed += 1
        elif isinstance(event, ev.PictureReady):
            self.pictures_done.append(now)
            self.ready.append((now, int(Path(event.path).stem.rpartition("-")[2])))
        elif isinstance(event, ev.PictureFailed | ev.PictureDropped):
            self.pictures_done.append(now)
            self.pictures_failed += isinstance(event, ev.PictureFailed)


class TimedIllustrator(ComfyIllustrator):
    """Notes when each picture is asked for (to tell when pictures were waiting)."""

    enqueued: list[float]

    async def enqueue(self, job: PictureJob, reporter: PictureReporter) -> None:
        self.enqueued.append(time.monotonic())
        await super().enqueue(job, reporter)


@dataclass
class Turn:
    session: int
    pressed: float
    finished: float
    tag: str


async def _channel(
    engine: StoryEngine,
    watcher: Watcher,
    place: Place,
    scenario: Scenario,
    until: float,
    rng: random.Random,
    turns: list[Turn],
) -> None:
    player = Actor(place.key.channel_id, "P")
    session = await engine.start(place, player)
    queue = watcher.finished[session.id]
    pressed: float | None = None
    last_press = time.monotonic()
    while True:
        finished, event = await queue.get()
        if pressed is not None:
            tags = TAG.findall(event.segment.narration)
            turns.append(Turn(session.id, pressed, finished, tags[0] if tags else ""))
        due = (finished if scenario.busy else last_press) + scenario.pause(rng)
        if due >= until:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        pressed = last_press = time.monotonic()
        await engine.press(place, player, event.segment.id, 0)


async def run_scenario(scenario: Scenario, urls: dict[str, list[str]]) -> dict[str, Any]:
    """Drive the channels; the bot-side figures (the peers' are joined in by the caller)."""
    clock = SystemClock()
    latency = Latency()
    timeouts = httpx.Timeout(5.0, read=60.0)
    watcher = Watcher()
    turns: list[Turn] = []
    with tempfile.TemporaryDirectory() as folder:
        async with (
            open_pool(urls["ollama"], clock, parallel=latency.parallel, timeouts=timeouts) as pool,
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as comfy_http,
            Store(Path(folder) / "bench.db") as store,
        ):
            gateway = OllamaGateway(pool, OllamaConfig(model="llama3.1:8b"), clock=clock)
            clients = [ComfyClient(url, comfy_http, clock) for url in urls["comfyui"]]
            illustrator = TimedIllustrator(
                ServerPool(clients, clock),
                # Positions published at most once an edit interval, as bot.py builds it.
                GpuQueue(
                    per_guild=1,
                    total=JOBS_PER_SERVER * len(clients),
                    clock=clock,
                    report_interval=EDIT_INTERVAL,
                ),
                sd15_workflow(steps=latency.picture_steps),
                Path(folder) / "pictures",
                clock,
            )
            illustrator.enqueued = []
            await illustrator.check_servers()
            narration = FairNarratorQueue(pool.capacity, clock)
            engine = StoryEngine(
                store,
                OllamaNarrator(gateway),
                ModelPromptWriter(gateway, "qwen2.5:3b"),
                illustrator,
                watcher,
                clock,
                EngineConfig(language=Language.EN),
                random.Random(1),
                narration=narration,
            )
            event_loop.settle()  # as bot.py does once started
            rng = random.Random(scenario.channels)
            cpu = time.process_time()
            until = time.monotonic() + scenario.seconds
            channels = [
                _channel(
                    engine,
                    watcher,
                    Place(ChannelKey(Platform.DISCORD, str(n)), f"g{n}", False),
                    scenario,
                    until,
                    rng,
                    turns,
                )
                for n in range(scenario.channels)
            ]
            try:
                # A stalled story shows as a timeout: the last turns get 30 s to finish.
                async with asyncio.timeout(scenario.seconds + 30):
                    await asyncio.gather(*channels)
                stalled = 0
            except TimeoutError:
                stalled = scenario.channels  # reported as "not all finished"
            cpu = time.process_time() - cpu
            segments = watcher.segments
            await engine.shutdown()  # as bot.py closes them: the engine, then the pictures
            await illustrator.close()
    return {
        "turns": turns,
        "watcher": watcher,
        "segments": segments,
        "stalled": stalled,
        "cpu": cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "narrator_waits": narration.figures,
        "enqueued": illustrator.enqueued,
        "servers": len(clients),
    }


def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _overheads(turns: list[Turn], watcher: Watcher, timings: list[Any]) -> list[float]:
    segment_time: dict[str, float] = {}
    memory: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for kind, tags, arrived, ended in timings:
        if kind == "segment" and tags:
            segment_time[tags[0]] = ended - arrived
        elif kind == "memory":
            sessions = {watcher.tags[t] for t in tags if t in watcher.tags}
            for session in sessions:
                memory[session].append((arrived, ended))
    overheads = []
    for turn in turns:
        if turn.tag not in segment_time:
            continue
        model = segment_time[turn.tag] + sum(
            end - start
            for start, end in memory[turn.session]
            if turn.pressed <= start and end <= turn.finished
        )
        overheads.append(turn.finished - turn.pressed - model)
    return overheads


def _idle_with_backlog(
    gaps: list[tuple[float, float]], enqueued: list[float], done: list[float], servers: int
) -> list[float]:
    """Gaps that began while more pictures were asked for than the servers were drawing."""
    enqueued, done = sorted(enqueued), sorted(done)
    return [
        start - end
        for end, start in gaps
        if bisect.bisect_right(enqueued, end) - bisect.bisect_right(done, end) > servers
    ]


def report(scenario: Scenario, bot: dict[str, Any], peers: dict[str, Any]) -> None:
    watcher: Watcher = bot["watcher"]
    overheads = [o * 1000 for o in _overheads(bot["turns"], watcher, peers["ollama"])]
    idle = [
        g * 1000
        for g in _idle_with_backlog(
            peers["gaps"], bot["enqueued"], watcher.pictures_done, bot["servers"]
        )
    ]
    after = [
        (when - peers["ended"][seed]) * 1000
        for when, seed in watcher.ready
        if seed in peers["ended"]
    ]
    waits = bot["narrator_waits"]
    segments = bot["segments"]
    overhead_target = {
        200: "p50 <= 15, p99 <= 60",
        500: "p99 <= 100",
    }.get(scenario.channels, "-")
    rss_target = " (target <= 150)" if scenario.channels >= 1000 else ""
    not_finished = " NOT ALL TURNS FINISHED IN TIME" if bot["stalled"] else ""
    print(
        f"load: {scenario.name} channels, {scenario.seconds:.0f} s: {segments} segments, "
        f"{len(overheads)} turns timed, failed {watcher.failed} (target 0){not_finished}\n"
        f"load:   bot overhead per turn p50 {_p(overheads, 50):.1f} ms, "
        f"p99 {_p(overheads, 99):.1f} ms (target {overhead_target})\n"
        f"load:   waited for narrator capacity: {waits.waited} requests, "
        f"{waits.total_seconds:.1f} s in all, longest {waits.longest_seconds * 1000:.0f} ms\n"
        f"load:   ComfyUI idle between jobs with pictures waiting ({len(idle)} gaps) "
        f"p50 {_p(idle, 50):.1f} ms, p99 {_p(idle, 99):.1f} ms (target p99 <= 5); "
        f"picture ready after execution_success ({len(after)} pictures) "
        f"p50 {_p(after, 50):.1f} ms, p99 {_p(after, 99):.1f} ms; "
        f"{watcher.pictures_failed} pictures failed\n"
        f"load:   bot CPU {bot['cpu'] / max(segments, 1) * 1000:.1f} ms per segment "
        f"(pictures and image prompts included), peak RSS {bot['rss_mb']:.0f} MB{rss_target}; "
        f"the fake servers' own process used {peers['cpu']:.0f} s of CPU",
        flush=True,
    )


def _bot(scenario: Scenario) -> None:
    """Child process: the bot side of one scenario, with the peers in a process of its own."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    peers = context.Process(target=serve, args=(theirs, Latency()))
    peers.start()
    try:
        urls = ours.recv()
        bot = event_loop.run(run_scenario(scenario, urls))  # on the loop bot.py runs
        ours.send("figures")
        report(scenario, bot, ours.recv())
    finally:
        peers.join(30)
        if peers.is_alive():
            peers.terminate()


def bench_load() -> None:
    """Each scenario in a fresh bot process beside a fresh peers process."""
    latency = Latency()
    print(
        f"load: fake Ollama x{latency.ollama_servers} ({latency.parallel} slots each, "
        f"first token {latency.first_token} s, {latency.tokens_per_second:.0f} tokens/s, "
        f"one token a line), fake ComfyUI x{latency.comfyui_servers} "
        f"({latency.picture_steps * latency.step_delay:.0f} s a picture), in a process of "
        "their own: CPU and RSS below are the bot's",
        flush=True,
    )
    context = multiprocessing.get_context("spawn")
    for scenario in SCENARIOS:
        bot = context.Process(target=_bot, args=(scenario,))
        bot.start()
        bot.join()


if __name__ == "__main__":
    bench_load()
