"""Several Ollama servers: each request goes to the least busy healthy one.

Each server runs `parallel` requests at once (Ollama's OLLAMA_NUM_PARALLEL); the bot's
narrator queue (core/narrator_queue.py) never lets more than `capacity()` run, so the
HTTP connection pools, sized from the same figure, never make a request wait.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httpx
import ollama
from httpx_aiohttp import AiohttpTransport
from pydantic_core import to_json

from storycraft_bot.core.clock import Clock, SystemClock
from storycraft_bot.core.errors import NarratorUnavailable

log = logging.getLogger(__name__)


class ServerDown(NarratorUnavailable):
    """A server refused the connection: another one may take the request at once."""


@dataclass(eq=False)
class OllamaServer:
    """One server's clients and what the pool knows of it."""

    client: ollama.AsyncClient
    http: httpx.AsyncClient  # for /api/version, which the official client does not wrap
    stream: aiohttp.ClientSession  # the story stream's own client (see open_pool)
    name: str = "ollama"
    busy: int = 0
    down_until: float = 0.0
    failures: int = 0

    @property
    def chat_url(self) -> str:
        return self.name.rstrip("/") + "/api/chat"


class OllamaPool:
    """Picks servers; one that stops answering is skipped, then tried again later."""

    def __init__(
        self,
        servers: Sequence[OllamaServer],
        clock: Clock | None = None,
        *,
        parallel: int = 1,
        recheck_seconds: float = 30.0,
    ) -> None:
        if not servers:
            raise ValueError("at least one Ollama server is needed")
        self._servers = list(servers)
        self._clock = clock or SystemClock()
        self._parallel = parallel
        self._recheck = recheck_seconds

    @property
    def servers(self) -> tuple[OllamaServer, ...]:
        return tuple(self._servers)

    def healthy(self) -> list[OllamaServer]:
        """Servers not marked down (or whose time out is over), least busy first."""
        now = self._clock.now()
        ready = [s for s in self._servers if s.down_until <= now]
        return sorted(ready, key=lambda s: s.busy)  # stable: the listed order breaks ties

    def capacity(self) -> int:
        """Requests that may run at once: `parallel` per healthy server (at least one
        server's worth, so a request still reaches a server that may be back)."""
        return self._parallel * max(1, len(self.healthy()))

    def acquire(self) -> OllamaServer:
        """The least busy healthy server, else the one that went down first; now busy."""
        ready = self.healthy()
        server = ready[0] if ready else min(self._servers, key=lambda s: s.down_until)
        server.busy += 1
        return server

    def release(self, server: OllamaServer) -> None:
        server.busy = max(0, server.busy - 1)

    def mark_down(self, server: OllamaServer, reason: str) -> None:
        server.failures += 1
        server.down_until = self._clock.now() + self._recheck
        log.warning(
            "Ollama at %s is down (%s); trying it again in %.0fs",
            server.name,
            reason,
            self._recheck,
        )

    def mark_up(self, server: OllamaServer) -> None:
        if server.failures:
            log.info("Ollama at %s answers again", server.name)
        server.failures = 0
        server.down_until = 0.0


#: Connections each server's clients keep beyond its parallel requests: health checks,
#: /api/ps and unloads, which take no turn in the narrator queue.
SPARE_CONNECTIONS = 4


def connection_limits(parallel: int) -> httpx.Limits:
    """One server's pool: its parallel requests and a few spare, so it never waits."""
    size = parallel + SPARE_CONNECTIONS
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


@asynccontextmanager
async def open_pool(
    urls: Sequence[str],
    clock: Clock,
    *,
    parallel: int,
    timeouts: httpx.Timeout,
    recheck_seconds: float = 30.0,
) -> AsyncIterator[OllamaPool]:
    """Clients for every server, their pools sized from `parallel`; closed on exit."""
    limits = connection_limits(parallel)
    async with AsyncExitStack() as stack:
        servers = []
        for url in urls:
            # aiohttp under httpx: ~18 µs of CPU per streamed line against ~120 µs on httpx's
            # own transport (bench/transport.py). A transport ignores the client's limits,
            # so it gets them itself.
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url, timeout=timeouts, transport=AiohttpTransport(limits=limits)
                )
            )
            client = ollama.AsyncClient(
                host=url, timeout=timeouts, transport=AiohttpTransport(limits=limits)
            )
            stack.push_async_callback(client.close)
            stream = await stack.enter_async_context(stream_session(parallel, timeouts))
            servers.append(OllamaServer(client, http, stream, url))
        yield OllamaPool(servers, clock, parallel=parallel, recheck_seconds=recheck_seconds)


def stream_session(parallel: int, timeouts: httpx.Timeout) -> aiohttp.ClientSession:
    """The client of one server's streamed replies: aiohttp itself, without httpx between
    (a third less CPU per streamed line than httpx over aiohttp), its pool sized like the
    others. Waiting for a pooled connection never happens, so only connecting is timed:
    the gateway's watchdog times every token (FIRST_TOKEN_TIMEOUT, TOKEN_TIMEOUT), and a
    read timeout of aiohttp's own would be re-armed on every chunk for nothing."""
    size = parallel + SPARE_CONNECTIONS
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=size, limit_per_host=size),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=None),
        # A request carries the story so far: pydantic-core's encoder, a fraction of
        # json.dumps' CPU for it, straight to the bytes sent.
        json_serialize_bytes=to_json,
    )
