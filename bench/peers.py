"""The fake Ollama and ComfyUI servers of `bench.load_run`, in a process of their own, so
the bot's CPU and memory measured there are its own.

    python -m bench.peers      serve with the load bench's latencies until Enter

Every reply is timed where a model server would time it: an Ollama request from its
arrival to its last byte (the model's own time, a wait for a free slot included), a
ComfyUI job from its start to its execution_success.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

from tests.fake_comfyui import FakeComfyUI, Job
from tests.fake_ollama import FakeOllama, Reply, _kind

TAG = re.compile(r"Part ([A-Za-z0-9-]+)\.")
# The request being answered: its kind and the segment tags it carries.
_ANSWERING: contextvars.ContextVar[tuple[str, tuple[str, ...]]] = contextvars.ContextVar(
    "answering", default=("", ())
)


@dataclass(frozen=True)
class Latency:
    """How the fake servers behave."""

    ollama_servers: int = 2
    parallel: int = 256  # slots a server, as OLLAMA_NUM_PARALLEL
    first_token: float = 0.3
    tokens_per_second: float = 40.0
    comfyui_servers: int = 2
    picture_steps: int = 20
    step_delay: float = 0.05  # 20 steps: 1 s a picture


class _Endless(deque[Reply]):
    """A script that never runs out: every request gets the same paced reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self._reply = reply

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        return self._reply


class TimedOllama(FakeOllama):
    """One token a line at a set rate, after a set first-token delay, in limited slots;
    each segment reply tagged `Part <server>-<n>.` so the bot side can find its timing."""

    def __init__(self, name: str, latency: Latency) -> None:
        super().__init__()
        self.name = name
        self.script = _Endless(
            Reply(
                first_token_delay=latency.first_token,
                chunk_delay=1 / latency.tokens_per_second,
                chunk_size=4,  # one token (the fake counts 4 characters a token)
            )
        )
        self.timings: list[tuple[str, tuple[str, ...], float, float]] = []
        self._slots = asyncio.Semaphore(latency.parallel)

    async def _answer(self, request: web.Request, field_name: str) -> web.StreamResponse:
        arrived = time.monotonic()
        _ANSWERING.set(("", ()))
        async with self._slots:
            response = await super()._answer(request, field_name)
        kind, tags = _ANSWERING.get()
        self.timings.append((kind, tags, arrived, time.monotonic()))
        return response

    def _default_content(self, body: dict[str, Any]) -> str:
        content = super()._default_content(body)
        kind = _kind(body)
        if kind == "segment":
            own = f"{self.name}-{self.segments_written}"
            content = content.replace(f"Part {self.segments_written}.", f"Part {own}.", 1)
            _ANSWERING.set((kind, (own,)))
        else:
            _ANSWERING.set((kind, tuple(TAG.findall(str(body.get("messages", ""))))))
        self.requests.clear()  # nobody reads them here; keep the process small
        return content


class TimedComfyUI(FakeComfyUI):
    """Notes each job's start and end, and the end of each picture by its seed."""

    def __init__(self, latency: Latency) -> None:
        super().__init__(step_delay=latency.step_delay)
        self.gaps: list[tuple[float, float]] = []  # (previous job's end, this job's start)
        self.ended: dict[int, float] = {}
        self._last_end: float | None = None

    async def _execute(self, job: Job) -> None:
        started = time.monotonic()
        if self._last_end is not None:
            self.gaps.append((self._last_end, started))
        try:
            await super()._execute(job)
        finally:
            self._last_end = time.monotonic()
            self.ended[_seed(job.prompt)] = self._last_end
            self.requests.clear()


def _seed(prompt: dict[str, Any]) -> int:
    return next(
        (int(n["inputs"].get("seed", 0)) for n in prompt.values() if n["class_type"] == "KSampler"),
        0,
    )


@dataclass
class Peers:
    """The running servers and what they timed."""

    latency: Latency
    ollamas: list[TimedOllama] = field(default_factory=list)
    comfyuis: list[TimedComfyUI] = field(default_factory=list)

    async def start(self) -> dict[str, list[str]]:
        self.ollamas = [
            TimedOllama(f"S{n}", self.latency) for n in range(self.latency.ollama_servers)
        ]
        self.comfyuis = [TimedComfyUI(self.latency) for _ in range(self.latency.comfyui_servers)]
        for ollama in self.ollamas:
            await ollama.start()
        for comfyui in self.comfyuis:
            await comfyui.start()
        return {"ollama": [s.url for s in self.ollamas], "comfyui": [s.url for s in self.comfyuis]}

    async def stop(self) -> None:
        for ollama in self.ollamas:
            await ollama.stop()
        for comfyui in self.comfyuis:
            await comfyui.stop()

    def figures(self) -> dict[str, Any]:
        return {
            "ollama": [t for s in self.ollamas for t in s.timings],
            "gaps": [g for s in self.comfyuis for g in s.gaps],
            "ended": {k: v for s in self.comfyuis for k, v in s.ended.items()},
            "cpu": time.process_time(),
        }


def serve(connection: Connection, latency: Latency) -> None:
    """Child process: send the URLs, then the figures when asked, then stop."""

    async def main() -> None:
        peers = Peers(latency)
        connection.send(await peers.start())
        await asyncio.to_thread(connection.recv)
        connection.send(peers.figures())
        await peers.stop()

    asyncio.run(main())


async def _serve_until_enter() -> None:
    peers = Peers(Latency())
    print(await peers.start(), flush=True)
    await asyncio.to_thread(input)
    await peers.stop()


if __name__ == "__main__":
    asyncio.run(_serve_until_enter())
