"""The web bench's other processes: the fake Ollama, the fake Telegram and the browsers,
each in a child process so the CPU the bench reads (`time.process_time()`) is the bot's.

Each runs in a spawned process and talks to the bench over a pipe: it sends its URL (or
"ready"), waits for "stop", then sends what it counted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from tests.fake_ollama import FakeOllama, Reply, _kind
from tests.fake_telegram import FakeTelegram

CHUNK_DELAY = 0.02  # seconds between 16-character chunks: a part streams for about 1.5 s
NARRATION = "The wind drove the leaves across the empty square and into the dark. " * 17


def segment_reply(choices: int = 3) -> str:
    """A part as the fake Ollama streams it, 16 characters a chunk."""
    value = {
        "narration": NARRATION,
        "choices": [f"Path {i + 1}" for i in range(choices)],
        "scene": "a square at night",
    }
    return json.dumps(value)


class _Paced(deque[Reply]):
    """The fake Ollama's script: every reply streamed at a model's pace."""

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        return Reply(chunk_delay=CHUNK_DELAY)


class _LongOllama(FakeOllama):
    """Parts of about 1,200 characters, so a part streams in many chunks."""

    def _default_content(self, body: dict[str, Any]) -> str:
        if _kind(body) != "segment":
            return super()._default_content(body)
        return segment_reply(body["format"]["properties"]["choices"].get("minItems", 3))


async def _until_stop(pipe: Connection) -> None:
    await asyncio.to_thread(pipe.recv)


def serve_ollama(pipe: Connection) -> None:
    async def main() -> None:
        server = _LongOllama(script=_Paced())
        pipe.send(await server.start())
        await _until_stop(pipe)
        await server.stop()

    asyncio.run(main())


def serve_telegram(pipe: Connection, chats: list[int]) -> None:
    """The fake Bot API; each chat has had a user's message first (the fake needs one)."""

    async def main() -> None:
        server = FakeTelegram()
        await server.start()
        for chat_id in chats:
            user = server.user(chat_id, f"u{chat_id}")
            chat = server.private_chat(user) if chat_id > 0 else server.group_chat(chat_id)
            server.send_text(chat, user, "hello")
        pipe.send(server.url)
        await _until_stop(pipe)
        calls = len(server.requests)
        await server.stop()
        pipe.send(calls)

    asyncio.run(main())


def browsers(pipe: Connection, url: str, stories: list[str], per_story: int) -> None:
    """`per_story` sockets on each story; counts their frames, bytes and frame gaps."""

    async def main() -> None:
        frames = 0
        size = 0
        gaps: list[float] = []
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            sockets = [
                await http.ws_connect(f"{url}/s/{story}/ws", origin=url)
                for story in stories
                for _ in range(per_story)
            ]

            async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
                nonlocal frames, size
                await ws.receive()  # the page as it stands: not a streamed frame
                last: float | None = None
                async for message in ws:
                    frames += 1
                    size += len(message.data.encode())
                    now = time.monotonic()
                    if last is not None:
                        gaps.append(now - last)
                    last = now

            readers = [asyncio.create_task(read(ws)) for ws in sockets]
            pipe.send("ready")
            await _until_stop(pipe)
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers)
        gaps.sort()
        pipe.send(
            {
                "sockets": len(sockets),
                "frames": frames,
                "bytes": size,
                "gap_p5": gaps[len(gaps) // 20] if gaps else 0.0,
            }
        )

    asyncio.run(main())
