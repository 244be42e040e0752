"""The GPU kept busy: real illustrators and GPU queue on two fake ComfyUI servers."""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from storycraft_bot.core.clock import SystemClock
from storycraft_bot.core.models import (
    ChannelKey,
    ImagePrompt,
    ImageSource,
    Language,
    Picture,
    PictureFailure,
    PictureJob,
    Place,
    Platform,
    SubmittedPrompt,
)
from storycraft_bot.pictures.comfy_pool import ServerPool
from storycraft_bot.pictures.comfyui import ComfyClient
from storycraft_bot.pictures.gpu_queue import GpuQueue
from storycraft_bot.pictures.illustrator import JOBS_PER_SERVER, ComfyIllustrator
from tests.conftest import sd15_workflow
from tests.fake_comfyui import FakeComfyUI, Job


class TimedComfyUI(FakeComfyUI):
    """Notes when each prompt starts and ends, and how long the GPU sat idle with work
    waiting (in its own queue or, seen from here, about to be submitted)."""

    def __init__(self) -> None:
        super().__init__(step_delay=0.02)  # 20 steps: about 0.4 s a picture
        self.ended: dict[str, float] = {}
        self.idle: list[float] = []
        self._last_end: float | None = None
        self.backlog = True  # the bench keeps pictures waiting

    async def _execute(self, job: Job) -> None:
        now = time.perf_counter()
        if self._last_end is not None and self.backlog:
            self.idle.append(now - self._last_end)
        try:
            await super()._execute(job)
        finally:
            self._last_end = time.perf_counter()
            self.ended[job.prompt_id] = self._last_end


class Ready:
    def __init__(self, servers: list[TimedComfyUI]) -> None:
        self.after_success: list[float] = []
        self.count = 0
        self.done = asyncio.Event()
        self._servers = servers

    async def picture_submitted(self, job: PictureJob, prompt: SubmittedPrompt) -> None:
        return None

    async def picture_queued(self, job: PictureJob, ahead: int) -> None:
        return None

    async def picture_progress(self, job: PictureJob, percent: int) -> None:
        return None

    async def picture_ready(self, job: PictureJob, picture: Picture) -> None:
        for server in self._servers:
            if picture.prompt_id in server.ended:
                self.after_success.append(time.perf_counter() - server.ended[picture.prompt_id])
        self.count += 1
        self.done.set()

    async def picture_failed(self, job: PictureJob, failure: PictureFailure, reason: str) -> None:
        raise RuntimeError(reason)

    async def picture_dropped(self, job: PictureJob) -> None:
        return None


def _p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def run_pictures(pictures: int) -> tuple[list[float], list[float]]:
    """`pictures` pictures from as many guilds, all at once: idle gaps and ready delays (s)."""
    servers = [TimedComfyUI(), TimedComfyUI()]
    for server in servers:
        await server.start()
    try:
        clock = SystemClock()
        with tempfile.TemporaryDirectory() as folder:
            async with httpx.AsyncClient() as http:
                clients = [ComfyClient(s.url, http, clock) for s in servers]
                queue = GpuQueue(per_guild=1, total=JOBS_PER_SERVER * len(clients), clock=clock)
                illustrator = ComfyIllustrator(
                    ServerPool(clients, clock),
                    queue,
                    sd15_workflow(steps=20),
                    Path(folder),
                    clock,
                    rng=random.Random(1),
                )
                await illustrator.check_servers()
                ready = Ready(servers)
                for n in range(pictures):
                    place = Place(ChannelKey(Platform.DISCORD, str(n)), f"g{n}", True)
                    prompt = ImagePrompt(f"scene {n}", "blurry", ImageSource.RULE)
                    job = PictureJob(n, n, place, prompt, "sd15", False, language=Language.EN)
                    await illustrator.enqueue(job, ready)
                while ready.count < pictures:
                    ready.done.clear()
                    await ready.done.wait()
                await illustrator.close()
        idle = [gap for s in servers for gap in s.idle]
        return idle, ready.after_success
    finally:
        for server in servers:
            await server.stop()


def bench_gpu() -> None:
    """ComfyUI idle between jobs while pictures wait, and picture ready after it finished."""
    pictures = 40
    idle, after = asyncio.run(run_pictures(pictures))
    print(
        f"gpu: {pictures} pictures on 2 fake ComfyUI servers (0.4 s each), a backlog: "
        f"ComfyUI idle between jobs p50 {_p(idle, 50) * 1000:.1f} ms, "
        f"p99 {_p(idle, 99) * 1000:.1f} ms (target p99 <= 5 ms); picture ready after "
        f"execution_success p50 {_p(after, 50) * 1000:.1f} ms, p99 {_p(after, 99) * 1000:.1f} ms"
    )
