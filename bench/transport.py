"""CPU per streamed NDJSON line for the ways the bot can read Ollama's stream.

The fake server runs in its own process, so the CPU measured here (this process's
`time.process_time()`) is the client's alone: transport, JSON, and the ollama client's
pydantic models where it is used. Every pool is sized for the streams at once.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from multiprocessing.synchronize import Event

import aiohttp
import httpx
import ollama
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from storycraft_bot.core.clock import SystemClock
from storycraft_bot.narration.ollama_gateway import OllamaConfig, OllamaGateway
from storycraft_bot.narration.ollama_pool import open_pool

LINES = 100  # per reply
MESSAGES = [{"role": "user", "content": "go"}]


def _serve(port: int, ready: Event) -> None:
    line = (
        json.dumps(
            {
                "model": "m",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": "word "},
                "done": False,
            }
        ).encode()
        + b"\n"
    )
    last = (
        json.dumps(
            {
                "model": "m",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
            }
        ).encode()
        + b"\n"
    )

    whole = json.dumps(
        {
            "model": "m",
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "word " * LINES},
            "done": True,
            "done_reason": "stop",
        }
    ).encode()

    async def chat(request: web.Request) -> web.StreamResponse:
        if (await request.json()).get("stream") is False:  # an image prompt, a memory
            return web.Response(body=whole, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for _ in range(LINES):
            await response.write(line)
            await asyncio.sleep(0.002)  # one line a chunk, as tokens arrive
        await response.write(last)
        await response.write_eof()
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/api/chat", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


Reader = Callable[[], Awaitable[int]]


Maker = Callable[[str], tuple[Reader, Callable[[], Awaitable[None]]]]


async def _measure(streams: int, make: Maker, url: str) -> float:
    """µs of CPU per line read (a reader returns its lines; a whole reply counts as 1)."""
    read, close = make(url)
    await asyncio.gather(*(read() for _ in range(min(streams, 20))))  # warm the pool
    started = time.process_time()
    lines = sum(await asyncio.gather(*(read() for _ in range(streams))))
    cpu = time.process_time() - started
    await close()
    return cpu / lines * 1e6


def official(transport: bool) -> Maker:
    def make(url: str) -> tuple[Reader, Callable[[], Awaitable[None]]]:
        limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
        extra = {"transport": AiohttpTransport(limits=limits)} if transport else {}
        client = ollama.AsyncClient(host=url, timeout=60, limits=limits, **extra)

        async def read() -> int:
            count = 0
            async for _ in await client.chat(model="m", messages=MESSAGES, stream=True):
                count += 1
            return count

        async def close() -> None:
            await client.close()  # type: ignore[no-untyped-call]  # ollama leaves it untyped

        return read, close

    return make


def official_whole(url: str) -> tuple[Reader, Callable[[], Awaitable[None]]]:
    """An image prompt's one JSON reply through the official client, on the transport the
    pool gave it before (httpx-aiohttp)."""
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
    client = ollama.AsyncClient(host=url, timeout=60, transport=AiohttpTransport(limits=limits))

    async def read() -> int:
        await client.chat(model="m", messages=MESSAGES, stream=False)
        return 1

    async def close() -> None:
        await client.close()  # type: ignore[no-untyped-call]  # ollama leaves it untyped

    return read, close


def bare(url: str) -> tuple[Reader, Callable[[], Awaitable[None]]]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=600))

    async def read() -> int:
        count = 0
        async with session.post(f"{url}/api/chat", json={"model": "m", "messages": MESSAGES}) as r:
            async for line in r.content:
                json.loads(line)
                count += 1
        return count

    return read, session.close


def gateway(url: str, *, streamed: bool = True) -> tuple[Reader, Callable[[], Awaitable[None]]]:
    """The bot's own reader: the gateway with its watchdog, on the pool bot.py opens;
    `streamed=False`: a reply nobody watches (image prompts, memories), read whole."""
    clock = SystemClock()
    stack = AsyncExitStack()
    opened: list[OllamaGateway] = []

    opening = asyncio.Lock()  # the warm-up's first reads start together: one pool

    async def read() -> int:
        async with opening:
            if not opened:
                pool = await stack.enter_async_context(
                    open_pool([url], clock, parallel=600, timeouts=httpx.Timeout(60.0))
                )
                opened.append(OllamaGateway(pool, OllamaConfig(model="m"), clock=clock))

        async def on_content(text: str) -> None:
            pass

        if not streamed:
            await opened[0].chat(MESSAGES)
            return 1
        await opened[0].chat(MESSAGES, on_content=on_content)
        return LINES + 1

    return read, stack.aclose


def bench_transport(streams: int = 200) -> None:
    """µs of CPU per NDJSON line for each client at `streams` streams at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready = multiprocessing.get_context("spawn").Event()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, ready))
    server.start()
    ready.wait(20)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, float] = {}
    try:
        for name, make in (
            ("ollama client, httpx default transport", official(False)),
            ("ollama client, httpx-aiohttp transport", official(True)),
            ("bare aiohttp NDJSON reader", bare),
            ("the bot's gateway (its reader and watchdog; target <= 50)", gateway),
        ):
            figures[name] = min(asyncio.run(_measure(streams, make, url)) for _ in range(2))
            print(f"transport: {name}: {figures[name]:.0f} µs CPU per line at {streams} streams")
        for name, make in (
            ("ollama client, httpx-aiohttp transport", official_whole),
            ("the bot's gateway (aiohttp, as the stream)", partial(gateway, streamed=False)),
        ):
            cost = min(asyncio.run(_measure(streams, make, url)) for _ in range(2))
            print(f"transport: a whole reply (image prompt), {name}: {cost:.0f} µs CPU a request")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    bench_transport()
